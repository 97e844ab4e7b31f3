"""A person in the loop, in real headless Chromium against a real `openflows serve`: alice's run asks bob a
question; bob opens the link from the notification the server wrote to its outbox, signs in, sees the question
(a table) with the run and flow it comes from, and answers with one click; alice's run page, open all along,
shows the run going on and succeeding without a reload. carol, a viewer, sees the question but cannot answer.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.crashkit import wait_until

from .conftest import LiveServer
from .test_browser import WAIT_MS, new_page, stray_text


def asking_flow(bob: str, carol: str) -> dict[str, Any]:
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "context": {
                        "title": "Publish reconstruction?",
                        "presentation_style": "table",
                        "rows": [
                            {"field": "Dataset", "value.$": "$.dataset"},
                            {"field": "Size", "value": "12 GB"},
                        ],
                    },
                    "options": [
                        {"label": "Publish", "description": "Make it public now"},
                        {"label": "Discard", "description": "Delete the reconstruction"},
                    ],
                    "roles": {"respondent_urns": [bob], "viewer_urns": [carol]},
                },
                "ResultPath": "$.question",
                "Next": "Wait",
            },
            "Wait": {
                "Type": "AwaitWebInput",
                "Parameters": {"WebInputId.$": "$.question.id"},
                "ResultPath": "$.decision",
                "End": True,
            },
        },
    }


def notification_to(outbox: Path, urn: str) -> email.message.EmailMessage | None:
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["X-OpenFlows-Recipient"] == urn and message["X-OpenFlows-Kind"] == "web_input":
            return message  # type: ignore[return-value]
    return None


@pytest.fixture
def pages(chromium_browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, Any, Any]]:
    alice = new_page(chromium_browser, live_server)
    bob = new_page(chromium_browser, live_server)
    carol = new_page(chromium_browser, live_server)
    yield next(alice), next(bob), next(carol)
    for pages_of in (alice, bob, carol):
        with pytest.raises(StopIteration):
            next(pages_of)


def sign_in_here(page: Any, token: str) -> None:
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in with token", exact=True).click()
    page.locator("#sign-out").wait_for()


def test_bob_answers_from_the_link_in_his_notification(
    pages: tuple[Any, Any, Any], live_server: LiveServer, screenshots: Path
) -> None:
    alice_page, bob_page, carol_page = pages
    bob_urn = live_server.identity_urn(live_server.bob)
    carol_urn = live_server.identity_urn(live_server.carol)
    flow = live_server.call(
        live_server.alice,
        "POST",
        "/flows",
        {"title": "Reconstruction", "definition": asking_flow(bob_urn, carol_urn), "input_schema": {}},
    )
    run = live_server.call(
        live_server.alice,
        "POST",
        f"/flows/{flow['id']}/run",
        {"body": {"dataset": "scan-042"}, "label": "scan 42"},
    )
    run_id = run["run_id"]

    # alice watches her run: it waits for an answer
    alice_page.goto("/ui#/flows")
    sign_in_here(alice_page, live_server.alice)
    alice_page.goto(f"/ui#/runs/{run_id}")
    alice_page.locator("#run-waits-for").wait_for()
    alice_page.locator("#run-log code", has_text="AwaitWebInputStarted").wait_for()

    # bob's notification, in the server's outbox, links to the question
    outbox = live_server.process.home / "outbox"
    message = wait_until(
        lambda: notification_to(outbox, bob_urn), timeout=WAIT_MS / 1000, what="bob's notice"
    )
    link = message["X-OpenFlows-Link"]
    web_input_id = live_server.call(live_server.alice, "GET", f"/runs/{run_id}")["blocking_web_input_id"]
    assert link == f"{live_server.url}/ui#/web-inputs/{web_input_id}"
    assert link in message.get_content() and "scan-042" in message.get_content()

    bob_page.goto(link)
    sign_in_here(bob_page, live_server.bob)  # back to the question once signed in
    bob_page.get_by_role("heading", name="Publish reconstruction?").wait_for()
    context = bob_page.locator("#web-input-context")
    assert context.locator("th").all_text_contents() == ["Dataset", "Size"]
    assert context.locator("td").all_text_contents() == ["scan-042", "12 GB"]
    origin = bob_page.locator("#web-input-origin")
    assert origin.get_by_role("link", name="scan 42").get_attribute("href") == f"#/runs/{run_id}"
    assert origin.get_by_role("link", name="Reconstruction").is_visible()
    assert bob_page.get_by_text("Make it public now").is_visible()
    assert stray_text(bob_page) == []
    bob_page.screenshot(path=screenshots / "web-input.png", full_page=True)

    # carol may look, not answer
    carol_page.goto(link)
    sign_in_here(carol_page, live_server.carol)
    carol_page.get_by_role("heading", name="Publish reconstruction?").wait_for()
    carol_page.get_by_text("only its respondents may answer it").wait_for()
    assert carol_page.locator("button.option").count() == 0

    # one click answers, and says so
    bob_page.get_by_role("button", name="Discard").click()
    confirmation = bob_page.locator("#web-input-confirmation")
    confirmation.wait_for()
    assert "Your answer “Discard” was recorded" in confirmation.text_content()
    bob_page.locator("h1 .badge", has_text="closed").wait_for()
    assert bob_page.locator("button.option").count() == 0

    # alice's page, never reloaded, follows the run to its end
    alice_page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    alice_page.locator("#run-log code", has_text="AwaitWebInputCompleted").wait_for()
    assert alice_page.locator("#run-waits-for").count() == 0
    decision = live_server.call(live_server.alice, "GET", f"/runs/{run_id}")["details"]["output"]["decision"]
    assert (decision["option"]["label"], decision["respondent_urn"]) == ("Discard", bob_urn)

    # the list shows the closed question to bob, and nothing open
    bob_page.get_by_role("link", name="Web inputs", exact=True).click()
    bob_page.get_by_text("No questions.").wait_for()
    bob_page.get_by_label("State").select_option("closed")
    bob_page.get_by_role("link", name="Publish reconstruction?").wait_for()
    carol_page.reload()
    carol_page.get_by_text("it takes no more answers").wait_for()
