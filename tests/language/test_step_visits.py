"""Every visit of an Action state is its own action (issue 12 item 1, DESIGN invariant 2).

The AP `request_id` is `<run_id>/<state>/<visit>/<attempt>`: a per-run visit counter kept in the cursor names
each entry of an Action state, so a loop back to the state starts a new action while a replayed step (the same
stored cursor) and a Retry (the same visit, the next attempt) stay deterministic.
"""

from __future__ import annotations

import datetime as dt

from openflows.language.model import ActionRef, ActionStatus, Cursor, Enter, Start, StartAction, WaitUntil
from openflows.language.states import parse_definition

from .conftest import T0, Provider, checked_step, drive, flow, status_doc

URL = "https://ap.example.org/hello"


def counter_loop(body: dict) -> dict:
    """A counter loop over the Action state `Work`: three visits, then Done."""
    return flow(
        {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Work"},
            "Work": {
                "Type": "Action",
                "ActionUrl": URL,
                "Parameters": body,
                "ResultPath": "$.work",
                "Next": "Count",
            },
            "Count": {
                "Type": "ExpressionEval",
                "Parameters": {"n.=": "n + 1"},
                "ResultPath": "$.count",
                "Next": "Copy",
            },
            "Copy": {"Type": "Pass", "InputPath": "$.count.n", "ResultPath": "$.n", "Next": "Again"},
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Work"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        }
    )


def test_a_loop_with_a_changing_body_gets_a_new_request_id_per_visit() -> None:
    result = drive(counter_loop({"i.$": "$.n"}), {})
    assert result.status == "SUCCEEDED"
    assert [s.request_id for s in result.starts] == ["r-1/Work/1/0", "r-1/Work/2/0", "r-1/Work/3/0"]
    assert [s.body for s in result.starts] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_a_loop_with_the_same_body_still_gets_a_new_request_id_per_visit() -> None:
    result = drive(counter_loop({"same": "body"}), {})
    ids = [s.request_id for s in result.starts]
    assert len(ids) == len(set(ids)) == 3
    assert result.decisions[-1].cursor.visits == 3


def test_retries_keep_the_visit_and_count_attempts() -> None:
    definition = flow(
        {
            "A": {
                "Type": "Action",
                "ActionUrl": URL,
                "Retry": [{"ErrorEquals": ["ActionFailedException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A", "ResultPath": "$.caught"}],
                "End": True,
            }
        }
    )
    # three failures of visit 1 (first try + 2 retries), caught: the Catch loops back to A, a new visit
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"] * 3}))
    assert result.status == "SUCCEEDED"
    assert [s.request_id for s in result.starts] == ["r-1/A/1/0", "r-1/A/1/1", "r-1/A/1/2", "r-1/A/2/0"]


def test_a_replayed_step_decides_the_same_request_id() -> None:
    parsed = parse_definition(counter_loop({"i.$": "$.n"}))
    first = checked_step(parsed, Cursor(None), {}, Start(), now=T0)
    assert isinstance(first.outcome, StartAction)
    status = ActionStatus(status_doc("SUCCEEDED", 1))
    second = checked_step(parsed, first.cursor, first.run_state, status, now=T0)
    replay = checked_step(parsed, first.cursor, first.run_state, status, now=T0)
    assert isinstance(second.outcome, StartAction) and second.outcome == replay.outcome
    assert second.outcome.request_id == "r-1/Work/2/0"
    assert second.cursor == replay.cursor


def test_a_chain_yield_into_an_action_state_is_a_new_visit() -> None:
    from openflows.language.model import Limits

    definition = flow(
        {
            "P": {"Type": "Pass", "Next": "A"},
            "A": {"Type": "Action", "ActionUrl": URL, "End": True},
        }
    )
    parsed = parse_definition(definition)
    yielded = checked_step(parsed, Cursor(None), {}, Start(), now=T0, limits=Limits(max_chain=1))
    assert isinstance(yielded.outcome, WaitUntil) and yielded.outcome.retry
    assert (yielded.cursor.state, yielded.cursor.visit) == ("A", None)
    entered = checked_step(parsed, yielded.cursor, {}, Enter(), now=T0)
    assert isinstance(entered.outcome, StartAction)
    assert entered.outcome.request_id == "r-1/A/1/0"


def test_the_counter_survives_the_cursor_document() -> None:
    cursor = Cursor("A", attempt=2, retries=(1,), visit=7, visits=9)
    assert Cursor.from_dict(cursor.as_dict()) == cursor


def test_a_cursor_stored_before_visits_keeps_its_action_name() -> None:
    """A run in flight across the upgrade: its stored cursor has no visit counter, and its ACTION_START item
    was made with `<run_id>/<state>/<attempt>`. The status it receives is recorded under that same id, and
    the next visit of a state is numbered from 1 in the new format (which cannot collide with the old one:
    it has one more segment)."""
    parsed = parse_definition(counter_loop({"i.$": "$.n"}))
    legacy = Cursor.from_dict({"state": "Work", "attempt": 0, "retries": [], "action": None})
    assert legacy.visit is None and legacy.visits == 0
    running = checked_step(parsed, legacy, {"n": 0}, ActionStatus(status_doc("ACTIVE", 1)), now=T0)
    ref = running.cursor.action
    assert isinstance(ref, ActionRef) and ref.request_id == "r-1/Work/0"
    done = checked_step(parsed, running.cursor, {"n": 0}, ActionStatus(status_doc("SUCCEEDED", 1)), now=T0)
    assert isinstance(done.outcome, StartAction)
    assert done.outcome.request_id == "r-1/Work/1/0"


def test_a_failed_run_keeps_its_visit_counter() -> None:
    definition = flow({"A": {"Type": "Action", "ActionUrl": URL, "End": True}})
    result = drive(definition, {}, provider=Provider({"A": ["FAILED"]}), now=T0 + dt.timedelta(days=1))
    assert result.status == "FAILED"
    assert (result.decisions[-1].cursor.visit, result.decisions[-1].cursor.visits) == (1, 1)
