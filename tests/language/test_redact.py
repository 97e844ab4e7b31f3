"""Tests for openflows.language.redact: hiding `_private*` and `_tokens` data and `__Private_Parameters`."""

from __future__ import annotations

import copy

from openflows.language.parameters import evaluate_parameters
from openflows.language.redact import (
    REDACTED,
    Redactor,
    redact,
    redact_definition,
    redact_evaluated_parameters,
    redact_with_private_parameters,
)


def test_redact_removes_private_keys_at_any_depth() -> None:
    doc = {
        "a": 1,
        "_private": {"password": "pw"},
        "_private_token": "t",
        "_privately": "also removed (prefix match)",
        "_context": {"run_id": "r"},
        "nested": {"_private": 1, "keep": [{"_private_x": 2, "y": 3}, [{"_private": 4}], "s"]},
        "private": "kept (no underscore)",
        "x_private": "kept (not a prefix)",
    }
    before = copy.deepcopy(doc)
    assert redact(doc) == {
        "a": 1,
        "_context": {"run_id": "r"},
        "nested": {"keep": [{"y": 3}, [{}], "s"]},
        "private": "kept (no underscore)",
        "x_private": "kept (not a prefix)",
    }
    assert doc == before


def test_tokens_are_private_too() -> None:
    """`_tokens` (bearer tokens for external providers, in run input) is hidden like `_private*`; only the
    exact key: it is no prefix."""
    doc = {
        "_tokens": {"User": "secret"},
        "input": {"_tokens": {"Role": "secret"}, "keep": 1},
        "items": [{"_tokens": "secret"}],
        "_tokens_note": "kept (not the key)",
        "tokens": "kept",
    }
    expected = {"input": {"keep": 1}, "items": [{}], "_tokens_note": "kept (not the key)", "tokens": "kept"}
    assert redact(doc) == expected
    assert Redactor()(doc) == expected
    assert "secret" not in repr(Redactor()(doc))


def test_redact_copies() -> None:
    doc = {"a": {"b": [1]}}
    out = redact(doc)
    assert out == doc and out["a"] is not doc["a"] and out["a"]["b"] is not doc["a"]["b"]
    assert redact("s") == "s" and redact(None) is None and redact([{"_private": 1}]) == [{}]


DEFINITION = {
    "StartAt": "Send",
    "States": {
        "Send": {
            "Type": "Action",
            "ActionUrl": "https://actions.example.org/send",
            "Parameters": {
                "to.$": "$.email",
                "password.$": "$._private.pw",
                "token.=": "'Bearer ' + tok",
                "api_key": "literal-secret",
                "subject": "Hello",
                "__Private_Parameters": ["password", "token", "api_key.$"],
                "options": {
                    "user": "u",
                    "secret": {"nested": "object"},
                    "__Private_Parameters": ["secret"],
                },
                "list": [{"k": "visible", "hidden": "h", "__Private_Parameters": ["hidden"]}],
            },
            "ResultPath": "$.SendResult",
            "Next": "Done",
        },
        "Done": {"Type": "Pass", "Parameters": {"x": 1}, "End": True},
    },
}


def test_redact_definition() -> None:
    before = copy.deepcopy(DEFINITION)
    out = redact_definition(DEFINITION)
    params = out["States"]["Send"]["Parameters"]
    assert params == {
        "to.$": "$.email",
        "password.$": REDACTED,
        "token.=": REDACTED,
        "api_key": REDACTED,
        "subject": "Hello",
        "__Private_Parameters": ["password", "token", "api_key.$"],
        "options": {"user": "u", "secret": REDACTED, "__Private_Parameters": ["secret"]},
        "list": [{"k": "visible", "hidden": REDACTED, "__Private_Parameters": ["hidden"]}],
    }
    assert out["States"]["Done"] == DEFINITION["States"]["Done"]
    assert out["States"]["Send"]["ResultPath"] == "$.SendResult"
    assert before == DEFINITION  # not mutated
    assert out["States"]["Done"] is not DEFINITION["States"]["Done"]


def test_redact_definition_without_private_parameters_is_an_equal_copy() -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "End": True}},
    }
    assert redact_definition(definition) == definition


def test_redact_with_private_parameters() -> None:
    doc = {"password": "pw", "token": "t", "user": "u", "api_key": "k"}
    assert redact_with_private_parameters(doc, ["password", "token.=", "api_key.$"]) == {
        "password": REDACTED,
        "token": REDACTED,
        "user": "u",
        "api_key": REDACTED,
    }
    assert doc["password"] == "pw"
    assert redact_with_private_parameters(doc, []) is doc
    assert redact_with_private_parameters(["x"], ["x"]) == ["x"]


def test_redact_evaluated_parameters_hides_the_action_input() -> None:
    template = DEFINITION["States"]["Send"]["Parameters"]
    state = {"email": "a@example.org", "_private": {"pw": "hunter2"}, "tok": "abc"}
    body = evaluate_parameters(template, state)
    assert body["password"] == "hunter2" and body["token"] == "Bearer abc"  # the AP gets the real values
    shown = redact_evaluated_parameters(body, template)
    assert shown == {
        "to": "a@example.org",
        "password": REDACTED,
        "token": REDACTED,
        "api_key": REDACTED,
        "subject": "Hello",
        "options": {"user": "u", "secret": REDACTED},
        "list": [{"k": "visible", "hidden": REDACTED}],
    }
    assert body["password"] == "hunter2"  # the evaluated body is not changed


def test_redact_evaluated_parameters_tolerates_mismatched_shapes() -> None:
    template = {"a": [{"x": 1, "__Private_Parameters": ["x"]}], "b.$": "$.b"}
    assert redact_evaluated_parameters({"a": "not a list", "b": {"x": 1}}, template) == {
        "a": "not a list",
        "b": {"x": 1},
    }
    assert redact_evaluated_parameters(5, template) == 5
    assert redact_evaluated_parameters({"a": [{"x": 1}, {"x": 2}]}, template) == {"a": [{"x": 1}, {"x": 2}]}


def test_redactor_agrees_with_redact_and_shares_what_it_does_not_change() -> None:
    clean = {"keep": [1, {"deep": "x"}], "n": None}
    dirty = {"a": 1, "clean": clean, "inner": {"_private_pw": "pw", "k": [{"_private": 1, "v": 2}]}}
    before = copy.deepcopy(dirty)
    redactor = Redactor()
    shown = redactor(dirty)
    assert shown == redact(dirty)
    assert dirty == before  # the original is untouched
    assert shown is not dirty and shown["inner"] is not dirty["inner"]
    assert shown["clean"] is clean  # nothing to hide: shared, not copied
    assert redactor(clean) is clean
    assert redactor(dirty) is shown  # remembered
    assert redactor(dirty["inner"]["k"]) is shown["inner"]["k"]  # a part of a document seen before
    assert redactor(5) == 5 and redactor("s") == "s"


def test_redactor_on_a_nested_document_peeled_level_by_level() -> None:
    """What a loop logs: each state's input is a part of the previous one."""
    node: dict = {"value": "end", "_private_secret": "s"}
    for _ in range(50):
        node = {"next": node}
    redactor = Redactor()
    level = node
    while "next" in level:
        assert redactor(level) == redact(level)
        level = level["next"]
    assert redactor(level) == {"value": "end"}
