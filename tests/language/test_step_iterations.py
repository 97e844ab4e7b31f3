"""`step()` with Map and Parallel (language/iterations.py): the StartIterations outcome, the gathered result,
failures, tolerance, Retry and Catch around the state, `$._context` inside iterations, the size cap."""

from __future__ import annotations

from typing import Any

import pytest

from openflows.language.iterations import (
    EXCEED_TOLERATED,
    ChildEnd,
    IterationsDone,
    StartIterations,
    iterations_done,
    tolerates,
)
from openflows.language.model import Cursor, Enter, Failure, Limits, Start, TimerFired
from openflows.language.states import parse_definition
from openflows.language.step import UnexpectedEvent

from .conftest import CONTEXT, T0, checked_step, drive


def sub(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"StartAt": states[0][0], "States": dict(states)}


ECHO = sub(("Echo", {"Type": "Pass", "End": True}))
DOUBLE = sub(
    ("Double", {"Type": "ExpressionEval", "Parameters": {"v.=": "x * 2"}, "ResultPath": "$.d", "End": True})
)
#: an item {"x": n} fails with error "Odd" when n is odd
ODD_FAILS = sub(
    (
        "Check",
        {
            "Type": "Choice",
            "Choices": [{"Variable": "$.odd", "BooleanEquals": True, "Next": "Bad"}],
            "Default": "Good",
        },
    ),
    ("Bad", {"Type": "Fail", "Error": "Odd", "CausePath": "$.why"}),
    ("Good", {"Type": "Pass", "Result": "ok", "End": True}),
)


def map_flow(processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fan = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True, **fields}
    return {"StartAt": "Fan", "States": {"Fan": fan}}


def items(*values: int) -> list[dict[str, Any]]:
    return [{"x": v, "odd": v % 2 == 1, "why": f"{v} is odd"} for v in values]


def test_entering_a_map_starts_one_iteration_per_item() -> None:
    definition = parse_definition(map_flow(ECHO, MaxConcurrency=3))
    decision = checked_step(definition, Cursor(None), {"items": [1, 2]}, Start(), now=T0)
    assert decision.outcome == StartIterations("Fan", "Map", (1, 2), 3, items=(1, 2))
    assert decision.cursor.state == "Fan" and decision.cursor.visit == 1 and decision.cursor.visits == 1
    assert [entry.code for entry in decision.log] == ["FlowStarted", "MapStarted"]


def test_item_selector_sees_the_item_index_and_value_and_the_input() -> None:
    flow = map_flow(
        ECHO,
        ItemSelector={"v.$": "$._context.map_item.value", "i.$": "$._context.map_item.index", "k.$": "$.k"},
    )
    result = drive(flow, {"items": ["a", "b"], "k": 7})
    assert result.output == [{"v": "a", "i": 0, "k": 7}, {"v": "b", "i": 1, "k": 7}]


def test_the_older_parameters_field_selects_items_too() -> None:
    flow = map_flow(ECHO, Parameters={"v.$": "$._context.map_item.value"})
    assert drive(flow, {"items": [3]}).output == [{"v": 3}]


def test_context_inside_an_iteration_has_the_item_and_the_run_fields() -> None:
    processor = sub(
        (
            "Ctx",
            {
                "Type": "Pass",
                "Parameters": {"item.$": "$._context.map_item", "run.$": "$._context.run_id"},
                "End": True,
            },
        )
    )
    result = drive(map_flow(processor, ResultPath="$.out"), {"items": ["p", "q"]})
    assert result.output["out"] == [
        {"item": {"index": 0, "value": "p"}, "run": CONTEXT.run_id},
        {"item": {"index": 1, "value": "q"}, "run": CONTEXT.run_id},
    ]


def test_results_are_gathered_in_item_order_at_result_path() -> None:
    result = drive(map_flow(DOUBLE, ResultPath="$.doubled"), {"items": items(1, 2, 3)})
    assert [r["d"] for r in result.output["doubled"]] == [{"v": 2}, {"v": 4}, {"v": 6}]
    assert result.output["items"] == items(1, 2, 3)
    assert result.codes[-2:] == ["MapCompleted", "FlowSucceeded"]


def test_an_empty_map_completes_at_once_with_an_empty_array() -> None:
    definition = parse_definition(map_flow(ECHO, ResultPath="$.r"))
    decision = checked_step(definition, Cursor(None), {"items": []}, Start(), now=T0)
    assert decision.outcome.output == {"items": [], "r": []}  # type: ignore[union-attr]
    assert [entry.code for entry in decision.log] == [
        "FlowStarted",
        "MapStarted",
        "MapCompleted",
        "FlowSucceeded",
    ]


@pytest.mark.parametrize(
    ("run_input", "cause"),
    [
        ({"items": 5}, "The value at ItemsPath '$.items' must be an array, not a number."),
        ({}, "The path '$.items' specified for the field 'ItemsPath' could not be found in the state input."),
    ],
)
def test_items_that_are_not_an_array_are_a_runtime_error(run_input: Any, cause: str) -> None:
    result = drive(map_flow(ECHO), run_input)
    assert (result.error, result.cause) == ("States.Runtime", cause)


def test_a_failed_item_fails_the_map_with_its_error_lowest_index_first() -> None:
    result = drive(map_flow(ODD_FAILS), {"items": items(2, 3, 5)})
    assert (result.error, result.cause) == ("Odd", "3 is odd")


def test_catch_around_a_map_receives_the_item_error() -> None:
    flow = map_flow(ODD_FAILS, Catch=[{"ErrorEquals": ["Odd"], "ResultPath": "$.error", "Next": "After"}])
    del flow["States"]["Fan"]["End"]
    flow["States"]["Fan"]["Next"] = "After"
    flow["States"]["After"] = {"Type": "Pass", "End": True}
    result = drive(flow, {"items": items(1)})
    assert result.output["error"] == {"Error": "Odd", "Cause": "1 is odd"}
    assert "ExceptionCaught" in result.codes


def test_retry_runs_the_whole_map_again_as_a_new_attempt_of_the_same_visit() -> None:
    flow = map_flow(ODD_FAILS, Retry=[{"ErrorEquals": ["Odd"], "MaxAttempts": 2, "IntervalSeconds": 1}])
    definition = parse_definition(flow)
    first = checked_step(definition, Cursor(None), {"items": items(1)}, Start(), now=T0)
    failed = IterationsDone(failure=Failure("Odd", "1 is odd"))
    retrying = checked_step(definition, first.cursor, first.run_state, failed, now=T0)
    assert retrying.cursor.attempt == 1 and retrying.cursor.visit == first.cursor.visit
    assert [entry.code for entry in retrying.log] == ["MapRetrying"]
    again = checked_step(definition, retrying.cursor, retrying.run_state, Enter(), now=T0)
    assert isinstance(again.outcome, StartIterations) and again.cursor.attempt == 1
    result = drive(flow, {"items": items(1)})
    assert result.error == "Odd" and result.codes.count("MapStarted") == 3


@pytest.mark.parametrize(
    ("fields", "values", "outcome"),
    [
        ({"ToleratedFailureCount": 1}, (1, 2, 4), "ok"),
        ({"ToleratedFailureCount": 1}, (1, 3, 4), EXCEED_TOLERATED),
        ({"ToleratedFailurePercentage": 50}, (1, 2, 3, 4), "ok"),
        ({"ToleratedFailurePercentage": 50}, (1, 3, 5, 4), EXCEED_TOLERATED),
        ({"ToleratedFailurePercentage": 100, "ToleratedFailureCount": 0}, (1, 2), EXCEED_TOLERATED),
        ({}, (2, 4), "ok"),
    ],
)
def test_tolerated_failures(fields: dict[str, Any], values: tuple[int, ...], outcome: str) -> None:
    result = drive(map_flow(ODD_FAILS, **fields), {"items": items(*values)})
    if outcome == "ok":
        assert result.output == [{"Error": "Odd", "Cause": f"{v} is odd"} if v % 2 else "ok" for v in values]
    else:
        assert result.error == outcome
        assert result.cause.endswith("more than it tolerates")


def test_iterations_done_fails_early_and_refuses_to_gather_unfinished_children() -> None:
    state = parse_definition(map_flow(ODD_FAILS, ToleratedFailureCount=1)).states["Fan"]
    bad = ChildEnd(False, error="Odd", cause="x")
    assert iterations_done(state, [bad, bad, None]).failure.error == EXCEED_TOLERATED  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="still running"):
        iterations_done(state, [bad, None])
    assert tolerates(state, 1, 3) and not tolerates(state, 2, 3)


def test_parallel_runs_each_branch_on_the_effective_input() -> None:
    flow = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "InputPath": "$.job",
                "Parameters": {"x.$": "$.n"},
                "Branches": [
                    sub(("A", {"Type": "Pass", "Result": "a", "End": True})),
                    DOUBLE,
                    sub(
                        (
                            "B",
                            {
                                "Type": "Pass",
                                "Parameters": {"b.$": "$._context.parallel_branch"},
                                "End": True,
                            },
                        )
                    ),
                ],
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    result = drive(flow, {"job": {"n": 5}})
    assert result.output == {"job": {"n": 5}, "out": ["a", {"x": 5, "d": {"v": 10}}, {"b": 2}]}
    # the branches log in their own runs: the parent logs the state only
    assert result.codes == ["FlowStarted", "ParallelStarted", "ParallelCompleted", "FlowSucceeded"]


def test_a_failed_branch_fails_the_parallel_even_with_tolerance_fields_absent() -> None:
    flow = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [ECHO, sub(("F", {"Type": "Fail", "Error": "Nope", "Cause": "no"}))],
                "End": True,
            }
        },
    }
    result = drive(flow, {})
    assert (result.error, result.cause) == ("Nope", "no")


def test_a_map_inside_a_parallel_inside_a_map() -> None:
    inner = map_flow(DOUBLE)["States"]["Fan"]
    inner = {**inner, "ItemsPath": "$.xs"}
    processor = {
        "StartAt": "Both",
        "States": {"Both": {"Type": "Parallel", "Branches": [sub(("Inner", inner)), ECHO], "End": True}},
    }
    flow = map_flow(processor)
    result = drive(flow, {"items": [{"xs": [{"x": 1}]}, {"xs": []}]})
    assert result.output == [[[{"x": 1, "d": {"v": 2}}], {"xs": [{"x": 1}]}], [[], {"xs": []}]]


def test_the_gathered_result_is_capped_like_any_run_state() -> None:
    limits = Limits(max_run_state_bytes=200)
    flow = map_flow(sub(("Big", {"Type": "Pass", "Result": "x" * 60, "End": True})), ResultPath="$.r")
    result = drive(flow, {"items": [1, 2, 3, 4]}, limits=limits)
    assert result.error == "States.DataLimitExceeded"


def test_events_that_do_not_fit_are_engine_bugs() -> None:
    definition = parse_definition(map_flow(ECHO))
    first = checked_step(definition, Cursor(None), {"items": [1]}, Start(), now=T0)
    with pytest.raises(UnexpectedEvent):
        checked_step(definition, first.cursor, first.run_state, TimerFired(), now=T0)
    plain = parse_definition({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": True}}})
    waiting = checked_step(plain, Cursor(None), {}, Start(), now=T0)
    with pytest.raises(UnexpectedEvent):
        checked_step(plain, waiting.cursor, {}, IterationsDone(result=[]), now=T0)
