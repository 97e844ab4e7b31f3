"""Tests for openflows.language.parameters: evaluating `Parameters` templates."""

from __future__ import annotations

import copy

import pytest

from openflows.language.errors import StatesError
from openflows.language.model import Limits, RunContext
from openflows.language.parameters import copy_json, evaluate_parameters, private_parameter_names

STATE = {
    "input": {"echo_string": "hi", "sleep_time": 2, "items": [{"p": "/a"}, {"p": "/b"}], "my-key": "h"},
    "source": {"id": "s-1", "path": "/~/src"},
    "n": None,
    "_private": {"token": "secret"},
}
CONTEXT = RunContext(flow_id="f-1", run_id="r-1", username="alice").as_dict()


def test_constants_references_and_expressions() -> None:
    template = {
        "echo_string.$": "$.input.echo_string",
        "sleep_time.$": "$.input.sleep_time",
        "path_only": True,
        "label.=": "'Run ' + _context.run_id",
        "count.=": "len(input['items'])",
        "nested": {"endpoint.$": "$.source.id", "deep": [{"p.$": "$.input.items[1].p"}, 3, "plain", None]},
        "all.$": "$.input.items[*].p",
        "hyphen.$": "$.input.my-key",
        "null.$": "$.n",
        "whole.$": "$",
        "run.$": "$._context.run_id",
        "secret.$": "$._private.token",
    }
    result = evaluate_parameters(template, STATE, context=CONTEXT)
    assert result == {
        "echo_string": "hi",
        "sleep_time": 2,
        "path_only": True,
        "label": "Run r-1",
        "count": 2,
        "nested": {"endpoint": "s-1", "deep": [{"p": "/b"}, 3, "plain", None]},
        "all": ["/a", "/b"],
        "hyphen": "h",
        "null": None,
        "whole": STATE,
        "run": "r-1",
        "secret": "secret",
    }


def test_private_parameters_list_is_dropped_at_any_level() -> None:
    template = {
        "user.$": "$.source.id",
        "password": "pw",
        "__Private_Parameters": ["password"],
        "inner": {"k": 1, "__Private_Parameters": ["k"]},
        "list": [{"a": 1, "__Private_Parameters": ["a"]}],
    }
    assert evaluate_parameters(template, STATE) == {
        "user": "s-1",
        "password": "pw",
        "inner": {"k": 1},
        "list": [{"a": 1}],
    }


def test_result_never_aliases_state_or_template() -> None:
    state = copy.deepcopy(STATE)
    template = {
        "items.$": "$.input.items",
        "const": {"list": [1]},
        "expr.=": "input",
        "all.$": "$.input.items[*]",
    }
    snapshot_state, snapshot_template = copy.deepcopy(state), copy.deepcopy(template)
    result = evaluate_parameters(template, state)
    assert result["items"] == state["input"]["items"] and result["items"] is not state["input"]["items"]
    assert result["items"][0] is not state["input"]["items"][0]
    assert result["all"][0] is not state["input"]["items"][0]
    assert (
        result["const"] is not template["const"] and result["const"]["list"] is not template["const"]["list"]
    )
    assert result["expr"] is not state["input"]
    result["items"][0]["p"] = "changed"
    result["const"]["list"].append(2)
    assert state == snapshot_state
    assert template == snapshot_template


def test_scalar_and_list_templates() -> None:
    assert evaluate_parameters("plain", STATE) == "plain"
    assert evaluate_parameters(5, STATE) == 5
    assert evaluate_parameters(None, STATE) is None
    assert evaluate_parameters([{"x.$": "$.source.path"}, 1], STATE) == [{"x": "/~/src"}, 1]


def test_non_object_state() -> None:
    # Pass with an InputPath can hand a list to Parameters: paths still work, expressions see no names
    assert evaluate_parameters({"first.$": "$[0]", "n.=": "1 + 1"}, [7, 8]) == {"first": 7, "n": 2}
    assert evaluate_parameters({"v.=": "`$[1]`"}, [7, 8]) == {"v": 8}


def test_later_key_wins_on_collision() -> None:
    assert evaluate_parameters({"a": 1, "a.$": "$.source.id"}, STATE) == {"a": "s-1"}
    assert evaluate_parameters({"a.$": "$.source.id", "a": 1}, STATE) == {"a": 1}


def test_missing_path_error_matches_the_hosted_service() -> None:
    with pytest.raises(StatesError) as info:
        evaluate_parameters({"outer": {"y.$": "$.x"}}, STATE)
    assert info.value.failure.error == "States.Runtime"
    assert (
        info.value.failure.cause
        == "The path '$.x' specified for the field 'y.$' could not be found in the state input."
    )


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        (
            {"y.$": "$.input.items[5]"},
            "The path '$.input.items[5]' specified for the field 'y.$' could not be found",
        ),
        ({"y.$": "$._context.nope"}, "could not be found in the state input"),
        (
            {"y.$": "input.echo_string"},
            "The value of the field 'y.$' must be a JSONPath string starting with '$'",
        ),
        ({"y.$": 5}, "must be a JSONPath string starting with '$', not 5"),
        ({"y.$": None}, "not None"),
        ({"y.$": "$.a..b"}, "is not a valid JSONPath"),
        ({"y.=": None}, "The value of the field 'y.=' must be an expression string, not None"),
        ({"y.=": 3}, "must be an expression string"),
        (
            {"y.=": "nope + 1"},
            "The expression 'nope + 1' specified for the field 'y.=' could not be evaluated",
        ),
        ({"y.=": "1 +"}, "could not be evaluated: invalid syntax"),
        ({"y.=": "1/0"}, "division by zero"),
        ({"y.=": "lambda: 1"}, "lambda is not allowed"),
        ({"deep": [{"z.=": "missing"}]}, "for the field 'z.='"),
    ],
)
def test_runtime_errors(template: dict, fragment: str) -> None:
    with pytest.raises(StatesError) as info:
        evaluate_parameters(template, STATE, context=CONTEXT)
    assert info.value.failure.error == "States.Runtime"
    assert fragment in info.value.failure.cause


def test_expression_message_names_the_field_and_expression() -> None:
    with pytest.raises(StatesError) as info:
        evaluate_parameters({"label.=": "input.nope"}, STATE)
    cause = info.value.failure.cause
    assert cause == (
        "The expression 'input.nope' specified for the field 'label.=' could not be evaluated: "
        "the object has no key 'nope'"
    )


def test_limits_are_passed_to_expressions() -> None:
    with pytest.raises(StatesError, match="the limit is 5"):
        evaluate_parameters({"a.=": "1 + 2 + 3"}, {}, limits=Limits(max_expression_length=5))


def test_private_parameter_names() -> None:
    assert private_parameter_names({"__Private_Parameters": ["a", "b.$", "c.=", 5]}) == {"a", "b", "c"}
    assert private_parameter_names({"a": 1}) == frozenset()
    assert private_parameter_names({"__Private_Parameters": "a"}) == frozenset()
    assert private_parameter_names(["a"]) == frozenset()


def test_copy_json() -> None:
    value = {"a": [1, {"b": (2, 3)}], "s": "x"}
    copied = copy_json(value)
    assert copied == value and copied is not value and copied["a"] is not value["a"]
    assert copy_json("x") == "x" and copy_json(None) is None

    class Odd(dict):
        pass

    odd = Odd(a=[1])
    copied = copy_json(odd)
    assert copied == {"a": [1]} and copied["a"] is not odd["a"]
