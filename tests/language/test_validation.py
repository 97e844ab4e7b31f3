"""`validate_definition` as a whole: valid flows, ordering, no cascades, strict mode, robustness."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openflows.language.model import Limits, Problem
from openflows.language.validation import validate_definition, validate_input_schema

PROBLEM_TYPES = {"missing", "extra_forbidden", "type_error", "value_error"}

#: a flow using every state type and most optional fields
FULL_FLOW: dict[str, Any] = {
    "Comment": "every state type",
    "StartAt": "Setup",
    "States": {
        "Setup": {"Type": "Pass", "Result": [1, 2], "ResultPath": "$.numbers", "Next": "Compute"},
        "Compute": {
            "Type": "ExpressionEval",
            "Parameters": {
                "total.=": "numbers[0] + numbers[1]",
                "who.$": "$._context.username",
                "nested": [{"copy.$": "$.numbers[0]"}, {"private": "x"}],
                "__Private_Parameters": ["private"],
            },
            "ResultPath": "$.computed",
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "BackoffRate": 1.5}],
            "Next": "Call",
        },
        "Call": {
            "Type": "Action",
            "Comment": "local provider over http",
            "ActionUrl": "http://localhost:8080/providers/echo",
            "ActionScope": "https://auth.example.org/scopes/echo",
            "RunAs": "Reviewer",
            "Parameters": {"message.$": "$.computed.total"},
            "ResultPath": "$.call",
            "WaitTime": 600,
            "ExceptionOnActionFailure": False,
            "Catch": [
                {"ErrorEquals": ["ActionTimeout"], "Next": "Pause"},
                {"ErrorEquals": ["States.All"], "ResultPath": "$.error", "Next": "Broken"},
            ],
            "Retry": [
                {
                    "ErrorEquals": ["ActionUnableToRun"],
                    "IntervalSeconds": 2,
                    "MaxDelaySeconds": 60,
                    "JitterStrategy": "FULL",
                }
            ],
            "Next": "Decide",
        },
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Decide"},
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.call.status", "StringEquals": "SUCCEEDED"},
                        {"Not": {"Variable": "$.computed.total", "NumericGreaterThanPath": "$.numbers[1]"}},
                        {"Variable": "$.when", "TimestampLessThan": "2030-01-01T00:00:00+01:00"},
                        {
                            "Or": [
                                {"Variable": "$.flag", "IsPresent": False},
                                {"Variable": "$.flag", "BooleanEquals": True},
                            ]
                        },
                    ],
                    "Next": "Done",
                },
                {"Variable": "$.name", "StringMatches": "log-*.txt", "Next": "WaitUntil"},
            ],
            "Default": "Broken",
        },
        "WaitUntil": {"Type": "Wait", "TimestampPath": "$.when", "Next": "Done"},
        "Broken": {"Type": "Fail", "Error": "Broken", "CausePath": "$.error.Cause"},
        "Done": {"Type": "Succeed", "Comment": "finished"},
    },
}


def test_full_flow_is_valid() -> None:
    assert validate_definition(FULL_FLOW) == []


def test_strict_mode_rejects_openflows_extensions() -> None:
    problems = validate_definition(FULL_FLOW, strict=True)
    locs = {p.loc for p in problems}
    assert ("States", "Compute", "Retry") in locs
    assert ("States", "Call", "Retry") in locs
    assert ("States", "Call", "ActionUrl") in locs  # http:// is for local providers only
    assert ("States", "Done", "Type") in locs  # Succeed


def test_globus_error_for_missing_transition_matches_the_hosted_service() -> None:
    definition = {"StartAt": "Step1", "States": {"Step1": {"Type": "Action", "ActionUrl": "https://x.org/a"}}}
    [problem] = validate_definition(definition)
    assert problem.as_dict(prefix=("definition",)) == {
        "loc": ["definition", "States", "Step1"],
        "msg": "A state of type 'Action' must be defined as either terminal (\"End\": true) or transitional "
        '("Next": "NextStateId")',
        "type": "value_error",
    }


def test_a_missing_state_is_one_problem_not_a_cascade() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Missing"},
            "B": {"Type": "Pass", "End": True},
        },
    }
    problems = validate_definition(definition)
    assert [p.loc for p in problems] == [("States", "A", "Next"), ("States", "B")]
    assert "not reachable" in problems[1].msg


def test_bad_start_at_does_not_make_every_state_unreachable() -> None:
    states = {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}
    problems = validate_definition({"StartAt": "Nope", "States": states})
    assert [p.loc for p in problems] == [("StartAt",)]
    assert validate_definition({"States": states}) == [
        Problem(("StartAt",), "A definition needs 'StartAt', the name of the first state", "missing")
    ]


def test_unknown_type_skips_field_checks_but_keeps_its_edges() -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Taks", "Next": "B", "Whatever": 1}, "B": {"Type": "Pass", "End": True}},
    }
    problems = validate_definition(definition)
    assert [p.loc for p in problems] == [("States", "A", "Type")]
    assert "did you mean 'Task'" not in problems[0].msg  # only real types are suggested


def test_problems_are_reported_all_and_sorted_by_location() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "B": {"Type": "Pass", "End": True, "Bad": 1},
            "A": {"Type": "Action", "ActionUrl": "ftp://x", "WaitTime": 0, "Next": "B", "Catch": 1},
        },
        "Extra": True,
    }
    problems = validate_definition(definition)
    locs = [p.loc for p in problems]
    assert locs == [
        ("Extra",),
        ("States", "A", "ActionUrl"),
        ("States", "A", "Catch"),
        ("States", "A", "WaitTime"),
        ("States", "B", "Bad"),
    ]
    reordered = {"Extra": True, "States": dict(reversed(definition["States"].items())), "StartAt": "A"}
    assert validate_definition(reordered) == problems


def test_limits_are_configurable() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    assert validate_definition(definition) == []
    [problem] = validate_definition(definition, limits=Limits(max_definition_bytes=10))
    assert problem.loc == () and "the limit is 10 bytes" in problem.msg


def test_too_deep_nesting_is_a_problem_not_a_crash() -> None:
    value: Any = "x"
    for _ in range(5000):
        value = [value]
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": value, "End": True}}}
    [problem] = validate_definition(definition)
    assert problem.loc == () and "nested more than" in problem.msg


def test_values_that_are_not_json_are_reported() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": float("nan"), "End": True}}}
    [problem] = validate_definition(definition)
    assert problem.type == "type_error" and "NaN" in problem.msg
    [problem] = validate_definition({"StartAt": "A", "States": {1: {"Type": "Pass", "End": True}}})
    assert "keys must be strings" in problem.msg


def test_long_expressions_are_limited_by_max_expression_length() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "ExpressionEval", "Parameters": {"x.=": "1 + 1"}, "ResultPath": "$.x", "End": True}
        },
    }
    assert validate_definition(definition) == []
    problems = validate_definition(definition, limits=Limits(max_expression_length=3))
    assert [p.loc for p in problems] == [("States", "A", "Parameters", "x.=")]


def test_a_thousand_states_validate_quickly() -> None:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(999)}
    states["S999"] = {"Type": "Pass", "End": True}
    assert validate_definition({"StartAt": "S0", "States": states}) == []
    states["S1000"] = {"Type": "Pass", "End": True}
    [problem] = validate_definition({"StartAt": "S0", "States": states})
    assert problem.loc == ("States",) and "1001 states" in problem.msg


def test_a_long_invalid_url_is_refused_quickly() -> None:
    """The URL check cannot backtrack (the previous `^https?://[^\\s/?#]+[^\\s]*$` took 1 s on 10,000
    characters with a space at the end, 17 s on 40,000)."""
    import time

    for url in ("http://" + "a" * 200_000 + " ", "https://" + "a" * 200_000 + "/x y"):
        definition = {"StartAt": "A", "States": {"A": {"Type": "Action", "ActionUrl": url, "End": True}}}
        start = time.perf_counter()
        problems = validate_definition(definition)
        elapsed = time.perf_counter() - start
        assert [p.loc for p in problems] == [("States", "A", "ActionUrl")]
        assert elapsed < 0.5, f"validating a {len(url)}-character URL took {elapsed:.3f}s"
    good = {"StartAt": "A", "States": {"A": {"Type": "Action", "ActionUrl": "https://h/p?q#f", "End": True}}}
    assert validate_definition(good) == []


def test_validate_input_schema_is_reexported() -> None:
    assert validate_input_schema({"type": "object"}) == []
    assert validate_input_schema([]) != []


# -- never raises ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
#: names and values that steer random documents towards the validator's interesting branches
keys = st.sampled_from(
    [
        "StartAt", "States", "Type", "Next", "End", "Choices", "Default", "Catch", "Retry", "ErrorEquals",
        "Parameters", "ResultPath", "InputPath", "Variable", "And", "Or", "Not", "StringEquals", "Seconds",
        "Timestamp", "ActionUrl", "Handler", "x.$", "y.=", "__Private_Parameters", "A", "B",
    ]
)  # fmt: skip
atoms = st.sampled_from(
    ["A", "B", "Action", "Pass", "Choice", "Wait", "Fail", "ExpressionEval", "Succeed", "$", "$.a", "$.a[*]",
     "$._context.x", "1 +", "a.b", "States.ALL", "2026-01-01T00:00:00Z", "https://x.org/a", True, 0, -1, 1.5]
)  # fmt: skip
steered = st.recursive(
    atoms | json_values,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)


def _check(value: Any) -> None:
    before = copy.deepcopy(value)
    problems = validate_definition(value)
    assert value == before
    assert all(isinstance(p, Problem) and p.type in PROBLEM_TYPES and p.msg for p in problems)
    json.dumps([p.as_dict() for p in problems])
    assert problems == validate_definition(value)  # deterministic


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_never_raises_on_random_json(value: Any) -> None:
    _check(value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steered)
def test_never_raises_on_flow_like_documents(value: Any) -> None:
    _check(value)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(_nodes(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_nodes(v, (*path, i)))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_never_raises_on_mutated_valid_flows(data: st.DataObject) -> None:
    definition = copy.deepcopy(FULL_FLOW)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _nodes(definition) if p]
        path = data.draw(st.sampled_from(paths))
        parent = definition
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(steered)
    _check(definition)


def test_a_misspelt_target_comes_before_the_state_it_leaves_unreachable() -> None:
    """Cause before consequence (issue 18): sorted by location alone, 'Check' came before 'Copy'."""
    definition = {
        "StartAt": "Copy",
        "States": {"Copy": {"Type": "Pass", "Next": "Chekc"}, "Check": {"Type": "Pass", "End": True}},
    }
    problems = validate_definition(definition)
    assert [p.loc for p in problems] == [("States", "Copy", "Next"), ("States", "Check")]
    assert problems[0].msg == "'Next' names a state 'Chekc' that does not exist; did you mean 'Check'?"
    assert problems[1].msg == (
        "State 'Check' is not reachable from StartAt "
        "(probably because States.Copy.Next names 'Chekc' instead of 'Check')"
    )


def test_unreachable_states_follow_every_other_problem() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "End": True},
            "B": {"Type": "Pass", "End": True},
            "Z": {"Type": "Wait", "Secondz": 1, "End": True},
        },
    }
    problems = validate_definition(definition)
    assert [p.loc for p in problems] == [
        ("States", "Z"),
        ("States", "Z", "Secondz"),
        ("States", "B"),
        ("States", "Z"),
    ]
    assert [("not reachable" in p.msg) for p in problems] == [False, False, True, True]
