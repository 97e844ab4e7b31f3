"""step() on the states that need no I/O: Pass, Choice, Wait, Fail, Succeed, ExpressionEval; chaining, logs,
limits, purity and invalid events."""

from __future__ import annotations

import datetime as dt

import pytest

from openflows.language.errors import InvalidDefinition
from openflows.language.model import (
    ActionStatus,
    Cursor,
    Enter,
    Failed,
    Limits,
    Start,
    Succeeded,
    TimerFired,
    WaitUntil,
    isoformat,
)
from openflows.language.run_state import run_state_size
from openflows.language.states import Pass, parse_definition
from openflows.language.step import UnexpectedEvent, step

from .conftest import CONTEXT, T0, checked_step, drive, flow

# -- Pass ----------------------------------------------------------------------------------------------------


def test_bare_pass_leaves_the_state_unchanged() -> None:
    result = drive(flow({"P": {"Type": "Pass", "End": True}}), {"a": 1})
    assert result.output == {"a": 1}
    assert result.codes == ["FlowStarted", "PassStarted", "PassCompleted", "FlowSucceeded"]


def test_pass_result_replaces_the_state_without_result_path() -> None:
    result = drive(flow({"P": {"Type": "Pass", "Result": {"x": 1}, "End": True}}), {"a": 1})
    assert result.output == {"x": 1}


def test_pass_result_at_result_path() -> None:
    definition = flow({"P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r.deep", "End": True}})
    assert drive(definition, {"a": 1}).output == {"a": 1, "r": {"deep": {"x": 1}}}


def test_pass_input_path_and_result_path_copy_data() -> None:
    definition = flow({"P": {"Type": "Pass", "InputPath": "$.a.b", "ResultPath": "$.c", "End": True}})
    assert drive(definition, {"a": {"b": [1, 2]}}).output == {"a": {"b": [1, 2]}, "c": [1, 2]}


def test_pass_parameters_evaluate_against_the_input_path_value() -> None:
    definition = flow(
        {
            "P": {
                "Type": "Pass",
                "InputPath": "$.inner",
                "Parameters": {"got.$": "$.v", "const": 1, "run.$": "$._context.run_id"},
                "ResultPath": "$.out",
                "End": True,
            }
        }
    )
    result = drive(definition, {"inner": {"v": "x"}, "v": "outer"})
    assert result.output == {"inner": {"v": "x"}, "v": "outer", "out": {"got": "x", "const": 1, "run": "r-1"}}


def test_pass_result_wins_over_parameters() -> None:
    definition = flow({"P": {"Type": "Pass", "Result": {"r": 1}, "Parameters": {"p": 2}, "End": True}})
    assert drive(definition, {}).output == {"r": 1}


def test_pass_missing_parameter_path_fails_with_states_runtime() -> None:
    definition = flow({"P": {"Type": "Pass", "Parameters": {"y.$": "$.x"}, "End": True}})
    result = drive(definition, {})
    assert result.error == "States.Runtime"
    assert "$.x" in result.cause
    assert result.codes[-1] == "FlowFailed"
    assert result.log[-1].details == {"error": "States.Runtime", "cause": result.cause, "state_name": "P"}


def test_pass_missing_input_path_fails() -> None:
    result = drive(flow({"P": {"Type": "Pass", "InputPath": "$.nope", "End": True}}), {})
    assert result.error == "States.Runtime"
    assert "'$.nope'" in result.cause and "InputPath" in result.cause


def test_result_path_through_a_non_object_is_result_path_match_failure() -> None:
    definition = flow({"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}})
    result = drive(definition, {"a": "string"})
    assert result.error == "States.ResultPathMatchFailure"


def test_result_constant_is_not_shared_between_runs() -> None:
    parsed = parse_definition(flow({"P": {"Type": "Pass", "Result": {"list": [1]}, "End": True}}))
    first = drive(parsed, {}).output
    first["list"].append(2)
    assert drive(parsed, {}).output == {"list": [1]}
    state = parsed.states["P"]
    assert isinstance(state, Pass) and state.result == {"list": [1]}


# -- ExpressionEval ------------------------------------------------------------------------------------------


def test_expression_eval_writes_at_result_path() -> None:
    definition = flow(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"sum.=": "a + 1", "name.$": "$.who", "k": "v"},
                "ResultPath": "$.out",
                "End": True,
            }
        }
    )
    result = drive(definition, {"a": 41, "who": "me"})
    assert result.output == {"a": 41, "who": "me", "out": {"sum": 42, "name": "me", "k": "v"}}
    assert result.codes == [
        "FlowStarted",
        "ExpressionEvalStarted",
        "ExpressionEvalCompleted",
        "FlowSucceeded",
    ]


def test_expression_error_fails_the_run() -> None:
    definition = flow(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"x.=": "undefined_name + 1"},
                "ResultPath": "$.o",
                "End": True,
            }
        }
    )
    result = drive(definition, {})
    assert result.error == "States.Runtime"
    assert "undefined_name" in str(result.cause)


def test_loop_with_expression_eval_and_choice() -> None:
    definition = flow(
        {
            "Init": {"Type": "Pass", "Result": {"i": 0}, "ResultPath": "$.loop", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.loop.i", "NumericLessThan": 5, "Next": "Inc"}],
                "Default": "Done",
            },
            "Inc": {
                "Type": "ExpressionEval",
                "Parameters": {"i.=": "loop.i + 1"},
                "ResultPath": "$.loop",
                "Next": "Check",
            },
            "Done": {"Type": "Succeed"},
        }
    )
    result = drive(definition, {})
    assert result.output == {"loop": {"i": 5}}
    assert result.decisions[-1].transitions == 1 + 6 + 5 + 1


# -- Choice --------------------------------------------------------------------------------------------------

CHOICE = flow(
    {
        "C": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Small"},
            ],
            "Default": "Other",
        },
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "End": True},
        "Other": {"Type": "Pass", "Result": "other", "End": True},
    }
)


@pytest.mark.parametrize(("n", "expected"), [(11, "big"), (5, "small"), (-1, "other"), ("x", "other")])
def test_choice_first_true_rule_wins(n: object, expected: str) -> None:
    assert drive(CHOICE, {"n": n}).output == expected


def test_choice_passes_the_state_through_and_logs() -> None:
    definition = flow(
        {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "S"}]},
            "S": {"Type": "Succeed"},
        }
    )
    result = drive(definition, {"a": 1})
    assert result.output == {"a": 1}
    assert result.codes == [
        "FlowStarted",
        "ChoiceStarted",
        "ChoiceCompleted",
        "SucceedStarted",
        "SucceedCompleted",
        "FlowSucceeded",
    ]


def test_choice_without_match_or_default_fails() -> None:
    definition = flow(
        {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "Next": "S"}]},
            "S": {"Type": "Succeed"},
        }
    )
    result = drive(definition, {"a": "y"})
    assert result.error == "States.NoChoiceMatched"
    assert result.outcome.state == "C"


def test_choice_missing_variable_fails_with_runtime() -> None:
    definition = flow(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "StringEquals": "x", "Next": "S"}],
                "Default": "S",
            },
            "S": {"Type": "Succeed"},
        }
    )
    assert drive(definition, {}).error == "States.Runtime"


# -- Wait ----------------------------------------------------------------------------------------------------


def _wait_flow(**fields: object) -> dict:
    return flow({"W": {"Type": "Wait", **fields, "Next": "S"}, "S": {"Type": "Pass", "End": True}})


def test_wait_seconds() -> None:
    parsed = parse_definition(_wait_flow(Seconds=30))
    decision = checked_step(parsed, Cursor(None), {"a": 1}, Start(), now=T0)
    assert decision.outcome == WaitUntil("W", T0 + dt.timedelta(seconds=30))
    assert decision.cursor == Cursor("W")
    assert [e.code for e in decision.log] == ["FlowStarted", "WaitStarted"]
    later = T0 + dt.timedelta(seconds=30)
    done = checked_step(parsed, decision.cursor, decision.run_state, TimerFired(), now=later)
    assert isinstance(done.outcome, Succeeded) and done.outcome.output == {"a": 1}
    assert [e.code for e in done.log] == ["WaitCompleted", "PassStarted", "PassCompleted", "FlowSucceeded"]
    assert {e.time for e in done.log} == {isoformat(later)}
    assert done.transitions == 1


def test_wait_seconds_zero_continues_in_the_same_step() -> None:
    result = drive(_wait_flow(Seconds=0), {"a": 1})
    assert len(result.decisions) == 1
    assert result.codes == [
        "FlowStarted",
        "WaitStarted",
        "WaitCompleted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]


def test_wait_timestamp_in_the_future_and_in_the_past() -> None:
    future = drive(_wait_flow(Timestamp="2026-01-02T00:00:00+01:00"), {})
    assert future.now == dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.UTC)
    past = drive(_wait_flow(Timestamp="2020-01-01T00:00:00Z"), {})
    assert len(past.decisions) == 1 and past.now == T0


def test_wait_seconds_path() -> None:
    result = drive(_wait_flow(SecondsPath="$.delay"), {"delay": 90})
    assert result.now == T0 + dt.timedelta(seconds=90)


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, None])
def test_wait_seconds_path_must_be_a_non_negative_integer(bad: object) -> None:
    result = drive(_wait_flow(SecondsPath="$.delay"), {"delay": bad})
    assert result.error == "States.Runtime"
    assert "SecondsPath" in result.cause


def test_wait_timestamp_path() -> None:
    result = drive(_wait_flow(TimestampPath="$.when"), {"when": "2026-01-01T12:05:00Z"})
    assert result.now == T0 + dt.timedelta(minutes=5)
    bad = drive(_wait_flow(TimestampPath="$.when"), {"when": "tomorrow"})
    assert bad.error == "States.Runtime" and "RFC 3339" in bad.cause
    missing = drive(_wait_flow(TimestampPath="$.when"), {})
    assert missing.error == "States.Runtime"


# -- Fail and Succeed ----------------------------------------------------------------------------------------


def test_fail_with_error_and_cause() -> None:
    result = drive(flow({"F": {"Type": "Fail", "Error": "MyError", "Cause": "it broke"}}), {})
    assert (result.error, result.cause) == ("MyError", "it broke")
    assert result.codes == ["FlowStarted", "FailStarted", "FlowFailed"]
    assert result.log[-1].details == {"error": "MyError", "cause": "it broke", "state_name": "F"}


def test_fail_with_paths() -> None:
    definition = flow({"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}})
    result = drive(definition, {"e": "E1", "c": {"why": "because"}})
    assert (result.error, result.cause) == ("E1", {"why": "because"})
    assert drive(definition, {"e": 1, "c": "x"}).error == "States.Runtime"


def test_fail_without_error_name() -> None:
    result = drive(flow({"F": {"Type": "Fail"}}), {})
    assert (result.error, result.cause) == ("States.Fail", None)


def test_succeed_state() -> None:
    assert drive(flow({"S": {"Type": "Succeed"}}), {"k": [1]}).output == {"k": [1]}


# -- chaining, logs, limits ----------------------------------------------------------------------------------


def _chain(n: int) -> dict:
    states = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(n)}
    states[f"P{n}"] = {"Type": "Pass", "End": True}
    return flow(states, "P0")


def test_chain_runs_in_one_step_up_to_the_cap() -> None:
    result = drive(_chain(9), {}, limits=Limits(max_chain=4))
    assert [d.transitions for d in result.decisions] == [4, 4, 2]
    yields = [d.outcome for d in result.decisions[:-1]]
    assert yields == [WaitUntil("P4", T0, retry=True), WaitUntil("P8", T0, retry=True)]
    started = [e.details["state_name"] for e in result.log if e.code == "PassStarted"]
    assert started == [f"P{i}" for i in range(10)]  # each state logged exactly once


def test_default_chain_is_one_step() -> None:
    result = drive(_chain(50), {})
    assert len(result.decisions) == 1 and result.decisions[0].transitions == 51


def test_log_details_and_time() -> None:
    definition = flow({"P": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": "$.out", "End": True}})
    result = drive(definition, {"a": 1})
    started, completed = result.log[1], result.log[2]
    assert started.description == "State P of type Pass started"
    assert started.details == {"state_name": "P", "state_type": "Pass", "input": {"a": 1}}
    assert completed.description == "State P of type Pass completed"
    assert completed.details == {"state_name": "P", "state_type": "Pass", "output": {"a": 1, "out": {"r": 1}}}
    assert result.log[0].details == {"input": {"a": 1}}
    assert result.log[0].description == "The Flow Instance started execution"
    assert result.log[-1].details == {"output": {"a": 1, "out": {"r": 1}}}
    assert result.log[-1].description == "The Flow Instance completed successfully"
    assert {e.time for e in result.log} == {"2026-01-01T12:00:00+00:00"}


def test_private_keys_are_redacted_in_logs_but_kept_in_the_run_state() -> None:
    definition = flow(
        {"P": {"Type": "Pass", "Parameters": {"pw.$": "$._private.pw"}, "ResultPath": "$.x", "End": True}}
    )
    run_input = {"_private": {"pw": "secret"}, "a": 1}
    result = drive(definition, run_input)
    assert result.output == {"_private": {"pw": "secret"}, "a": 1, "x": {"pw": "secret"}}
    assert result.log[0].details == {"input": {"a": 1}}
    assert "secret" not in repr([e.details for e in result.log if e.code != "PassCompleted"][:2])
    assert "_private" not in repr([e.details for e in result.log])


def test_data_limit_exceeded_keeps_the_last_good_state() -> None:
    definition = flow(
        {
            "Small": {"Type": "Pass", "Result": "ok", "ResultPath": "$.small", "Next": "Big"},
            "Big": {"Type": "Pass", "Result": "x" * 2000, "ResultPath": "$.big", "End": True},
        }
    )
    result = drive(definition, {}, limits=Limits(max_run_state_bytes=1000))
    assert result.error == "States.DataLimitExceeded"
    assert result.run_state == {"small": "ok"}
    size = run_state_size({"small": "ok", "big": "x" * 2000})
    assert result.cause == f"The run state is {size:,} bytes, more than the limit of 1,000 bytes"
    assert result.outcome.state == "Big"


def test_data_limit_on_the_input() -> None:
    result = drive(_chain(1), {"x": "y" * 100}, limits=Limits(max_run_state_bytes=50))
    assert result.error == "States.DataLimitExceeded"
    assert result.codes == ["FlowStarted", "FlowFailed"]


def test_data_limit_is_not_catchable() -> None:
    definition = flow(
        {
            "A": {
                "Type": "Action",
                "ActionUrl": "https://ap.example.org",
                "ResultPath": "$.a",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S", "ResultPath": "$.e"}],
                "End": True,
            },
            "S": {"Type": "Succeed"},
        }
    )
    from .conftest import Provider, status_doc

    provider = Provider({"A": [status_doc("SUCCEEDED", details={"big": "z" * 3000})]})
    result = drive(definition, {}, provider=provider, limits=Limits(max_run_state_bytes=1000))
    assert result.error == "States.DataLimitExceeded"
    assert result.run_state == {}


def test_invalid_definition_is_rejected() -> None:
    with pytest.raises(InvalidDefinition) as info:
        parse_definition({"StartAt": "Nope", "States": {"P": {"Type": "Pass", "End": True}}})
    assert info.value.problems


# -- invalid events ------------------------------------------------------------------------------------------


def test_unexpected_events_raise() -> None:
    parsed = parse_definition(_wait_flow(Seconds=5))
    with pytest.raises(UnexpectedEvent):
        step(parsed, Cursor("S"), {}, TimerFired(), context=CONTEXT, now=T0)
    with pytest.raises(UnexpectedEvent):
        step(parsed, Cursor("W"), {}, ActionStatus({"status": "SUCCEEDED"}), context=CONTEXT, now=T0)
    with pytest.raises(UnexpectedEvent):
        step(parsed, Cursor(None), {}, Enter(), context=CONTEXT, now=T0)
    with pytest.raises(UnexpectedEvent):
        step(parsed, Cursor("Unknown"), {}, Enter(), context=CONTEXT, now=T0)


def test_enter_re_enters_the_cursor_state() -> None:
    parsed = parse_definition(_wait_flow(Seconds=5))
    decision = step(parsed, Cursor("S"), {"a": 1}, Enter(), context=CONTEXT, now=T0)
    assert isinstance(decision.outcome, Succeeded)
    assert [e.code for e in decision.log] == ["PassStarted", "PassCompleted", "FlowSucceeded"]


def test_naive_now_is_utc() -> None:
    parsed = parse_definition(_wait_flow(Seconds=5))
    decision = step(parsed, Cursor(None), {}, Start(), context=CONTEXT, now=T0.replace(tzinfo=None))
    assert decision.outcome == WaitUntil("W", T0 + dt.timedelta(seconds=5))


def test_failed_outcome_redacts_the_cause() -> None:
    definition = flow({"F": {"Type": "Fail", "Error": "E", "CausePath": "$.c"}})
    result = drive(definition, {"c": {"_private_token": "t", "msg": "m"}})
    assert isinstance(result.outcome, Failed)
    assert result.cause == {"msg": "m"}
