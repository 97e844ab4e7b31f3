"""The dashboard in real headless Chromium against a real `openflows serve`: sign in, browse flows, start a
run from the generated form and watch it succeed, cancel a sleeping run, and check that another identity
cannot see a private run. Saves a screenshot of each page under docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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
    page.get_by_role("button", name="Sign in with token", exact=True).click()
    page.locator("#sign-out").wait_for()


def test_start_a_run_from_the_form_and_watch_it_succeed(
    page: Any, live_server: LiveServer, flows: dict[str, str], screenshots: Path
) -> None:
    page.goto("/ui")
    page.get_by_label("Access token").wait_for()
    assert page.locator("#local-signin").is_visible()  # loopback + admin token in OPENFLOWS_HOME
    page.screenshot(path=screenshots / "signin.png")
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in with token", exact=True).click()
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
    page.locator("h1 .badge", has_text="CANCELLED").wait_for()  # the API says FAILED + FlowCanceled
    page.locator("#run-log code", has_text="FlowCanceled").wait_for()
    page.locator('svg.graph .node[data-state="Sleep"][data-status="canceled"]').wait_for()
    assert page.locator("#cancel-run").count() == 0
    assert page.locator("#run-reason").text_content() == ""  # canceled, not failed: no error to show
    assert live_server.call(live_server.alice, "GET", f"/runs/{run['run_id']}")["status"] == "FAILED"
    page.goto("/ui#/runs")
    row = page.locator(f'tr[data-run="{run["run_id"]}"]')
    assert row.locator(".badge").text_content() == "CANCELLED"
    page.goto(f"/ui#/flows/{flows['sleepy']}")
    assert page.locator(f'tr[data-run="{run["run_id"]}"] .badge').text_content() == "CANCELLED"

    # a failed run says why
    broken = live_server.call(
        live_server.alice,
        "POST",
        "/flows",
        {
            "title": "Broken",
            "definition": {
                "StartAt": "Boom",
                "States": {"Boom": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}},
            },
            "input_schema": {},
        },
    )
    failed = live_server.call(live_server.alice, "POST", f"/flows/{broken['id']}/run", {"body": {}})
    page.goto(f"/ui#/runs/{failed['run_id']}")
    page.locator("h1 .badge", has_text="FAILED").wait_for()
    page.locator("#run-reason .notice").wait_for()
    reason = page.locator("#run-reason").text_content()
    assert reason == "Broken in state Boom: on purpose"  # a text cause: nothing more to show


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


def test_sign_in_through_the_sign_in_and_consent_pages(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    page.goto("/ui#/runs")
    page.reload()
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Wrong username or password.").wait_for()
    assert page.get_by_label("Username").input_value() == "dana"
    page.get_by_label("Password").fill(live_server.dana_password)
    page.screenshot(path=screenshots / "signin-password.png")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Allow OpenFlows dashboard?").wait_for()
    assert "eec9b274-0c81-4334-bdc2-54e90e689b9a/all" in page.locator("#requested-scopes").text_content()
    page.screenshot(path=screenshots / "consent.png")
    page.get_by_role("button", name="Allow").click()
    page.locator(".identity", has_text="dana").wait_for()
    page.get_by_role("heading", name="Runs").wait_for()  # back where the person was going
    assert page.evaluate("location.hash") == "#/runs"

    page.locator("#sign-out").click()
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_label("Password").wait_for()  # signing out of the dashboard signed out of the pages too


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


CONSENT_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/hello_world"
CONSENT: dict[str, Any] = {
    "StartAt": "Consent",
    "States": {
        "Consent": {
            "Type": "Action",
            "ActionUrl": HELLO_URL,
            "Parameters": {
                "echo_string": "after consent",
                "required_dependent_scope": CONSENT_SCOPE,
            },
            "ResultPath": "$.hello",
            "End": True,
        }
    },
}
QUICK: dict[str, Any] = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}


def test_resume_and_delete_are_offered_to_the_owner_only(
    chromium_browser: Any, live_server: LiveServer, screenshots: Path
) -> None:
    flow = live_server.call(
        live_server.alice, "POST", "/flows", {"title": "Consent", "definition": CONSENT, "input_schema": {}}
    )
    bob = live_server.identity_urn(live_server.bob)
    run = live_server.call(
        live_server.alice,
        "POST",
        f"/flows/{flow['id']}/run",
        {"body": {}, "label": "needs consent", "run_monitors": [bob]},
    )
    run_id = run["run_id"]

    # a run monitor sees the run and its log, but no button
    for page in new_page(chromium_browser, live_server):
        sign_in(page, live_server.bob)
        page.goto(f"/ui#/runs/{run_id}")
        page.locator("h1 .badge", has_text="INACTIVE").wait_for()
        page.locator("#run-log code", has_text="FlowInactive").wait_for()
        assert page.locator(".actions > *").count() == 0
    inactive = live_server.call(live_server.alice, "GET", f"/runs/{run_id}")
    assert inactive["status"] == "INACTIVE"
    assert inactive["details"]["code"] == "ConsentRequired"

    for page in new_page(chromium_browser, live_server):
        sign_in(page, live_server.alice)
        page.goto(f"/ui#/runs/{run_id}")
        page.locator("h1 .badge", has_text="INACTIVE").wait_for()
        page.locator('svg.graph .node[data-state="Consent"][data-status="waiting"]').wait_for()
        reason = page.locator("#run-reason").text_content()
        assert reason.startswith("ConsentRequired: ") and CONSENT_SCOPE in reason
        assert page.locator("#cancel-run").is_visible()  # not over yet
        assert page.locator("#delete-run").count() == 0  # only finished runs can be deleted
        page.screenshot(path=screenshots / "run-inactive.png", full_page=True)
        # the resume makes the run ACTIVE; the engine resumes the hello_world action, which then succeeds
        page.get_by_role("button", name="Resume").click()
        page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
        page.locator("#run-log code", has_text="FlowResumed").wait_for()
        page.locator("#run-log code", has_text="FlowSucceeded").wait_for()
        page.locator('svg.graph .node[data-state="Consent"][data-status="done"]').wait_for()
        assert page.locator("#resume-run").count() == 0
        assert page.locator("#run-reason").text_content() == ""
        codes = [
            e["code"] for e in live_server.call(live_server.alice, "GET", f"/runs/{run_id}/log")["entries"]
        ]
        assert codes.index("FlowInactive") < codes.index("FlowResumed") < codes.index("ActionCompleted")
        done = live_server.call(live_server.alice, "GET", f"/runs/{run_id}")
        assert done["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "after consent"}

        # the monitor still gets no Delete on the finished run
        for other in new_page(chromium_browser, live_server):
            sign_in(other, live_server.bob)
            other.goto(f"/ui#/runs/{run_id}")
            other.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
            assert other.locator(".actions > *").count() == 0

        # Delete asks first: dismissing keeps the run
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete run").click()
        assert live_server.call(live_server.alice, "GET", f"/runs/{run_id}")["status"] == "SUCCEEDED"
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete run").click()
        page.get_by_role("heading", name="Runs").wait_for()
        assert page.get_by_role("link", name="needs consent").count() == 0
        page.goto(f"/ui#/runs/{run_id}")
        page.get_by_text("Not found, or you may not see it.").wait_for()
    response = httpx.get(
        f"{live_server.url}/runs/{run_id}", headers={"Authorization": f"Bearer {live_server.alice}"}
    )
    assert response.status_code == 404


def test_lists_page_through_more_than_fifty_items_and_filter_runs_by_flow(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    token = live_server.carol
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        flow_ids = []
        for n in range(55):
            response = client.post(
                "/flows", json={"title": f"Bulk {n:02d}", "definition": QUICK, "input_schema": {}}
            )
            assert response.status_code == 201, response.text
            flow_ids.append(response.json()["id"])
        for n in range(53):
            flow_id = flow_ids[0] if n < 50 else flow_ids[1]
            response = client.post(f"/flows/{flow_id}/run", json={"body": {}, "label": f"bulk run {n:02d}"})
            assert response.status_code == 201, response.text

    sign_in(page, token)
    rows = page.locator("table.list tbody tr")
    page.get_by_role("link", name="Bulk 00").or_(page.get_by_role("link", name="Bulk 54")).first.wait_for()
    assert rows.count() == 50
    assert page.locator("#prev-page").is_hidden()
    first_page = set(rows.locator("a").all_text_contents())
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("Page 2").wait_for()
    assert rows.count() == 5
    assert page.locator("#next-page").is_hidden()
    second_page = set(rows.locator("a").all_text_contents())
    assert first_page.isdisjoint(second_page)
    assert first_page | second_page == {f"Bulk {n:02d}" for n in range(55)}
    page.get_by_role("button", name="Previous page").click()
    page.get_by_text("Page 1").wait_for()
    assert rows.count() == 50
    page.get_by_label("Search").fill("Bulk 07")  # a new search starts again at page 1
    page.get_by_role("link", name="Bulk 07").wait_for()
    page.locator(".pager").wait_for(state="hidden")

    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_text("Page 1").wait_for()
    assert rows.count() == 50
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("Page 2").wait_for()
    assert rows.count() == 3
    # the live refresh (every 3 s) stays on the page shown
    shown = page.locator("#runs-updated").text_content()
    page.wait_for_function(
        "(shown) => document.getElementById('runs-updated').textContent !== shown", arg=shown
    )
    assert rows.count() == 3
    page.screenshot(path=screenshots / "runs-page-2.png")

    picker = page.get_by_label("Flow", exact=True)
    assert picker.locator("option").count() == 56  # any flow + every flow carol can see
    picker.select_option(label="Bulk 01")  # a new filter starts again at page 1
    page.get_by_role("link", name="bulk run 52").wait_for()
    assert sorted(rows.locator("td:first-child a").all_text_contents()) == [
        "bulk run 50",
        "bulk run 51",
        "bulk run 52",
    ]
    assert page.locator(".pager").is_hidden()
    page.get_by_label("Label").fill("run 51")
    page.get_by_role("link", name="bulk run 50").wait_for(state="detached")
    assert rows.count() == 1
    picker.select_option(label="any flow")
    page.get_by_label("Label").fill("")
    page.get_by_label("Flow title").fill("Bulk 01")
    # "bulk run 50" is on the unfiltered page too: wait for the filtered list itself, not for one of its rows
    page.wait_for_function("() => document.querySelectorAll('table.list tbody tr').length === 3")
    page.get_by_role("link", name="bulk run 50").wait_for()
    assert rows.count() == 3

    # a flow page lists its 20 latest runs and links to all of them in the runs list
    page.get_by_label("Flow title").fill("")
    page.get_by_role("link", name="Bulk 00").first.click()
    page.get_by_role("link", name="All runs of this flow").wait_for()
    assert page.locator("table.runs tbody tr").count() == 20
    page.get_by_role("link", name="All runs of this flow").click()
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_role("link", name="bulk run 00").wait_for()
    assert picker.input_value() == flow_ids[0]
    assert rows.count() == 50
    assert set(rows.locator("td:nth-child(2)").all_text_contents()) == {"Bulk 00"}


SOURCE_COLLECTION = "6b1f0a5e-0000-4000-8000-00000000a001"
DESTINATION_COLLECTION = "6b1f0a5e-0000-4000-8000-00000000a002"
COPY: dict[str, Any] = {
    "StartAt": "Copy",
    "States": {
        "Copy": {
            "Type": "Action",
            "ActionUrl": "https://transfer.actions.globus.org/transfer",
            "Parameters": {
                "source_endpoint": SOURCE_COLLECTION,
                "destination_endpoint": DESTINATION_COLLECTION,
                "DATA": [{"source_path": "/data", "destination_path": "/copy", "recursive": True}],
                "verify_checksum": True,
                "__Private_Parameters": ["verify_checksum"],
            },
            "ResultPath": "$.copied",
            "Next": "Tidy",
        },
        "Tidy": {"Type": "Pass", "Result": {"ok": True}, "ResultPath": "$.tidy", "End": True},
    },
}


def test_transfer_progress_and_redacted_state_data_on_the_run_page(
    page: Any, live_server: LiveServer, tmp_path: Path, screenshots: Path
) -> None:
    source, destination = tmp_path / "source", tmp_path / "destination"
    (source / "data").mkdir(parents=True)
    destination.mkdir()
    for n in range(3):
        (source / "data" / f"f{n}.txt").write_text("x" * (100 * (n + 1)))
    live_server.add_collection(SOURCE_COLLECTION, source)
    live_server.add_collection(DESTINATION_COLLECTION, destination)
    flow = live_server.call(
        live_server.alice, "POST", "/flows", {"title": "Copier", "definition": COPY, "input_schema": {}}
    )
    run = live_server.call(
        live_server.alice,
        "POST",
        f"/flows/{flow['id']}/run",
        {"body": {"note": "shown", "_private_secret": "s3cret-value"}, "label": "copy run"},
    )
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    page.locator('svg.graph .node[data-state="Tidy"][data-status="done"]').wait_for()
    assert sorted(p.name for p in (destination / "copy").iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    box = page.locator(".transfer")
    box.wait_for()
    assert box.locator("h3").text_content() == "Transfer progress (Copy)"
    assert box.locator("p").text_content() == "3 of 3 files, 600 B transferred"
    assert box.locator("progress").get_attribute("max") == "3"
    assert page.evaluate("document.querySelector('.transfer progress').value") == 3

    for summary in page.locator(".state-io summary").all():
        summary.click()  # open every state's input and output
    data = page.locator(".states").text_content()
    assert '"note": "shown"' in data and '"ok": true' in data
    copy_input = page.locator(".state-io").first.locator("pre").first.text_content()
    assert '"verify_checksum": "<redacted>"' in copy_input  # the Action's __Private_Parameters
    page.get_by_text("Run document").click()
    page.locator("#run-log code", has_text="FlowSucceeded").wait_for()
    assert "s3cret-value" not in page.locator("main").text_content()  # the API redacts _private* keys
    assert "_private_secret" not in page.locator("main").text_content()
    page.screenshot(path=screenshots / "run-transfer.png", full_page=True)


def test_keyboard_only_sign_in_and_navigation(
    page: Any, live_server: LiveServer, flows: dict[str, str]
) -> None:
    page.goto("/ui")
    page.get_by_label("Access token").wait_for()
    page.reload()
    page.get_by_label("Access token").wait_for()
    assert page.evaluate("document.activeElement.id") == "openflows-signin"  # focus starts on "Sign in"
    page.keyboard.press("Tab")  # then the token field
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(live_server.alice)
    page.keyboard.press("Enter")  # submits the form
    page.locator("#sign-out").wait_for()
    page.get_by_role("link", name="Greeting").wait_for()
    page.locator(".brand").focus()
    page.keyboard.press("Shift+Tab")  # before the brand: the skip link, shown when focused
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator(".skip").bounding_box()["x"] >= 0
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.keyboard.press("Enter")  # to the content, leaving the route alone
    assert page.evaluate("[document.activeElement.id, location.hash]") == ["main", "#/flows"]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "flow-search"
    for _ in range(30):  # tab along to the flow's link and open it with Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Greeting":
            break
    else:
        raise AssertionError("Tab never reached the Greeting link")
    page.keyboard.press("Enter")
    page.locator("svg.graph").wait_for()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "start-run":
            break
    else:
        raise AssertionError("Tab never reached Start a run")
    page.keyboard.press("Enter")
    page.locator("#start-form").wait_for()
    # every form control has a label
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("main input, main select, main textarea")]
            .filter((c) => !c.labels || c.labels.length === 0).map((c) => c.id || c.name)"""
    )
    assert unlabelled == []


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_narrow_screens_fit_and_both_colour_schemes_are_readable(
    chromium_browser: Any, live_server: LiveServer, flows: dict[str, str], dark: bool
) -> None:
    run = live_server.call(
        live_server.alice,
        "POST",
        f"/flows/{flows['greeting']}/run",
        {"body": {"message": "narrow", "count": 1}, "label": "narrow run"},
    )
    for page in new_page(chromium_browser, live_server, dark=dark, width=360):
        sign_in(page, live_server.alice)
        for hash_, ready in [
            ("#/flows", "table.list"),
            (f"#/flows/{flows['greeting']}", "svg.graph"),
            (f"#/flows/{flows['greeting']}/start", "#start-form"),
            ("#/runs", "table.list"),
            (f"#/runs/{run['run_id']}", 'svg.graph .node[data-state="Done"][data-status="done"]'),
        ]:
            page.goto(f"/ui{hash_}")
            page.locator(ready).first.wait_for()
            # nothing wider than the screen: the page never scrolls sideways (the graph scrolls in its box)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, hash_
            colours = page.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.body).color]"
            )
            background, text = (luminance(colour) for colour in colours)
            assert (background < 0.1) if dark else (background > 0.9)
            assert contrast(background, text) >= 7, (hash_, colours)


def luminance(css_colour: str) -> float:
    """Relative luminance (WCAG) of an `rgb(r, g, b)` colour."""
    values = [int(v) / 255 for v in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in values]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def test_a_failed_transfer_leads_with_the_providers_description(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    """Issue 18: the banner cut the cause at 500 characters, before Transfer's `fatal_error.description`."""
    source = tmp_path / "empty-source"
    source.mkdir()
    live_server.add_collection(MISSING_COLLECTION, source)
    missing = {
        "StartAt": "Copy",
        "States": {
            "Copy": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/transfer",
                "Parameters": {
                    "source_endpoint": MISSING_COLLECTION,
                    "destination_endpoint": MISSING_COLLECTION,
                    "DATA": [{"source_path": "/missing/", "destination_path": "/out/", "recursive": True}],
                },
                "End": True,
            }
        },
    }
    flow = live_server.call(
        live_server.alice, "POST", "/flows", {"title": "Missing", "definition": missing, "input_schema": {}}
    )
    run = live_server.call(live_server.alice, "POST", f"/flows/{flow['id']}/run", {"body": {}})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("h1 .badge", has_text="FAILED").wait_for()
    page.locator("#run-reason .notice").wait_for()
    assert page.locator("#run-reason .reason").text_content() == (
        f"ActionFailedException in state Copy: '/missing/' does not exist on collection {MISSING_COLLECTION} "
        "(FILE_NOT_FOUND)"
    )
    whole = page.locator("#run-reason details.cause")
    assert not whole.locator("pre").is_visible()  # the rest on demand
    whole.locator("summary").click()
    assert '"nice_status": "FILE_NOT_FOUND"' in whole.locator("pre").text_content()


MISSING_COLLECTION = "6b1f0a5e-0000-4000-8000-00000000a003"


def test_provider_retries_show_on_the_run_page_as_they_happen(page: Any, live_server: LiveServer) -> None:
    unreachable = {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Action", "ActionUrl": "http://127.0.0.1:9/nothing-listens", "End": True}
        },
    }
    flow = live_server.call(
        live_server.alice,
        "POST",
        "/flows",
        {"title": "Unreachable", "definition": unreachable, "input_schema": {}},
    )
    run = live_server.call(live_server.alice, "POST", f"/flows/{flow['id']}/run", {"body": {}})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("#run-log code", has_text="ActionProviderRetrying").first.wait_for()
    page.locator("#run-reason .notice", has_text="Retrying: ").wait_for()
    reason = page.locator("#run-reason").text_content()
    assert "could not be reached" in reason and "(attempt 2 of 5)" in reason
    page.get_by_role("button", name="Cancel run").click()  # no need to wait for the 15 s of retries
    page.locator("h1 .badge", has_text="CANCELLED").wait_for()


def test_presentation_rules_match_the_clis(page: Any, live_server: LiveServer) -> None:
    """present.js follows cli/describe.py: IEC sizes, the provider's description first, CANCELLED."""
    from openflows.cli.describe import cause_reason, format_size

    sizes = [0, 512, 1023, 1024, 600006, 96000000, 1048575, 2**30]
    causes: list[Any] = [
        "plain text",
        {"details": {"fatal_error": {"code": "FILE_NOT_FOUND", "description": "'/x' does not exist"}}},
        {"status": "FAILED", "details": {"code": "Oops", "description": "line one\n  line two"}},
        {"code": "ActionProviderUnreachable", "description": "could not be reached"},
        {"reason": "disk full"},
        {"Error": "E", "Cause": "because"},
    ]
    page.goto("/ui")
    result = page.evaluate(
        """async ([sizes, causes]) => {
            const p = await import("/ui/static/present.js");
            return {
                sizes: sizes.map(p.formatBytes),
                causes: causes.map(p.causeReason),
                cancelled: p.displayStatus({ status: "FAILED", details: { code: "FlowCanceled" } }),
                failed: p.displayStatus({ status: "FAILED", details: { code: "FlowFailed" } }),
            };
        }""",
        [sizes, causes],
    )
    assert result["sizes"] == [format_size(n) for n in sizes]
    assert result["sizes"][4:6] == ["585.9 KiB", "91.6 MiB"]
    assert result["causes"] == [cause_reason(c) for c in causes]
    assert (result["cancelled"], result["failed"]) == ("CANCELLED", "FAILED")
