"""`language.storable`: finding, naming and escaping NUL characters and unpaired surrogates (issue 12), and
the one serialisation of a run state that measures its size and finds them."""

from __future__ import annotations

import json

import pytest

from openflows.language.run_state import measure_run_state, run_state_size
from openflows.language.storable import (
    Unstorable,
    bad_char,
    escape,
    find_unstorable,
    json_path,
    make_storable,
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("plain", None),
        ("é \U0001f600 \uffff \t\n", None),  # other control characters and astral characters are text
        ("\\u0000 and \\ud800", None),  # the escapes spelled out are text too
        ("a\x00b", "\x00"),
        ("a\ud800", "\ud800"),
        ("\udfff", "\udfff"),
        ("\ud83d\ude00", "\ud83d"),  # a pair in a Python str is two lone surrogates (JSON would join them)
    ],
)
def test_bad_char(text: str, found: str | None) -> None:
    assert bad_char(text) == found


def test_find_unstorable_names_the_first_location_in_document_order() -> None:
    doc = {"a": ["ok", {"b": "x\x00"}], "c": "\ud800"}
    assert find_unstorable(doc) == Unstorable(("a", 1, "b"), "\x00")
    assert find_unstorable({"ok": 1, "k\ud800y": 2}) == Unstorable(("k\\ud800y",), "\ud800", in_key=True)
    assert find_unstorable(["fine", 1, 2.5, None, True, {"n": [[]]}]) is None
    assert find_unstorable("\x00", ("body",)) == Unstorable(("body",), "\x00")


def test_find_unstorable_is_iterative() -> None:
    deep: object = "\x00"
    for _ in range(50_000):
        deep = [deep]
    found = find_unstorable(deep)
    assert found is not None and len(found.loc) == 50_000


def test_messages_name_the_place_and_escape_the_character() -> None:
    found = Unstorable(("out", 0, "a b", "k\\u0000"), "\x00", in_key=True)
    assert found.json_path == "$.out[0]['a b']['k\\u0000']"
    text = found.describe("The output of state A")
    assert text.startswith("The output of state A cannot be stored: the object key at $.out[0]")
    assert "a NUL character (U+0000)" in text and "\x00" not in text
    assert "an unpaired surrogate (U+DC80)" in Unstorable((), "\udc80").message()
    assert json_path(("it's",)) == "$['it\\'s']"


def test_escape_and_make_storable() -> None:
    assert escape("a\x00b\ud800") == "a\\u0000b\\ud800"
    clean = {"a": ["b"], "n": 1}
    assert make_storable(clean) is clean  # untouched documents are not copied
    assert make_storable({"k\x00": ["v\udc80", 1]}) == {"k\\u0000": ["v\\udc80", 1]}
    deep: object = "\x00"
    for _ in range(5000):
        deep = [deep]
    assert "nested too deeply" in make_storable(deep)


@pytest.mark.parametrize(
    ("state", "loc"),
    [
        ({"a": "fine", "n": 2**80}, None),  # orjson refuses big integers: measured by json.dumps, clean
        ({"a": "\\u0000 spelled out"}, None),  # its bytes hold `\\u0000`: walked, clean
        ({"a": ["x", "\x00"]}, ("a", 1)),
        ({"a": {"b": "\ud800"}}, ("a", "b")),
    ],
)
def test_measure_run_state(state: dict, loc: tuple | None) -> None:
    size, bad = measure_run_state(state)
    if loc is None:
        assert bad is None
        assert size == run_state_size(state) == len(json.dumps(state, separators=(",", ":")).encode())
    else:
        assert bad is not None and bad.loc == loc


# -- step() --------------------------------------------------------------------------------------------------


def test_step_refuses_run_input_that_cannot_be_stored() -> None:
    """The API refuses such input; a run started any other way fails at its first state, not in the store."""
    from .conftest import drive, flow

    result = drive(flow({"P": {"Type": "Pass", "End": True}}), {"a": ["\udcff"]})
    assert result.error == "States.Runtime"
    assert result.outcome.state == "P"
    assert result.cause.startswith("The run input cannot be stored: the string at $.a[0] holds an unpaired")
    assert result.codes == ["FlowStarted", "FlowFailed"]
    decision = result.decisions[-1]
    assert find_unstorable([decision.run_state, [entry.details for entry in decision.log]]) is None
    assert result.log[0].details["input"] == {"a": ["\\udcff"]}  # logged escaped


def test_step_retries_a_state_whose_output_cannot_be_stored_like_any_runtime_error() -> None:
    from .conftest import drive, flow

    definition = flow(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"v.=": "'a\\x00'"},
                "ResultPath": "$.r",
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "End": True,
            }
        }
    )
    result = drive(definition, {})
    assert result.error == "States.Runtime" and "$.r.v" in result.cause
    assert result.codes.count("ExpressionEvalRetrying") == 2
    retrying = [entry for entry in result.log if entry.code == "ExpressionEvalRetrying"]
    assert all("\x00" not in entry.details["cause"] for entry in retrying)
