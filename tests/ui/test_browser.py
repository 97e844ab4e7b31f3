"""The dashboard in real headless Chromium against a real `openflows serve`: sign in, browse flows, start a
run from the generated form and watch it succeed, cancel a sleeping run, and check that another identity
cannot see a private run. Saves a screenshot of each page under docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer

HELLO_URL = "https://actions.globus.org/hello_world"
#: longest wait for something to appear in the page (milliseconds)
WAIT_MS = 20_000

GREETING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message", "count"],
    "properties": {
        "message": {"type": "string", "title": "message", "description": "What to echo", "minLength": 2},
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "loud": {"type": "boolean"},
        "mood": {"enum": ["happy", "calm"]},
        "names": {"type": "array", "items": {"type": "string"}},
        "options": {
            "type": "object",
            "properties": {"ratio": {"type": "number"}, "note": {"type": "string"}},
        },
    },
}
GREETING: dict[str, Any] = {
    "Comment": "Greets when count > 0",
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.count", "NumericGreaterThan": 0, "Next": "Hello"}],
            "Default": "Skip",
        },
        "Hello": {
            "Type": "Action",
            "ActionUrl": HELLO_URL,
            "Parameters": {"echo_string.$": "$.message"},
            "ResultPath": "$.hello",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops", "ResultPath": "$.error"}],
            "Next": "Done",
        },
        "Skip": {"Type": "Pass", "Next": "Done"},
        "Oops": {"Type": "Fail", "Error": "Failed", "Cause": "hello_world failed"},
        "Done": {"Type": "Succeed"},
    },
}
SLEEPY: dict[str, Any] = {
    "StartAt": "Sleep",
    "States": {
        "Sleep": {
            "Type": "Action",
            "ActionUrl": HELLO_URL,
            "Parameters": {"echo_string": "zzz", "sleep_time": 600},
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def flows(live_server: LiveServer) -> dict[str, str]:
    greeting = live_server.call(
        live_server.alice,
        "POST",
        "/flows",
        {
            "title": "Greeting",
            "subtitle": "Says hello",
            "definition": GREETING,
            "input_schema": GREETING_SCHEMA,
        },
    )
    sleepy = live_server.call(
        live_server.alice, "POST", "/flows", {"title": "Sleepy", "definition": SLEEPY, "input_schema": {}}
    )
    return {"greeting": greeting["id"], "sleepy": sleepy["id"]}


def new_page(
    browser: Any, live_server: LiveServer, *, dark: bool = False, width: int = 1100
) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": width, "height": 820},
        color_scheme="dark" if dark else "light",
        base_url=live_server.url,
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []  # script errors and CSP violations (answers with 4xx are expected)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert problems == []


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


def stray_text(page: Any) -> list[str]:
    """Text nodes sitting directly in the page's containers (e.g. a "null" from a missing optional part)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("main, main > *, .actions")].flatMap((el) =>
            [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim())
                .map((n) => n.textContent))"""
    )


def sign_in(page: Any, token: str) -> None:
    page.goto("/ui#/flows")
    page.reload()  # a full load: no earlier page's routing still under way
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator("#sign-out").wait_for()


def test_start_a_run_from_the_form_and_watch_it_succeed(
    page: Any, live_server: LiveServer, flows: dict[str, str], screenshots: Path
) -> None:
    page.goto("/ui")
    page.get_by_label("Access token").wait_for()
    assert page.locator("#local-signin").is_visible()  # loopback + admin token in OPENFLOWS_HOME
    page.screenshot(path=screenshots / "signin.png")
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("That token is not valid.").wait_for()

    sign_in(page, live_server.alice)
    page.get_by_role("link", name="Greeting").wait_for()
    page.get_by_label("Search").fill("sleep")
    page.get_by_role("link", name="Greeting").wait_for(state="detached")
    page.get_by_role("link", name="Sleepy").wait_for()
    page.get_by_label("Search").fill("")
    page.get_by_label("Role").select_option("flow_owner")
    page.get_by_role("link", name="Greeting").wait_for()
    page.screenshot(path=screenshots / "flows.png")

    page.get_by_role("link", name="Greeting").click()
    page.locator("svg.graph").wait_for()
    assert page.locator("svg.graph .node").count() == 5
    labels = page.locator("svg.graph .edge-label").all_text_contents()
    assert "$.count > 0" in labels and "Default" in labels and "Catch States.ALL" in labels
    assert stray_text(page) == []
    page.screenshot(path=screenshots / "flow.png", full_page=True)

    page.get_by_role("link", name="Start a run").click()
    page.locator("#start-form").wait_for()
    page.get_by_role("button", name="Start run").click()  # nothing filled in: messages, no request
    page.get_by_text("message is required.").wait_for()
    assert page.get_by_text("count is required.").is_visible()
    assert page.evaluate("document.activeElement.name") == "message"
    page.get_by_label("message").fill("h")
    page.get_by_label("count").fill("42")
    page.get_by_role("button", name="Start run").click()
    page.get_by_text("message must be at least 2 characters.").wait_for()
    assert page.get_by_text("count must be at most 10.").is_visible()
    page.get_by_label("message").fill("hello from the browser")
    page.get_by_label("count").fill("3")
    page.get_by_label("loud").check()
    page.get_by_label("mood").select_option(label="calm")
    page.get_by_role("button", name="Add item").click()
    page.get_by_label("names item 1").fill("ada")
    page.get_by_label("ratio").fill("0.5")
    page.get_by_label("Label").fill("browser run")
    page.get_by_label("Tags").fill("ui, test")
    page.screenshot(path=screenshots / "start.png", full_page=True)
    page.get_by_role("button", name="Start run").click()

    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    page.locator("#run-log code", has_text="FlowSucceeded").wait_for()
    page.locator('svg.graph .node[data-state="Done"][data-status="done"]').wait_for()
    statuses = {
        node.get_attribute("data-state"): node.get_attribute("data-status")
        for node in page.locator("svg.graph .node").all()
    }
    assert statuses == {
        "Check": "done",
        "Hello": "done",
        "Done": "done",
        "Skip": "notreached",
        "Oops": "notreached",
    }
    assert page.locator(".timeline li").count() == 3
    page.get_by_text("1. Check").click()  # a state's input, from the log
    assert '"names": [\n    "ada"\n  ]' in page.locator(".state-io pre").first.text_content()
    assert page.locator("#cancel-run").count() == 0  # over: nothing to cancel
    assert page.locator("#delete-run").is_visible()
    page.get_by_label("Label", exact=True).fill("renamed run")
    page.get_by_role("button", name="Relabel").click()
    page.get_by_role("heading", name="renamed run").wait_for()
    assert stray_text(page) == []
    page.screenshot(path=screenshots / "run.png", full_page=True)

    runs = live_server.call(live_server.alice, "GET", "/runs?filter_label=renamed")["runs"]
    assert len(runs) == 1 and runs[0]["tags"] == ["ui", "test"]
    assert runs[0]["status"] == "SUCCEEDED"

    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("link", name="renamed run").wait_for()
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("link", name="renamed run").wait_for(state="detached")
    page.get_by_label("Status").select_option("SUCCEEDED")
    page.get_by_role("link", name="renamed run").wait_for()
    page.get_by_label("Started after").fill("2099-01-01T00:00")
    page.get_by_text("No runs.").wait_for()
    page.get_by_label("Started after").fill("")
    page.get_by_label("Started before").fill("2099-01-01T00:00")
    page.get_by_role("link", name="renamed run").wait_for()
    page.screenshot(path=screenshots / "runs.png")

    page.locator("#sign-out").click()
    page.get_by_label("Access token").wait_for()


def test_cancel_a_sleeping_run(
    page: Any, live_server: LiveServer, flows: dict[str, str], screenshots: Path
) -> None:
    run = live_server.call(
        live_server.alice, "POST", f"/flows/{flows['sleepy']}/run", {"body": {}, "label": "sleeper"}
    )
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator('svg.graph .node[data-status="running"]').wait_for()
    page.get_by_role("button", name="Cancel run").click()
    page.locator("h1 .badge", has_text="FAILED").wait_for()
    page.locator("#run-log code", has_text="FlowCanceled").wait_for()
    page.locator('svg.graph .node[data-state="Sleep"][data-status="canceled"]').wait_for()
    assert page.locator("#cancel-run").count() == 0
    assert live_server.call(live_server.alice, "GET", f"/runs/{run['run_id']}")["status"] == "FAILED"


def test_another_identity_cannot_see_a_private_run(
    chromium_browser: Any, live_server: LiveServer, flows: dict[str, str], screenshots: Path
) -> None:
    run = live_server.call(
        live_server.alice,
        "POST",
        f"/flows/{flows['greeting']}/run",
        {"body": {"message": "hi", "count": 0}, "label": "alice private"},
    )
    for page in new_page(chromium_browser, live_server):
        sign_in(page, live_server.bob)
        page.get_by_text("No flows.").wait_for()
        page.goto(f"/ui#/runs/{run['run_id']}")
        page.get_by_text("Not found, or you may not see it.").wait_for()
        page.goto("/ui#/runs")
        page.get_by_text("No runs.").wait_for()
        assert page.get_by_text("alice private").count() == 0
        page.goto(f"/ui#/flows/{flows['greeting']}")
        page.get_by_text("Not found, or you may not see it.").wait_for()
    # the owner sees it, in the dark colour scheme on a narrow screen
    for page in new_page(chromium_browser, live_server, dark=True, width=420):
        sign_in(page, live_server.alice)
        page.goto(f"/ui#/runs/{run['run_id']}")
        page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
        page.locator('svg.graph .node[data-state="Skip"][data-status="done"]').wait_for()
        page.screenshot(path=screenshots / "run-dark-narrow.png")


def test_local_admin_one_click_sign_in(page: Any, live_server: LiveServer) -> None:
    page.goto("/ui")
    page.locator("#local-signin").click()
    page.locator(".identity", has_text="admin").wait_for()
    page.get_by_role("heading", name="Flows").wait_for()


def test_the_run_log_analysis_reports_failures_cancels_and_transfer_progress(page: Any) -> None:
    page.goto("/ui")
    entries = [
        {"time": "2026-01-01T00:00:00+00:00", "code": "FlowStarted", "details": {"input": {}}},
        *[
            {"time": t, "code": code, "details": {"state_name": name, "state_type": kind, **extra}}
            for t, code, name, kind, extra in [
                ("2026-01-01T00:00:01+00:00", "ActionStarted", "Copy", "Action", {"input": {"a": 1}}),
                (
                    "2026-01-01T00:00:02+00:00",
                    "ActionPolled",
                    "Copy",
                    "Action",
                    {"output": {"status": "ACTIVE", "details": {"files": 4, "files_transferred": 1}}},
                ),
                (
                    "2026-01-01T00:00:03+00:00",
                    "ActionPolled",
                    "Copy",
                    "Action",
                    {
                        "output": {
                            "status": "ACTIVE",
                            "details": {"files": 4, "files_transferred": 3, "bytes_transferred": 300},
                        }
                    },
                ),
                (
                    "2026-01-01T00:00:04+00:00",
                    "ActionFailed",
                    "Copy",
                    "Action",
                    {"output": {"status": "FAILED"}},
                ),
                ("2026-01-01T00:00:05+00:00", "PassStarted", "Tidy", "Pass", {"input": {}}),
                ("2026-01-01T00:00:06+00:00", "PassCompleted", "Tidy", "Pass", {"output": {"ok": True}}),
                ("2026-01-01T00:00:07+00:00", "WaitStarted", "Nap", "Wait", {"input": {}}),
            ]
        ],
        {"time": "2026-01-01T00:00:08+00:00", "code": "FlowCanceled", "details": {}},
    ]
    result = page.evaluate(
        """async (entries) => {
            const { analyseLog } = await import("/ui/static/runlog.js");
            const { describeRule } = await import("/ui/static/graph.js");
            const analysis = analyseLog(entries);
            return {
                statuses: analysis.statuses,
                transfer: analysis.transfer,
                visits: analysis.visits.map((v) => [v.name, v.status, v.end]),
                rules: [
                    describeRule({ Variable: "$.n", NumericGreaterThanEquals: 2 }),
                    describeRule({
                        And: [
                            { Variable: "$.s", StringEquals: "x" },
                            { Not: { Variable: "$.b", IsPresent: true } },
                        ],
                    }),
                ],
            };
        }""",
        entries,
    )
    assert result["statuses"] == {"Copy": "failed", "Tidy": "done", "Nap": "canceled"}
    assert result["transfer"] == {
        "state": "Copy",
        "time": "2026-01-01T00:00:03+00:00",
        "files": 4,
        "files_transferred": 3,
        "bytes_transferred": 300,
    }
    assert result["visits"] == [
        ["Copy", "failed", "2026-01-01T00:00:04+00:00"],
        ["Tidy", "done", "2026-01-01T00:00:06+00:00"],
        ["Nap", "canceled", "2026-01-01T00:00:08+00:00"],
    ]
    assert result["rules"] == ["$.n >= 2", '$.s == "x" and not($.b IsPresent)']
