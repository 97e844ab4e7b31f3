"""The dashboard as a daily user meets it (issue 18), in real headless Chromium against a real `openflows
serve`: the run page follows the live stream to the end (no stale run document, the output shown), no stray
`null` on a flow page, the start form leaves untouched optional fields out, relative times with the exact time
on hover, a waiting colour of its own, long JSON wrapped on narrow screens, help text without backticks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer
from .test_browser import CONSENT, new_page, sign_in

#: the run is ACTIVE for this long: time enough to open its page first
WAIT_SECONDS = 4
SLOW: dict[str, Any] = {
    "StartAt": "Begin",
    "States": {
        "Begin": {"Type": "Pass", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": WAIT_SECONDS, "Next": "Answer"},
        "Answer": {
            "Type": "Pass",
            "Result": {"answer": 42, "where": "https://example.org/" + "a-long-path-segment/" * 12},
            "ResultPath": "$.result",
            "End": True,
        },
    },
}
FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "Passed to `echo_string` as is."},
        "loud": {"type": "boolean"},
        "quiet": {"type": "boolean"},
        "count": {"type": "integer"},
        "mood": {"enum": ["happy", "calm"]},
        "names": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object", "properties": {"ratio": {"type": "number"}}},
        "polite": {"type": "boolean", "default": True},
    },
}
QUICK: dict[str, Any] = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


def create_flow(live_server: LiveServer, title: str, definition: dict, schema: dict | None = None) -> str:
    body = {"title": title, "definition": definition, "input_schema": schema or {}}
    return live_server.call(live_server.alice, "POST", "/flows", body)["id"]


def test_the_run_page_follows_the_live_stream_to_the_end(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    flow_id = create_flow(live_server, "Slow answer", SLOW)
    sign_in(page, live_server.alice)
    run = live_server.call(
        live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {"q": "life"}, "label": "slow run"}
    )
    run_path = f"/runs/{run['run_id']}"
    reads: list[str] = []  # the page's own reads of the run document, after it first drew the page
    page.on("request", lambda request: reads.append(request.url) if request.url.endswith(run_path) else None)
    page.goto(f"/ui#{run_path}")
    page.locator("h1 .badge", has_text="ACTIVE").wait_for()
    page.get_by_text("Run document").click()
    run_document = page.locator("details", has_text="Run document").locator("pre")
    assert '"status": "ACTIVE"' in run_document.text_content()
    page.locator('svg.graph .node[data-state="Pause"][data-status="running"]').wait_for()

    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=(WAIT_SECONDS + 20) * 1000)
    document = json.loads(run_document.text_content())
    assert document["status"] == "SUCCEEDED" and "completion_time" in document
    assert json.loads(page.locator("#run-input pre").text_content()) == {"q": "life"}
    output = json.loads(page.locator("#run-output pre").text_content())
    assert output["result"]["answer"] == 42 and output["q"] == "life"
    assert page.locator('svg.graph .node[data-state="Answer"][data-status="done"]').count() == 1
    taken = page.locator("svg.graph .edge.taken")
    assert sorted(f"{e.get_attribute('data-from')}→{e.get_attribute('data-to')}" for e in taken.all()) == [
        "Begin→Pause",
        "Pause→Answer",
    ]
    assert "took " in page.locator("h1 + .sub").text_content()
    assert len(reads) == 1  # no polling: the stream brought the new run document
    # a click on a state in the graph opens what it got and gave
    page.locator('svg.graph .node[data-state="Answer"]').click()
    opened = page.locator('details.state-io[data-state="Answer"]')
    assert opened.get_attribute("open") == ""
    assert '"answer": 42' in opened.locator("pre").nth(1).text_content()
    page.screenshot(path=screenshots / "run-output.png", full_page=True)


def test_a_flow_page_without_more_runs_shows_no_stray_null(page: Any, live_server: LiveServer) -> None:
    flow_id = create_flow(live_server, "Few runs", QUICK)
    live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}, "label": "only run"})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/flows/{flow_id}")
    page.get_by_role("link", name="only run").wait_for()
    assert page.locator("#all-flow-runs").count() == 0
    stray = page.evaluate(
        """() => {
            const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
            const found = [];
            while (walker.nextNode()) {
                if (["null", "undefined"].includes(walker.currentNode.textContent.trim())) {
                    found.push(walker.currentNode.parentElement.outerHTML.slice(0, 120));
                }
            }
            return found;
        }"""
    )
    assert stray == []


def test_the_start_form_leaves_untouched_optional_fields_out(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    flow_id = create_flow(live_server, "Form check", QUICK, FORM_SCHEMA)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/flows/{flow_id}/start")
    page.locator("#start-form").wait_for()
    page.get_by_label("message").fill("hi")
    page.get_by_label("quiet").check()
    page.get_by_label("quiet").uncheck()  # touched: a deliberate false
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/flows/{flow_id}/run")
    ) as sent:
        page.get_by_role("button", name="Start run").click()
    body = sent.value.post_data_json["body"]
    assert body == {"message": "hi", "quiet": False, "polite": True}
    page.locator("h1 .badge").wait_for()


def test_help_text_shows_code_not_backticks(page: Any, live_server: LiveServer) -> None:
    page.goto("/ui")
    page.get_by_label("Access token").wait_for()
    help_texts = page.locator("main .help").all_text_contents()
    assert help_texts and not any("`" in text for text in help_texts)
    assert "openflows tokens create" in page.locator("main .help code").all_text_contents()
    # a schema's description on the start form
    flow_id = create_flow(live_server, "Described", QUICK, FORM_SCHEMA)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/flows/{flow_id}/start")
    page.locator("#start-form").wait_for()
    help_text = page.locator("#start-form .help").first
    assert "`" not in help_text.text_content()
    assert help_text.locator("code").text_content() == "echo_string"


def test_relative_times_with_the_exact_time_on_hover(page: Any, live_server: LiveServer) -> None:
    flow_id = create_flow(live_server, "Timed", QUICK)
    run = live_server.call(
        live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}, "label": "timed run"}
    )
    sign_in(page, live_server.alice)
    page.goto("/ui#/runs")
    row = page.locator(f'tr[data-run="{run["run_id"]}"]')
    row.wait_for()
    started = row.locator("time.rel")
    assert re.fullmatch(r"just now|\d+ seconds? ago|\d+ minutes? ago", started.text_content())
    assert started.get_attribute("datetime").startswith(run["start_time"][:19])
    exact = started.get_attribute("title")
    assert run["start_time"][:4] in exact and re.search(r"\d{1,2}:\d{2}:\d{2}", exact)
    page.goto("/ui#/flows")
    page.get_by_role("heading", name="Flows").wait_for()
    page.locator("#flow-search").fill("Timed")
    page.get_by_role("link", name="Timed", exact=True).wait_for()
    assert page.locator("table.list time.rel").count() >= 1
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    assert page.locator("h1 + .sub time.rel").get_attribute("title") == exact


def test_a_waiting_run_has_a_colour_of_its_own(page: Any, live_server: LiveServer, screenshots: Path) -> None:
    flow_id = create_flow(live_server, "Needs consent", CONSENT)
    run = live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}, "label": "waits"})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("h1 .badge", has_text="INACTIVE").wait_for()
    node = page.locator('svg.graph .node[data-state="Consent"][data-status="waiting"]')
    node.wait_for()
    colours = page.evaluate(
        """() => {
            const colour = (cls) => {
                const probe = document.createElement("span");
                probe.className = cls;
                document.querySelector("main").append(probe);
                const value = getComputedStyle(probe).color;
                probe.remove();
                return value;
            };
            const stroke = (status) => {
                const rect = document.querySelector('svg.graph .node rect');
                const group = rect.parentElement;
                const before = group.getAttribute("class");
                group.setAttribute("class", `node st-${status}`);
                const value = getComputedStyle(rect).stroke;
                group.setAttribute("class", before);
                return value;
            };
            return {
                inactive: getComputedStyle(document.querySelector("h1 .badge")).color,
                active: colour("badge b-active"),
                canceled: colour("badge b-canceled"),
                waitingNode: stroke("waiting"),
                runningNode: stroke("running"),
            };
        }"""
    )
    assert colours["inactive"] not in (colours["active"], colours["canceled"])
    assert colours["waitingNode"] != colours["runningNode"]
    assert page.locator(".legend .st-waiting").text_content() == "waiting"
    assert page.locator(".timeline .st-waiting").count() == 1


def test_long_json_wraps_on_a_narrow_screen(chromium_browser: Any, live_server: LiveServer) -> None:
    answer = {**SLOW["States"]["Answer"], "ResultPath": "$.result"}
    flow_id = create_flow(live_server, "Long output", {"StartAt": "Answer", "States": {"Answer": answer}})
    run = live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}})
    for page in new_page(chromium_browser, live_server, width=360):
        sign_in(page, live_server.alice)
        page.goto(f"/ui#/runs/{run['run_id']}")
        page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
        page.get_by_text("Run document").click()
        widths = page.evaluate(
            """() => [...document.querySelectorAll("main pre.json")].filter((p) => p.offsetParent)
                .map((p) => [p.scrollWidth, p.clientWidth])"""
        )
        assert widths and all(scroll <= client for scroll, client in widths), widths
        assert "a-long-path-segment/a-long" in page.locator("#run-output").text_content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
