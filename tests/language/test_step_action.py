"""step() on Action states: body, StartAction, statuses, WaitTime, INACTIVE, ExceptionOnActionFailure."""

from __future__ import annotations

import datetime as dt

from openflows.language.model import (
    ActionStatus,
    ActionUnableToRun,
    AwaitAction,
    Cursor,
    Start,
    StartAction,
    Succeeded,
)
from openflows.language.states import parse_definition

from .conftest import POLL_SECONDS, T0, Provider, checked_step, drive, flow, status_doc

URL = "https://ap.example.org/hello"


def action(**fields: object) -> dict:
    return {"Type": "Action", "ActionUrl": URL, **fields}


def test_start_action_outcome() -> None:
    definition = flow(
        {
            "A": action(
                Parameters={"echo.$": "$.msg", "n": 1},
                ResultPath="$.A",
                RunAs="Flow",
                ActionScope="https://auth.example.org/scopes/x",
                WaitTime=60,
                End=True,
            )
        }
    )
    parsed = parse_definition(definition)
    decision = checked_step(parsed, Cursor(None), {"msg": "hi"}, Start(), now=T0)
    assert decision.outcome == StartAction(
        state="A",
        action_url=URL,
        body={"echo": "hi", "n": 1},
        request_id="r-1/A/1/0",
        run_as="Flow",
        scope="https://auth.example.org/scopes/x",
        wait_time=60,
    )
    assert decision.cursor == Cursor("A", visit=1, visits=1)
    assert decision.transitions == 1
    started = decision.log[-1]
    assert started.code == "ActionStarted"
    assert started.details == {"state_name": "A", "state_type": "Action", "input": {"echo": "hi", "n": 1}}


def test_defaults_and_handler() -> None:
    definition = flow(
        {
            "A": {
                "Type": "Action",
                "Handler": {"Type": "ActionProvider", "Url": URL, "Scope": "s"},
                "End": True,
            }
        }
    )
    decision = checked_step(parse_definition(definition), Cursor(None), {"whole": 1}, Start(), now=T0)
    outcome = decision.outcome
    assert isinstance(outcome, StartAction)
    assert (outcome.action_url, outcome.scope, outcome.run_as, outcome.wait_time) == (URL, "s", "User", 300)
    assert outcome.body == {"whole": 1}


def test_input_path_body() -> None:
    result = drive(flow({"A": action(InputPath="$.req", ResultPath="$.res", End=True)}), {"req": {"k": "v"}})
    assert result.starts[0].body == {"k": "v"}


def test_synchronous_success_writes_the_status_at_result_path() -> None:
    provider = Provider({"A": [status_doc("SUCCEEDED", details={"Hello": "World"})]})
    definition = flow(
        {"A": action(Parameters={"x": 1}, ResultPath="$.A", Next="P"), "P": {"Type": "Pass", "End": True}}
    )
    result = drive(definition, {"in": 1}, provider=provider)
    expected = {**status_doc("SUCCEEDED", details={"Hello": "World"}), "state_name": "A"}
    assert result.output == {"in": 1, "A": expected}
    assert result.codes == [
        "FlowStarted",
        "ActionStarted",
        "ActionCompleted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]
    completed = result.log[2]
    assert completed.details == {"state_name": "A", "state_type": "Action", "output": expected}
    # the second step (the status) finished the action: release it
    assert result.decisions[1].release_action is not None
    assert result.decisions[1].release_action.action_id == "a-1"


def test_default_result_path_replaces_the_state() -> None:
    result = drive(flow({"A": action(End=True)}), {"in": 1})
    assert result.output["status"] == "SUCCEEDED" and "in" not in result.output
    assert result.output["state_name"] == "A"


def test_polling_until_success() -> None:
    provider = Provider({"A": ["ACTIVE", "ACTIVE", "ACTIVE", "SUCCEEDED"]})
    result = drive(flow({"A": action(ResultPath="$.A", End=True)}), {}, provider=provider)
    assert result.status == "SUCCEEDED"
    awaits = [d for d in result.decisions if isinstance(d.outcome, AwaitAction)]
    assert len(awaits) == 3
    ref = awaits[0].cursor.action
    assert ref is not None
    assert (ref.action_id, ref.request_id) == ("a-1", "r-1/A/1/0")
    assert ref.started_at == "2026-01-01T12:00:00+00:00"
    assert ref.deadline == "2026-01-01T12:05:00+00:00"
    # polls that do not change the status are not logged
    assert "ActionPolled" not in result.codes
    assert result.now == T0 + dt.timedelta(seconds=3 * POLL_SECONDS)


def test_status_changes_are_logged_and_inactive_is_surfaced() -> None:
    inactive = status_doc("INACTIVE", details={"code": "ConsentRequired", "required_scope": "s"})
    provider = Provider({"A": ["ACTIVE", inactive, inactive, "ACTIVE", "SUCCEEDED"]})
    result = drive(flow({"A": action(ResultPath="$.A", End=True)}), {}, provider=provider)
    awaits = [d.outcome for d in result.decisions if isinstance(d.outcome, AwaitAction)]
    assert [a.inactive for a in awaits] == [
        None,
        {"code": "ConsentRequired", "required_scope": "s"},
        {"code": "ConsentRequired", "required_scope": "s"},
        None,
    ]
    polled = [e for e in result.log if e.code == "ActionPolled"]
    assert [e.details["output"]["status"] for e in polled] == ["INACTIVE", "ACTIVE"]
    assert polled[0].details["state_name"] == "A"


def test_wait_time_timeout_cancels_and_fails() -> None:
    provider = Provider({"A": ["ACTIVE"] * 10})
    result = drive(flow({"A": action(WaitTime=25, ResultPath="$.A", End=True)}), {}, provider=provider)
    assert result.error == "ActionTimeout"
    assert "WaitTime of 25 seconds" in result.cause
    last = result.decisions[-1]
    assert last.cancel_action is not None and last.cancel_action.action_id == "a-1"
    assert result.now == T0 + dt.timedelta(seconds=30)


def test_failed_action_raises_action_failed_exception() -> None:
    provider = Provider({"A": ["ACTIVE", "FAILED"]})
    result = drive(flow({"A": action(ResultPath="$.A", End=True)}), {"in": 1}, provider=provider)
    assert result.error == "ActionFailedException"
    assert result.cause["status"] == "FAILED" and result.cause["state_name"] == "A"
    assert result.codes[-2:] == ["ActionFailed", "FlowFailed"]
    assert result.decisions[-1].release_action is not None
    assert result.run_state == {"in": 1}


def test_failed_action_without_exception_continues() -> None:
    provider = Provider({"A": ["FAILED"]})
    definition = flow({"A": action(ResultPath="$.A", ExceptionOnActionFailure=False, End=True)})
    result = drive(definition, {}, provider=provider)
    assert result.output["A"]["status"] == "FAILED"
    assert "ActionCompleted" in result.codes


def test_unable_to_run() -> None:
    error = {"code": "BadActionRequest", "description": "no"}
    provider = Provider({"A": [ActionUnableToRun(error)]})
    result = drive(flow({"A": action(End=True)}), {}, provider=provider)
    assert (result.error, result.cause) == ("ActionUnableToRun", error)


def test_invalid_status_document_is_a_runtime_error() -> None:
    provider = Provider({"A": [{"status": "WEIRD"}]})
    result = drive(flow({"A": action(End=True)}), {}, provider=provider)
    assert result.error == "States.Runtime"


def test_private_parameters_are_hidden_in_the_log_only() -> None:
    definition = flow(
        {
            "A": action(
                Parameters={"user": "u", "password.$": "$.pw", "__Private_Parameters": ["password"]},
                ResultPath="$.A",
                End=True,
            )
        }
    )
    result = drive(definition, {"pw": "hunter2"})
    assert result.starts[0].body == {"user": "u", "password": "hunter2"}
    started = next(e for e in result.log if e.code == "ActionStarted")
    assert "hunter2" not in repr(started.details)
    assert started.details["input"]["password"] == "<redacted>"
    assert started.details["input"]["user"] == "u"


def test_action_output_private_keys_redacted_in_log() -> None:
    provider = Provider({"A": [status_doc("SUCCEEDED", details={"_private_key": "k", "ok": 1})]})
    result = drive(flow({"A": action(ResultPath="$.A", End=True)}), {}, provider=provider)
    assert result.output["A"]["details"] == {"_private_key": "k", "ok": 1}
    completed = next(e for e in result.log if e.code == "ActionCompleted")
    assert completed.details["output"]["details"] == {"ok": 1}


def test_chain_continues_after_action_success_until_next_action() -> None:
    definition = flow(
        {
            "A": action(ResultPath="$.A", Next="P"),
            "P": {"Type": "Pass", "Next": "B"},
            "B": action(ResultPath="$.B", End=True),
        }
    )
    result = drive(definition, {})
    assert [type(d.outcome).__name__ for d in result.decisions] == [
        "StartAction",
        "StartAction",
        "Succeeded",
    ]
    assert result.decisions[1].transitions == 2  # P and B
    assert [s.request_id for s in result.starts] == ["r-1/A/1/0", "r-1/B/2/0"]


def test_status_with_start_time_keeps_document() -> None:
    doc = status_doc("SUCCEEDED", start_time="2026-01-01T11:59:00+00:00")
    parsed = parse_definition(flow({"A": action(ResultPath="$.A", End=True)}))
    decision = checked_step(parsed, Cursor("A"), {}, ActionStatus(doc), now=T0)
    assert isinstance(decision.outcome, Succeeded)
    assert decision.outcome.output["A"]["start_time"] == "2026-01-01T11:59:00+00:00"


def test_enter_before_the_action_exists_starts_it_again_with_the_same_request_id() -> None:
    from openflows.language.model import Enter

    parsed = parse_definition(flow({"A": action(ResultPath="$.A", End=True)}))
    first = checked_step(parsed, Cursor(None), {}, Start(), now=T0)
    again = checked_step(parsed, first.cursor, first.run_state, Enter(), now=T0 + dt.timedelta(hours=1))
    assert isinstance(again.outcome, StartAction) and isinstance(first.outcome, StartAction)
    assert again.outcome.request_id == first.outcome.request_id == "r-1/A/1/0"
    assert [e.code for e in again.log] == ["ActionStarted"]


def test_enter_while_the_action_is_in_flight_is_an_engine_bug() -> None:
    import pytest

    from openflows.language.model import Enter
    from openflows.language.step import UnexpectedEvent

    parsed = parse_definition(flow({"A": action(ResultPath="$.A", End=True)}))
    waiting = checked_step(parsed, Cursor("A"), {}, ActionStatus(status_doc("ACTIVE")), now=T0)
    assert isinstance(waiting.outcome, AwaitAction)
    with pytest.raises(UnexpectedEvent):
        checked_step(parsed, waiting.cursor, {}, Enter(), now=T0)
    with pytest.raises(UnexpectedEvent):
        checked_step(parsed, waiting.cursor, {}, ActionUnableToRun({"code": "X"}), now=T0)


def test_cursor_round_trips_through_its_dict_form() -> None:
    provider = Provider({"A": ["ACTIVE", "SUCCEEDED"]})
    seen = []
    drive(flow({"A": action(ResultPath="$.A", End=True)}), {}, provider=provider, on_decision=seen.append)
    for decision in seen:
        assert Cursor.from_dict(decision.cursor.as_dict()) == decision.cursor
