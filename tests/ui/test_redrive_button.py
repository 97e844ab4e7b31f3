"""The run page's Redrive button (issue 19), in real headless Chromium against a real `openflows serve`: a run
that failed because a directory was missing is redriven from the page once the directory exists, and the
page follows it to SUCCEEDED; a run that ended at a Fail state shows no button."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer
from .test_browser import new_page, sign_in


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


def _run(live_server: LiveServer, definition: dict[str, Any]) -> str:
    body = {"title": f"redrive-{uuid.uuid4().hex[:6]}", "definition": definition, "input_schema": {}}
    flow_id = live_server.call(live_server.alice, "POST", "/flows", body)["id"]
    return live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}})["run_id"]


def test_a_failed_run_is_redriven_from_its_page(
    page: Any, live_server: LiveServer, tmp_path: Path, screenshots: Path
) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    key = str(uuid.uuid4())
    live_server.add_collection(key, root)
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": "/incoming", "ResultPath": "$.path", "Next": "List"},
            "List": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/ls",
                "Parameters": {"endpoint_id": key, "path.$": "$.path"},
                "ResultPath": "$.listed",
                "End": True,
            },
        },
    }
    run_id = _run(live_server, definition)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="FAILED").wait_for(timeout=30_000)
    button = page.locator("#redrive-run")
    button.wait_for()
    (root / "incoming").mkdir()
    button.click()
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    assert page.locator("#redrive-run").count() == 0
    page.locator('svg.graph .node[data-state="List"][data-status="done"]').wait_for()
    page.locator("#run-log li", has_text="FlowRedriven").wait_for()
    page.screenshot(path=screenshots / "run-redriven.png", full_page=True)
    runs_log = live_server.call(live_server.alice, "GET", f"/runs/{run_id}/log?limit=100")["entries"]
    assert [e["code"] for e in runs_log].count("PassStarted") == 1


def test_no_redrive_button_for_a_run_that_ended_at_a_fail_state(page: Any, live_server: LiveServer) -> None:
    run_id = _run(live_server, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Chosen"}}})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="FAILED").wait_for(timeout=30_000)
    page.locator("#run-log li").first.wait_for()
    assert page.locator("#redrive-run").count() == 0
