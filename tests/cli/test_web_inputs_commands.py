"""`openflows web-inputs list|show|respond`, `openflows runs update --notify-on` and `openflows notifications
list` against a live server: the signed-in user's own run asks them a question and goes on with the answer."""

from __future__ import annotations

import json
import time

import pytest

from sdk.support import Server

ASKING = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "CreateWebInput",
            "Parameters": {
                "context": {"title": "Ship release 1.2?", "presentation_style": "text", "text": "All green."},
                "options": [{"label": "Ship"}, {"label": "Hold", "description": "Wait a day"}],
                "roles": {"respondent_urns.=": "[_context.user_id]"},
            },
            "ResultPath": "$.question",
            "Next": "Wait",
        },
        "Wait": {
            "Type": "AwaitWebInput",
            "Parameters": {"WebInputId.$": "$.question.id"},
            "ResultPath": "$.answer",
            "End": True,
        },
    },
}


def waiting_run(run_line) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    flow_id = run_line(["openflows", "flows", "create", json.dumps(ASKING), "-F", "json"]).json()["id"]
    run_id = run_line(f"openflows run start {flow_id} --label release -F json").json()["run_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = run_line(f"openflows runs show {run_id} -F json").json()
        if doc["blocking_web_input_id"]:
            return run_id, doc["blocking_web_input_id"]
        time.sleep(0.1)
    raise AssertionError("the run never waited for its web input")


def test_list_show_and_respond(run_line) -> None:  # type: ignore[no-untyped-def]
    run_id, web_input_id = waiting_run(run_line)
    record = run_line(f"openflows runs show {run_id}").stdout
    assert "Waits for web input" in record and web_input_id in record
    listed = run_line("openflows web-inputs list --filter-role respondent -F json").json()
    assert web_input_id in [s["id"] for s in listed["web_input_summaries"]]
    table = run_line("openflows web-inputs list").stdout
    assert web_input_id in table and "Ship release 1.2?" in table

    shown = run_line(f"openflows web-inputs show {web_input_id}").stdout
    assert "All green." in shown and "Hold - Wait a day" in shown
    doc = run_line(f"openflows web-inputs show {web_input_id} -F json").json()
    hold = doc["options"][1]["option_id"]

    failed = run_line(f"openflows web-inputs respond {web_input_id} Maybe", exit_code=1)
    assert "neither an option id nor the label" in failed.stdout + failed.stderr
    answered = run_line(f"openflows web-inputs respond {web_input_id} hold")
    assert f"Answered {web_input_id} with {hold}." in answered.stdout

    deadline = time.monotonic() + 30
    while True:
        run = run_line(f"openflows runs show {run_id} -F json").json()
        if run["status"] != "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["answer"]["option"]["label"] == "Hold"
    again = run_line(f"openflows web-inputs respond {web_input_id} {hold}", exit_code=1)
    assert "already closed" in again.stdout + again.stderr
    closed = run_line(
        f"openflows web-inputs list --filter-state closed --filter-run-id {run_id} -F json"
    ).json()
    assert [s["status"] for s in closed["web_input_summaries"]] == ["closed"]


def test_runs_update_sets_the_notification_policy_and_notifications_are_listed(  # type: ignore[no-untyped-def]
    run_line, live_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, web_input_id = waiting_run(run_line)
    updated = run_line(
        f"openflows runs update {run_id} --notify-on SUCCEEDED --notify-on failed -F json"
    ).json()
    assert updated["activity_notification_policy"] == {"status": ["SUCCEEDED", "FAILED"]}
    run_line(f"openflows web-inputs respond {web_input_id} Ship")
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", live_server.env["OPENFLOWS_DATABASE_URL"])
    deadline = time.monotonic() + 30
    while True:
        rows = run_line(f"openflows notifications list --run {run_id} --json").json()
        if (
            any(r["kind"] == "activity" and r["status"] == "sent" for r in rows)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    kinds = sorted((r["kind"], r["status"]) for r in rows)
    assert kinds == [("activity", "sent"), ("web_input", "sent")], rows
    [activity] = [r for r in rows if r["kind"] == "activity"]
    assert activity["payload"]["status"] == "SUCCEEDED"
    assert activity["delivery"].startswith("outbox:notification-")


def test_watch_says_what_the_run_waits_for() -> None:
    from openflows.cli.watch import RunView

    view = RunView("r")
    events = view.ingest(
        [
            {"time": "2026-01-01T00:00:00+00:00", "code": "FlowStarted", "details": {}},
            {
                "time": "2026-01-01T00:00:01+00:00",
                "code": "AwaitWebInputStarted",
                "details": {
                    "state_name": "Wait",
                    "state_type": "AwaitWebInput",
                    "input": {"WebInputId": "w-1"},
                },
            },
        ]
    )
    assert events[-1] == "▶ Wait (AwaitWebInput) waits for an answer; see `openflows web-inputs show w-1`"
    assert view.states[-1].note == "waiting for an answer"
