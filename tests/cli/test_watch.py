"""The live view of a run: frames recorded on a string console, from a live server and from log entries."""

from __future__ import annotations

import datetime as dt
import io
import json

from clikit import HELLO
from rich.console import Console

from openflows.cli.watch import RunView, exit_status, watch_run
from openflows.client import FlowsClient, SpecificFlowClient

T0 = "2026-01-01T00:00:00+00:00"


def text_of(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def at(seconds: float) -> str:
    return f"2026-01-01T00:00:{seconds:06.3f}+00:00"


def entry(code: str, seconds: float, **details: object) -> dict:
    return {"time": at(seconds), "code": code, "description": code, "details": details}


def transfer_status(done: int, files: int, size: int) -> dict:
    return {
        "status": "ACTIVE",
        "details": {"files": files, "files_transferred": done, "bytes_transferred": size},
    }


def test_frames_from_a_live_run(cli_env) -> None:  # type: ignore[no-untyped-def]
    two_states = {
        "StartAt": "One",
        "States": {"One": {"Type": "Pass", "Next": "Two"}, "Two": {"Type": "Pass", **HELLO["States"]["Hi"]}},
    }
    flows = FlowsClient()
    flow_id = flows.create_flow(title="watched", definition=two_states, input_schema={})["id"]
    run_id = SpecificFlowClient(flow_id).run_flow({})["run_id"]
    frames: list[str] = []
    console = Console(file=io.StringIO(), width=100, color_system=None)
    view = watch_run(
        flows,
        run_id,
        console=console,
        interval=0.05,
        on_frame=lambda v: frames.append(text_of(v.render())),
        live=False,
    )
    assert exit_status(view) == 0
    assert frames, "no frame recorded"
    last = frames[-1]
    assert f"Run {run_id}  SUCCEEDED" in last
    assert last.index("One (Pass)") < last.index("Two (Pass)")
    assert "Output:" in last and '"greeting": "hello"' in last
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "▶ One (Pass) started" in printed and "✓ Two finished in" in printed
    flows.delete_run(run_id)
    flows.delete_flow(flow_id)


def test_states_durations_and_transfer_progress() -> None:
    view = RunView("run-1")
    view.update_run({"status": "ACTIVE", "flow_title": "copy"})
    events = view.ingest(
        [
            entry("FlowStarted", 0),
            entry("PassStarted", 0, state_name="Prepare", state_type="Pass"),
            entry("PassCompleted", 1.5, state_name="Prepare", state_type="Pass"),
            entry("ActionStarted", 1.5, state_name="Copy", state_type="Action"),
            entry(
                "ActionPolled", 3, state_name="Copy", state_type="Action", output=transfer_status(1, 4, 2048)
            ),
        ]
    )
    assert events == [
        "Run run-1 started",
        "▶ Prepare (Pass) started",
        "✓ Prepare finished in 1.5 s",
        "▶ Copy (Action) started",
    ]
    frame = text_of(view.render(now=dt.datetime.fromisoformat(at(5.5))))
    lines = frame.splitlines()
    assert lines[0].startswith("Run run-1  ACTIVE  (copy)")
    assert "✓  Prepare (Pass)" in lines[1] and "1.5 s" in lines[1]
    copy_line = lines[2]
    assert "…  Copy (Action)" in copy_line and "4.0 s" in copy_line
    assert "1/4 files, 2.0 KiB" in copy_line
    assert "━" in copy_line  # the bar

    view.ingest(
        [
            *[{}] * 5,
            entry(
                "ActionPolled", 6, state_name="Copy", state_type="Action", output=transfer_status(4, 4, 8192)
            ),
            entry(
                "ActionCompleted",
                7,
                state_name="Copy",
                state_type="Action",
                output=transfer_status(4, 4, 8192),
            ),
            entry("FlowSucceeded", 7, output={"copied": 4}),
        ]
    )
    view.update_run({"status": "SUCCEEDED", "flow_title": "copy"})
    frame = text_of(view.render())
    assert "4/4 files, 8.0 KiB" in frame
    assert "✓  Copy (Action)" in frame and "5.5 s" in frame
    assert json.dumps({"copied": 4}, indent=2).splitlines()[1] in frame
    assert exit_status(view) == 0


def test_failure_shows_error_and_cause() -> None:
    view = RunView("run-2")
    view.ingest(
        [
            entry("FlowStarted", 0),
            entry("ActionStarted", 0, state_name="Copy", state_type="Action"),
            entry("ActionFailed", 2, state_name="Copy", state_type="Action", output={"status": "FAILED"}),
            entry(
                "FlowFailed",
                2,
                error="ActionFailedException",
                cause={"reason": "disk full"},
                state_name="Copy",
            ),
        ]
    )
    view.update_run({"status": "FAILED"})
    frame = text_of(view.render())
    assert "✗  Copy (Action)" in frame
    assert "Error: ActionFailedException" in frame
    assert 'Cause: {"reason":"disk full"}' in frame
    assert exit_status(view) == 1


def test_retry_and_catch_are_shown() -> None:
    view = RunView("run-3")
    events = view.ingest(
        [
            entry("ActionStarted", 0, state_name="Try", state_type="Action"),
            {
                **entry("ActionRetrying", 1, state_name="Try", state_type="Action"),
                "description": "retrying at X",
            },
            {**entry("ExceptionCaught", 2, state_name="Try", state_type="Action"), "description": "caught E"},
        ]
    )
    assert events[1] == "↻ Try: retrying at X"
    assert events[2] == "✗ Try: caught E"


def test_live_view_on_a_terminal(cli_env) -> None:  # type: ignore[no-untyped-def]
    flows = FlowsClient()
    flow_id = flows.create_flow(title="live", definition=HELLO, input_schema={})["id"]
    run_id = SpecificFlowClient(flow_id).run_flow({})["run_id"]
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    view = watch_run(flows, run_id, console=console, interval=0.05)
    assert view.status == "SUCCEEDED"
    screen = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in screen  # redrawn in place
    assert "Hi (Pass)" in screen and '"greeting": "hello"' in screen
    flows.delete_run(run_id)
    flows.delete_flow(flow_id)


TRANSFER_FAILED = {
    "action_id": "fd895eaf-d2bb-4de9-b283-7ff33ee75a99",
    "status": "FAILED",
    "details": {
        "DATA_TYPE": "task",
        "type": "TRANSFER",
        "nice_status": "FILE_NOT_FOUND",
        "files": 0,
        "bytes_transferred": 0,
        "is_ok": False,
        "fatal_error": {
            "code": "FILE_NOT_FOUND",
            "description": "'/missing/' does not exist on collection 6b1f0d2e-3c4a-4b5d-8e6f-7a8b9c0d1e2f",
            "path": "/missing/",
        },
    },
    "label": "dev run",
}


def failed_transfer_view(*, debug: bool = False) -> RunView:
    view = RunView("run-4", debug=debug)
    view.ingest(
        [
            entry("FlowStarted", 0),
            entry("ActionStarted", 0, state_name="Copy", state_type="Action"),
            entry("ActionFailed", 1, state_name="Copy", state_type="Action", output=TRANSFER_FAILED),
            entry("FlowFailed", 1, error="ActionFailedException", cause=TRANSFER_FAILED, state_name="Copy"),
        ]
    )
    view.update_run({"status": "FAILED"})
    return view


def test_a_failed_action_leads_with_the_providers_own_description() -> None:
    """Issue 18: the cause was the whole action status document (~15 lines); now one line, then where the
    rest is."""
    lines = text_of(failed_transfer_view().render()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Error:"))
    assert lines[start:] == [
        "Error: ActionFailedException (state Copy)",
        "Cause: '/missing/' does not exist on collection 6b1f0d2e-3c4a-4b5d-8e6f-7a8b9c0d1e2f "
        "(FILE_NOT_FOUND)",
        "The whole cause: openflows runs show run-4 --format json (or --debug here)",
    ]


def test_debug_shows_the_whole_cause() -> None:
    frame = text_of(failed_transfer_view(debug=True).render())
    assert "Cause: '/missing/' does not exist" in frame
    assert '"nice_status": "FILE_NOT_FOUND"' in frame
    assert "The whole cause:" in frame


def test_provider_retries_are_shown_as_they_happen() -> None:
    view = RunView("run-5")
    events = view.ingest(
        [
            entry("ActionStarted", 0, state_name="Hello", state_type="Action"),
            {
                **entry("ActionProviderRetrying", 1, state_name="Hello", state_type="Action"),
                "description": "State Hello of type Action: The action provider at https://actions.globus.org/"
                "helo_world could not be reached: ConnectError: no such host; "
                "trying again in 1 s (attempt 2 of 5)",
            },
        ]
    )
    assert events[1] == (
        "↻ Hello: The action provider at https://actions.globus.org/helo_world could not be reached: "
        "ConnectError: no such host; trying again in 1 s (attempt 2 of 5)"
    )
    frame = text_of(view.render(now=dt.datetime.fromisoformat(at(2))))
    assert "↻  Hello (Action)" in frame and "trying again in 1 s (attempt 2 of 5)" in frame


def test_a_cancelled_run_reads_cancelled() -> None:
    view = RunView("run-6")
    events = view.ingest(
        [
            entry("ActionStarted", 0, state_name="Nap", state_type="Action"),
            entry("FlowCanceled", 3),
        ]
    )
    view.update_run({"status": "FAILED", "details": {"code": "FlowCanceled"}})
    assert events[-1] == "Run cancelled"
    frame = text_of(view.render())
    assert frame.splitlines()[0].startswith("Run run-6  CANCELLED")
    assert "■  Nap (Action)" in frame
    assert "Cancelled." in frame
    assert "FAILED" not in frame
