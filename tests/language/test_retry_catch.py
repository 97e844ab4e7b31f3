"""Catch (every error kind, ResultPath vs replacement, first match, States.All) and Retry (backoff, jitter,
exhaustion then Catch)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from openflows.language.model import ActionUnableToRun, Cursor, WaitUntil
from openflows.language.retry import Retrier, decide_retry, error_matches

from .conftest import T0, Provider, drive, flow, status_doc

URL = "https://ap.example.org/x"


def guarded(catch: list, retry: list | None = None, **fields: object) -> dict:
    state = {"Type": "Action", "ActionUrl": URL, "ResultPath": "$.A", "Next": "Ok", **fields}
    if catch:
        state["Catch"] = catch
    if retry is not None:
        state["Retry"] = retry
    states = {"A": state, "Ok": {"Type": "Pass", "Result": "ok", "ResultPath": "$.path", "End": True}}
    for name in ("Handled", "Other"):
        if any(c["Next"] == name for c in catch):
            states[name] = {"Type": "Pass", "Result": name.lower(), "ResultPath": "$.path", "End": True}
    return flow(states)


def test_catch_action_failed_writes_the_status_document() -> None:
    definition = guarded(
        [{"ErrorEquals": ["ActionFailedException"], "Next": "Handled", "ResultPath": "$.err"}]
    )
    result = drive(definition, {"in": 1}, provider=Provider({"A": ["FAILED"]}))
    assert result.output["path"] == "handled"
    assert result.output["in"] == 1
    assert result.output["err"]["status"] == "FAILED" and result.output["err"]["state_name"] == "A"
    assert "ExceptionCaught" in result.codes
    caught = next(e for e in result.log if e.code == "ExceptionCaught")
    assert caught.details["error"] == "ActionFailedException" and caught.details["next"] == "Handled"


def test_catch_without_result_path_replaces_the_state() -> None:
    definition = guarded([{"ErrorEquals": ["States.ALL"], "Next": "Handled"}])
    error = {"code": "UnauthorizedRequest", "description": "nope"}
    result = drive(definition, {"in": 1}, provider=Provider({"A": [ActionUnableToRun(error)]}))
    assert result.output == {**error, "path": "handled"}


def test_catch_timeout_gets_the_last_status() -> None:
    definition = guarded(
        [{"ErrorEquals": ["ActionTimeout"], "Next": "Handled", "ResultPath": "$.err"}], WaitTime=5
    )
    last = status_doc("ACTIVE", details={"progress": 50})
    result = drive(definition, {}, provider=Provider({"A": ["ACTIVE", last]}))
    assert result.output["err"] == {**last, "state_name": "A"}
    caught = next(d for d in result.decisions if d.cancel_action is not None)
    assert caught.cancel_action.action_id == "a-1"


def test_catch_runtime_error_from_parameters() -> None:
    definition = guarded(
        [{"ErrorEquals": ["States.Runtime"], "Next": "Handled", "ResultPath": "$.err"}],
        Parameters={"x.$": "$.missing"},
    )
    result = drive(definition, {})
    assert result.output["err"]["Error"] == "States.Runtime"
    assert "$.missing" in result.output["err"]["Cause"]
    assert set(result.output["err"]) == {"Error", "Cause"}
    assert result.starts == []


def test_first_matching_catcher_wins() -> None:
    definition = guarded(
        [
            {"ErrorEquals": ["ActionTimeout"], "Next": "Other"},
            {
                "ErrorEquals": ["ActionUnableToRun", "ActionFailedException"],
                "Next": "Handled",
                "ResultPath": "$.e",
            },
            {"ErrorEquals": ["States.ALL"], "Next": "Other"},
        ]
    )
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}))
    assert result.output["path"] == "handled"


@pytest.mark.parametrize("wildcard", ["States.ALL", "States.All", "states.all"])
def test_wildcard_spellings(wildcard: str) -> None:
    definition = guarded([{"ErrorEquals": [wildcard], "Next": "Handled", "ResultPath": "$.e"}])
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}))
    assert result.output["path"] == "handled"


def test_no_matching_catcher_fails() -> None:
    definition = guarded([{"ErrorEquals": ["ActionTimeout"], "Next": "Handled"}])
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}))
    assert result.error == "ActionFailedException"


def test_catch_result_path_through_a_non_object_fails_the_run() -> None:
    definition = guarded([{"ErrorEquals": ["States.ALL"], "Next": "Handled", "ResultPath": "$.in.x"}])
    result = drive(definition, {"in": "string"}, provider=Provider({"A": ["FAILED"]}))
    assert result.error == "States.ResultPathMatchFailure"


# -- Retry ---------------------------------------------------------------------------------------------------


def test_retry_backoff_values_then_catch() -> None:
    retry = [
        {"ErrorEquals": ["ActionFailedException"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}
    ]
    definition = guarded([{"ErrorEquals": ["States.ALL"], "Next": "Handled", "ResultPath": "$.e"}], retry)
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"] * 4}))
    waits = [d.outcome for d in result.decisions if isinstance(d.outcome, WaitUntil)]
    assert all(w.retry and w.state == "A" for w in waits)
    t = T0
    dues = []
    for delay in (2, 6, 18):
        t = t + dt.timedelta(seconds=delay)
        dues.append(t)
    assert [w.due for w in waits] == dues
    assert [s.request_id for s in result.starts] == ["r-1/A/1/0", "r-1/A/1/1", "r-1/A/1/2", "r-1/A/1/3"]
    cursors = [d.cursor for d in result.decisions if isinstance(d.outcome, WaitUntil)]
    assert [(c.attempt, c.retries) for c in cursors] == [(1, (1,)), (2, (2,)), (3, (3,))]
    assert result.output["path"] == "handled"
    assert result.codes.count("ActionRetrying") == 3
    retrying = next(e for e in result.log if e.code == "ActionRetrying")
    assert retrying.details["attempt"] == 1 and retrying.details["retry_at"] == "2026-01-01T12:00:02+00:00"


def test_retry_succeeds_on_a_later_attempt() -> None:
    retry = [{"ErrorEquals": ["ActionUnableToRun"], "IntervalSeconds": 1}]
    definition = guarded([], retry)
    error = ActionUnableToRun({"code": "ActionProviderError", "description": "503"})
    result = drive(definition, {}, provider=Provider({"A": [error, error, "SUCCEEDED"]}))
    assert result.output["path"] == "ok"
    assert result.output["A"]["status"] == "SUCCEEDED"


def test_max_attempts_zero_never_retries_and_max_delay_caps() -> None:
    retriers = (
        Retrier(("A",), max_attempts=0),
        Retrier(("B",), interval_seconds=10, backoff_rate=10, max_delay_seconds=50, max_attempts=5),
    )
    assert decide_retry(retriers, (), "A", random.Random(0)) is None
    delays = []
    counts: tuple[int, ...] = ()
    for _ in range(5):
        decision = decide_retry(retriers, counts, "B", random.Random(0))
        assert decision is not None
        delays.append(decision.delay)
        counts = decision.retries
    assert delays == [10, 50, 50, 50, 50]
    assert counts == (0, 5)
    assert decide_retry(retriers, counts, "B", random.Random(0)) is None


def test_full_jitter_uses_the_injected_random() -> None:
    retry = [
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 1, "JitterStrategy": "FULL"}
    ]
    definition = guarded([], retry)
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}), random=random.Random(42))
    wait = next(d.outcome for d in result.decisions if isinstance(d.outcome, WaitUntil))
    expected = random.Random(42).random() * 100
    assert wait.due == T0 + dt.timedelta(seconds=expected)
    # a callable works too
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}), random=lambda: 0.25)
    wait = next(d.outcome for d in result.decisions if isinstance(d.outcome, WaitUntil))
    assert wait.due == T0 + dt.timedelta(seconds=25)


def test_jitter_without_random_is_deterministic() -> None:
    retry = [
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 1, "JitterStrategy": "FULL"}
    ]
    definition = guarded([], retry)
    dues = set()
    for _ in range(3):
        result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}))
        dues.add(next(d.outcome.due for d in result.decisions if isinstance(d.outcome, WaitUntil)))
    assert len(dues) == 1


def test_first_matching_retrier_decides_even_when_exhausted() -> None:
    retriers = (Retrier(("X",), max_attempts=1), Retrier(("States.ALL",), max_attempts=5))
    first = decide_retry(retriers, (), "X", random.Random(0))
    assert first is not None and first.retries == (1, 0)
    assert decide_retry(retriers, first.retries, "X", random.Random(0)) is None
    assert decide_retry(retriers, first.retries, "Y", random.Random(0)) is not None


def test_data_limit_is_never_matched() -> None:
    assert not error_matches(("States.ALL",), "States.DataLimitExceeded")
    assert not error_matches(("States.DataLimitExceeded",), "States.DataLimitExceeded")
    assert error_matches(("States.All",), "States.Runtime")


def test_retry_on_expression_eval() -> None:
    definition = flow(
        {
            "E": {
                "Type": "ExpressionEval",
                "Parameters": {"v.=": "nope + 1"},
                "ResultPath": "$.v",
                "Retry": [{"ErrorEquals": ["States.Runtime"], "MaxAttempts": 2, "IntervalSeconds": 5}],
                "End": True,
            }
        }
    )
    result = drive(definition, {})
    assert result.error == "States.Runtime"
    assert result.codes.count("ExpressionEvalRetrying") == 2
    assert result.now == T0 + dt.timedelta(seconds=5 + 10)
    assert result.decisions[-1].cursor == Cursor("E", 2)
