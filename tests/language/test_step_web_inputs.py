"""CreateWebInput and AwaitWebInput in the pure interpreter: the web input document and its ids (the same on
a replayed step, new on each visit of a loop), the wait outcome and its deadline, the answer at ResultPath,
the catchable failures, and the events that do not fit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from openflows.language import Cursor, RunContext, Start, UnexpectedEvent, parse_definition, step
from openflows.language.model import TimerFired, WaitForWebInput, WebInputAnswered, WebInputUnavailable
from openflows.language.webinputs import option_id, web_input_id

NOW = dt.datetime(2026, 8, 1, 10, 30, tzinfo=dt.UTC)
BOB = "urn:globus:auth:identity:22222222-2222-4222-8222-222222222222"
CONTEXT = RunContext(
    flow_id="f",
    run_id="11111111-1111-4111-8111-111111111111",
    user_id="urn:owner",
    flow_title="T",
    run_label="L",
)
ASK = {
    "Type": "CreateWebInput",
    "Parameters": {
        "context": {"title": "Go?", "presentation_style": "text", "text.$": "$.why"},
        "options": [{"label": "Yes"}, {"label": "No", "description": "stop"}],
        "roles": {"respondent_urns": [BOB]},
    },
    "ResultPath": "$.question",
}


def flow(**states: Any) -> Any:
    return parse_definition({"StartAt": next(iter(states)), "States": states})


def test_create_writes_the_document_and_await_waits_until_the_deadline() -> None:
    definition = flow(
        Ask={**ASK, "Next": "Wait"},
        Wait={
            "Type": "AwaitWebInput",
            "Parameters": {"WebInputId.$": "$.question.id"},
            "ResultPath": "$.answer",
            "WaitTime": 3600,
            "End": True,
        },
    )
    decision = step(definition, Cursor(None), {"why": "because"}, Start(), context=CONTEXT, now=NOW)
    [(state, doc)] = decision.web_inputs
    expected_id = web_input_id(CONTEXT.run_id, "Ask", 1)
    assert (state, doc["id"]) == ("Ask", expected_id)
    assert doc["options"] == [
        {"option_id": option_id(expected_id, 0), "label": "Yes", "description": ""},
        {"option_id": option_id(expected_id, 1), "label": "No", "description": "stop"},
    ]
    assert doc["context"] == {"title": "Go?", "presentation_style": "text", "text": "because"}
    assert (doc["creator_urn"], doc["flow"], doc["run"]) == (
        "urn:owner",
        {"id": "f", "title": "T"},
        {"id": CONTEXT.run_id, "label": "L"},
    )
    assert decision.run_state["question"] == doc
    assert decision.outcome == WaitForWebInput("Wait", expected_id, NOW + dt.timedelta(seconds=3600))
    assert decision.cursor.web_input is not None and decision.cursor.web_input.id == expected_id
    # a replayed step builds the very same web input
    again = step(definition, Cursor(None), {"why": "because"}, Start(), context=CONTEXT, now=NOW)
    assert again.web_inputs == decision.web_inputs

    answered = step(
        definition,
        decision.cursor,
        decision.run_state,
        WebInputAnswered({"value": option_id(expected_id, 1)}),
        context=CONTEXT,
        now=NOW,
    )
    assert answered.run_state["answer"] == {"value": option_id(expected_id, 1)}
    assert [e.code for e in answered.log][-2:] == ["AwaitWebInputCompleted", "FlowSucceeded"]


def test_each_visit_of_a_loop_opens_a_new_web_input() -> None:
    definition = flow(
        Count={"Type": "ExpressionEval", "Parameters": {"n.=": "n + 1"}, "ResultPath": "$", "Next": "Ask"},
        Ask={
            **ASK,
            "Parameters": {**ASK["Parameters"], "context": {"title": "t", "presentation_style": "text"}},
            "Next": "More",
        },
        More={
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}],
            "Default": "End",
        },
        End={"Type": "Pass", "End": True},
    )
    decision = step(definition, Cursor(None), {"n": 0}, Start(), context=CONTEXT, now=NOW)
    ids = [doc["id"] for _, doc in decision.web_inputs]
    assert ids == [web_input_id(CONTEXT.run_id, "Ask", visit) for visit in (1, 2, 3)]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (WebInputUnavailable("WebInputTimeout", "too late"), "WebInputTimeout"),
        (WebInputUnavailable("WebInputClosed", "closed"), "WebInputClosed"),
    ],
)
def test_an_unavailable_answer_is_catchable(event: WebInputUnavailable, error: str) -> None:
    definition = flow(
        Wait={
            "Type": "AwaitWebInput",
            "Parameters": {"WebInputId": "8f14e45f-ceea-467e-add1-6a6b672efe31"},
            "Catch": [{"ErrorEquals": [error], "ResultPath": "$.late", "Next": "Late"}],
            "End": True,
        },
        Late={"Type": "Pass", "End": True},
    )
    waiting = step(definition, Cursor(None), {}, Start(), context=CONTEXT, now=NOW)
    assert waiting.outcome == WaitForWebInput("Wait", "8f14e45f-ceea-467e-add1-6a6b672efe31", None)
    caught = step(definition, waiting.cursor, waiting.run_state, event, context=CONTEXT, now=NOW)
    assert caught.run_state["late"] == {"Error": error, "Cause": event.cause}
    assert caught.cursor.web_input is None


def test_a_missing_or_bad_web_input_id_is_a_runtime_error() -> None:
    definition = flow(Wait={"Type": "AwaitWebInput", "Parameters": {"WebInputId": "not-a-uuid"}, "End": True})
    decision = step(definition, Cursor(None), {}, Start(), context=CONTEXT, now=NOW)
    assert decision.outcome.failure.error == "States.Runtime"  # type: ignore[union-attr]
    assert "WebInputId" in decision.outcome.failure.cause  # type: ignore[union-attr]


def test_text_that_cannot_be_stored_fails_the_state() -> None:
    definition = flow(Ask={**ASK, "End": True})
    decision = step(definition, Cursor(None), {"why": "a\x00b"}, Start(), context=CONTEXT, now=NOW)
    assert decision.outcome.failure.error == "States.Runtime"  # type: ignore[union-attr]
    assert decision.web_inputs == ()


def test_events_that_do_not_fit_are_engine_bugs() -> None:
    definition = flow(Ask={**ASK, "Next": "Nap"}, Nap={"Type": "Wait", "Seconds": 5, "End": True})
    napping = step(definition, Cursor(None), {"why": "x"}, Start(), context=CONTEXT, now=NOW)
    with pytest.raises(UnexpectedEvent):
        step(definition, napping.cursor, napping.run_state, WebInputAnswered({}), context=CONTEXT, now=NOW)
    awaiting = flow(Wait={"Type": "AwaitWebInput", "Parameters": {"WebInputId.$": "$.id"}, "End": True})
    with pytest.raises(UnexpectedEvent):
        step(awaiting, Cursor("Wait"), {}, TimerFired(), context=CONTEXT, now=NOW)
