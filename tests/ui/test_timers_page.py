"""The dashboard's Timers pages in real headless Chromium against a real `openflows serve`: the signed-in
identity's timers (and only theirs) with their next firing and last result, pause and resume from the list
(a timer that lost its consent is resumed with new credentials), a timer's page with its recent results
linking to the runs they started, and delete."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer
from .test_browser import new_page, sign_in, stray_text

ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


def timer(live_server: LiveServer, token: str, flow_id: str, name: str, schedule: dict[str, Any]) -> str:
    payload = {
        "timer": {
            "timer_type": "flow",
            "flow_id": flow_id,
            "name": name,
            "schedule": schedule,
            "body": {"body": {"from": name}, "label": name},
        }
    }
    return str(live_server.call(token, "POST", "/v2/timer", payload)["timer"]["job_id"])


def wait_for_runs(live_server: LiveServer, token: str, job_id: str, runs: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job = live_server.call(token, "GET", f"/jobs/{job_id}")
        if job["number_of_runs"] >= runs and all(
            r["data"]["status"] == "SUCCEEDED" for r in job["results"]["data"]
        ):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_the_timers_pages(page: Any, live_server: LiveServer, screenshots: Path) -> None:
    alice, bob = live_server.alice, live_server.bob
    flow = live_server.call(
        alice, "POST", "/flows", {"title": "Timed echo", "definition": ECHO, "input_schema": {}}
    )
    hourly = timer(
        live_server, alice, flow["id"], "hourly echo", {"type": "recurring", "interval_seconds": 3600}
    )
    later = timer(
        live_server, alice, flow["id"], "new year", {"type": "once", "datetime": "2099-01-01T00:00:00Z"}
    )
    bobs_flow = live_server.call(
        bob, "POST", "/flows", {"title": "Bob's", "definition": ECHO, "input_schema": {}}
    )
    timer(live_server, bob, bobs_flow["id"], "bob's timer", {"type": "once"})
    fired = wait_for_runs(live_server, alice, hourly, 1)  # its first occurrence is due at once
    # a timer whose run can no longer start (the flow's input schema changed): inactive, with the reason
    strict = live_server.call(
        alice, "POST", "/flows", {"title": "Strict", "definition": ECHO, "input_schema": {}}
    )
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
    broken = timer(live_server, alice, strict["id"], "broken", {"type": "once", "datetime": soon})
    live_server.call(
        alice, "PUT", f"/flows/{strict['id']}", {"input_schema": {"type": "object", "required": ["missing"]}}
    )
    deadline = time.monotonic() + 30
    while live_server.call(alice, "GET", f"/jobs/{broken}")["status"] != "inactive":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    sign_in(page, alice)
    page.get_by_role("link", name="Timers", exact=True).click()
    page.get_by_role("link", name="hourly echo").wait_for()
    assert page.get_by_role("link", name="new year").is_visible()
    assert page.get_by_text("bob's timer").count() == 0  # someone else's timer is not there
    row = page.locator(f'tr[data-job="{hourly}"]')
    assert "every hour" in row.text_content() and "SUCCEEDED" in row.text_content()
    assert "2099" in page.locator(f'tr[data-job="{later}"] .next-run').text_content()
    broken_row = page.locator(f'tr[data-job="{broken}"]')
    assert "inactive" in broken_row.text_content() and "FLOW_INPUT_ERROR" in broken_row.text_content()
    page.screenshot(path=screenshots / "timers.png", full_page=True)
    page.get_by_role("link", name="broken").click()
    page.locator("#inactive-reason", has_text="FLOW_INPUT_ERROR").wait_for()
    assert page.locator("#resume-" + broken).is_visible()
    page.go_back()
    row.wait_for()

    page.locator(f"#pause-{hourly}").click()
    row.locator(".badge", has_text="inactive").wait_for()
    assert live_server.call(alice, "GET", f"/jobs/{hourly}")["inactive_reason"] == {
        "cause": "user",
        "detail": None,
    }
    with page.expect_request(lambda request: request.url.endswith(f"/jobs/{hourly}/resume")) as sent:
        page.locator(f"#resume-{hourly}").click()
    assert sent.value.post_data_json == {}  # paused by its owner: its grant is kept
    row.locator(".badge", has_text="loaded").wait_for()
    assert live_server.call(alice, "GET", f"/jobs/{hourly}")["status"] == "loaded"

    page.get_by_role("link", name="hourly echo").click()
    page.locator("#timer-results").wait_for()
    assert page.locator("#timer-runs").text_content() == "1"
    assert page.locator("#next-firing").text_content() not in ("", "—")
    run_id = fired["results"]["data"][0]["data"]["run_id"]
    assert stray_text(page) == []
    page.screenshot(path=screenshots / "timer.png", full_page=True)
    page.get_by_role("link", name=run_id).click()
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    page.go_back()
    page.locator("#delete-timer").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#delete-timer").click()
    page.locator("#timers").wait_for()
    page.get_by_role("link", name="hourly echo").wait_for(state="detached")
    assert {job["job_id"] for job in live_server.call(alice, "GET", "/jobs/")["jobs"]} == {later, broken}


HELLO = {
    "StartAt": "Hello",
    "States": {
        "Hello": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string": "from a timer"},
            "ResultPath": "$.hello",
            "End": True,
        }
    },
}


def test_resume_renews_the_credentials_of_a_timer_that_lost_them(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    """Resume on a timer made inactive by a grant that no longer works sends `update_credentials: true`
    (as `openflows timers resume` and `globus timer resume` do): the timer takes a new grant from the
    signed-in identity's token and its next run acts as them again."""
    alice = live_server.alice
    flow = live_server.call(
        alice, "POST", "/flows", {"title": "Timed hello", "definition": HELLO, "input_schema": {}}
    )
    # the timer is created with a second token of alice's, on which its grant rests, and paused at once
    other = live_server.process.create_token("alice")["token"]
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).isoformat()
    schedule = {"type": "recurring", "interval_seconds": 2, "start": start}
    job_id = timer(live_server, other, flow["id"], "hello every 2 s", schedule)
    try:
        live_server.call(alice, "POST", f"/jobs/{job_id}/pause")
        # that token goes; resumed as it was (no new credentials), its next firing cannot act as alice
        live_server.process.cli("tokens", "revoke", other)
        live_server.call(alice, "POST", f"/jobs/{job_id}/resume", {})
        deadline = time.monotonic() + 30
        while (job := live_server.call(alice, "GET", f"/jobs/{job_id}"))["status"] != "inactive":
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["inactive_reason"]["cause"] == "globus_auth_requirements"
        assert (job["number_of_runs"], job["results"]["data"][0]["errors"][0]["code"]) == (
            0,
            "ConsentRequired",
        )

        sign_in(page, alice)
        page.get_by_role("link", name="Timers", exact=True).click()
        row = page.locator(f'tr[data-job="{job_id}"]')
        row.locator(".badge", has_text="inactive").wait_for()
        with page.expect_request(lambda request: request.url.endswith(f"/jobs/{job_id}/resume")) as sent:
            page.locator(f"#resume-{job_id}").click()
        assert sent.value.method == "POST"
        assert sent.value.post_data_json == {"update_credentials": True}
        # the new grant works: the next firing's run reaches hello_world as alice
        deadline = time.monotonic() + 30
        while True:
            job = live_server.call(alice, "GET", f"/jobs/{job_id}")
            started = [result["data"] for result in job["results"]["data"] if result["data"]]
            if started and started[-1]["status"] == "SUCCEEDED":  # the first run (results: newest first)
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["inactive_reason"] is None and job["status"] != "inactive"
        run = live_server.call(alice, "GET", f"/runs/{started[-1]['run_id']}")
        assert run["status"] == "SUCCEEDED"
        assert run["run_owner"] == flow["flow_owner"]  # alice
        assert run["details"]["output"]["hello"]["details"] == {"Hello": "World", "hello": "from a timer"}
        page.screenshot(path=screenshots / "timer-credentials.png", full_page=True)
    finally:
        live_server.call(alice, "DELETE", f"/jobs/{job_id}")
