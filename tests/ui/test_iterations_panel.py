"""The run page's iterations (issue 19), in real headless Chromium against a real `openflows serve`: a Map's
items counted by status with a drill-down into one item (its status, input, output, error) and a status
filter; a running Map's counts follow the run until it ends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iterationkit import NESTED, WAITING_ON_CONSENT

from .conftest import LiveServer
from .test_browser import new_page, sign_in

FAN: dict[str, Any] = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ToleratedFailureCount": 5,
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [
                            {"Variable": "$.v", "NumericEquals": 3, "Next": "Boom"},
                            {"Variable": "$.v", "NumericEquals": 8, "Next": "Boom"},
                        ],
                        "Default": "Ok",
                    },
                    "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "item is bad"},
                    "Ok": {"Type": "Pass", "Parameters": {"doubled.$": "$.v"}, "End": True},
                },
            },
            "ItemSelector": {"v.$": "$._context.map_item.value"},
            "ResultPath": "$.out",
            "End": True,
        }
    },
}

SLOW: dict[str, Any] = {
    "StartAt": "Slow",
    "States": {
        "Slow": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}},
            },
            "End": True,
        }
    },
}


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


def _run(live_server: LiveServer, definition: dict[str, Any], body: dict[str, Any]) -> str:
    flow = {"title": f"map-{uuid.uuid4().hex[:6]}", "definition": definition, "input_schema": {}}
    flow_id = live_server.call(live_server.alice, "POST", "/flows", flow)["id"]
    return live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": body})["run_id"]


def test_counts_and_one_item_of_a_map(page: Any, live_server: LiveServer, screenshots: Path) -> None:
    run_id = _run(live_server, FAN, {"items": list(range(12))})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    fan = page.locator('#iterations .iter-state[data-state="Fan"]')
    fan.locator(".iter-counts", has_text="10 succeeded, 2 failed, 0 active of 12").wait_for(timeout=15_000)
    assert fan.locator("h3").inner_text() == "Fan (Map)"
    assert fan.locator("button.iter-item").count() == 12
    assert fan.locator('button.iter-item[data-status="FAILED"]').count() == 2

    fan.locator('button.iter-item[data-index="8"]').click()
    detail = fan.locator('.iter-item-detail[data-index="8"]')
    detail.wait_for()
    assert "FAILED" in detail.inner_text()
    assert "Bad" in detail.inner_text() and "item is bad" in detail.inner_text()
    assert '"v": 8' in detail.locator("pre.json").first.inner_text()
    page.screenshot(path=screenshots / "run-iterations.png", full_page=True)

    fan.locator('button.iter-item[data-index="4"]').click()
    page.locator('.iter-item-detail[data-index="4"]', has_text="doubled").wait_for()

    fan.locator("select.iter-filter").select_option("FAILED")
    fan.locator('button.iter-item[data-status="SUCCEEDED"]').first.wait_for(state="detached")
    indexes = fan.locator("button.iter-item").evaluate_all("(nodes) => nodes.map((n) => n.dataset.index)")
    assert indexes == ["3", "8"]


def test_a_running_maps_counts_follow_the_run(page: Any, live_server: LiveServer) -> None:
    run_id = _run(live_server, SLOW, {"items": ["a", "b", "c", "d", "e"]})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    slow = page.locator('#iterations .iter-state[data-state="Slow"]')
    slow.locator(".iter-counts").wait_for(timeout=15_000)
    first = slow.locator(".iter-counts").inner_text()
    assert "of 5" in first, first
    slow.locator(".iter-counts", has_text="5 succeeded, 0 failed, 0 active of 5").wait_for(timeout=30_000)
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    assert slow.locator('button.iter-item[data-status="SUCCEEDED"]').count() == 5


def test_no_iterations_section_for_a_run_without_map(page: Any, live_server: LiveServer) -> None:
    run_id = _run(live_server, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    page.locator("#run-log li").first.wait_for()
    assert page.locator("#iterations").is_hidden()


def test_drilling_into_nested_items(page: Any, live_server: LiveServer, screenshots: Path) -> None:
    """An item whose sub-machine ran a Map or a Parallel shows their counts and opens them (the API's
    `within`), two levels down, with a breadcrumb back up; filters and items work at each level."""
    run_id = _run(live_server, NESTED, {"groups": [{"xs": [1, 2, 3]}, {"xs": [4, 2, 2, 5]}]})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    panel = page.locator("#iterations")
    outer = panel.locator('.iter-state[data-state="Outer"]')
    outer.locator(".iter-counts", has_text="2 succeeded, 0 failed, 0 active of 2").wait_for(timeout=15_000)
    assert panel.locator(".iter-crumbs").count() == 0

    # item 1 of Outer: what ran inside it, then into it
    outer.locator('button.iter-item[data-index="1"]').click()
    detail = outer.locator('.iter-item-detail[data-index="1"]')
    nested = detail.locator(".iter-nested")
    nested.wait_for()
    assert nested.locator('li[data-state="Inner"]').inner_text() == (
        "Inner (Map): 2 succeeded, 2 failed, 0 active of 4"
    )
    assert "Pair (Parallel): 2 succeeded" in nested.locator('li[data-state="Pair"]').inner_text()
    nested.locator("button.iter-drill").click()

    inner = panel.locator('.iter-state[data-state="Inner"]')
    inner.locator(".iter-counts", has_text="2 succeeded, 2 failed, 0 active of 4").wait_for()
    assert panel.get_attribute("data-path") == "Outer[1]"
    assert panel.locator('.iter-state[data-state="Outer"]').count() == 0
    crumbs = panel.locator(".iter-crumbs")
    assert " ".join(crumbs.inner_text().split()) == "Run › Outer[1]"
    assert inner.locator('button.iter-item[data-status="FAILED"]').count() == 2
    inner.locator('button.iter-item[data-index="3"]').click()
    item = inner.locator('.iter-item-detail[data-index="3"]')
    item.wait_for()
    assert '"v": 5' in item.locator("pre.json").first.inner_text()  # item 3 of Outer[1], not of Outer[0]
    assert '"doubled": 5' in item.locator("pre.json").last.inner_text()
    assert item.locator(".iter-nested").count() == 0  # nothing nested inside a Check item
    inner.locator("select.iter-filter").select_option("FAILED")
    inner.locator('button.iter-item[data-status="SUCCEEDED"]').first.wait_for(state="detached")
    indexes = inner.locator("button.iter-item").evaluate_all("(nodes) => nodes.map((n) => n.dataset.index)")
    assert indexes == ["1", "2"]

    pair = panel.locator('.iter-state[data-state="Pair"]')
    assert pair.locator("h3").inner_text() == "Pair (Parallel)"
    pair.locator('button.iter-item[data-index="0"]').click()
    branch = pair.locator('.iter-item-detail[data-index="0"]')
    branch.locator('.iter-nested li[data-state="Deep"]', has_text="4 succeeded").wait_for()
    page.screenshot(path=screenshots / "run-iterations-nested.png", full_page=True)
    branch.locator("button.iter-drill").click()

    # two levels down: the Map in the Parallel's first branch, then back up by the breadcrumb
    deep = panel.locator('.iter-state[data-state="Deep"]')
    deep.locator(".iter-counts", has_text="4 succeeded, 0 failed, 0 active of 4").wait_for()
    assert panel.get_attribute("data-path") == "Outer[1] > Pair[0]"
    assert " ".join(crumbs.inner_text().split()) == "Run › Outer[1] › Pair[0]"
    deep.locator('button.iter-item[data-index="2"]').click()
    deep.locator('.iter-item-detail[data-index="2"]', has_text="SUCCEEDED").wait_for()

    crumbs.get_by_role("button", name="Outer[1]").click()
    inner.wait_for()
    assert panel.get_attribute("data-path") == "Outer[1]"
    # the filter chosen at that level is kept
    assert inner.locator("select.iter-filter").input_value() == "FAILED"
    crumbs.get_by_role("button", name="Run").click()
    outer.wait_for()
    assert panel.get_attribute("data-path") == ""
    assert panel.locator(".iter-crumbs").count() == 0
    assert outer.locator("button.iter-item").count() == 2


def test_an_inactive_item_says_why_it_waits(page: Any, live_server: LiveServer) -> None:
    run_id = _run(live_server, WAITING_ON_CONSENT, {"items": [{}, {"scope": "urn:example:scope:needed"}]})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="INACTIVE").wait_for(timeout=30_000)
    fan = page.locator('#iterations .iter-state[data-state="Fan"]')
    waiting = fan.locator('button.iter-item[data-status="INACTIVE"]')
    waiting.wait_for(timeout=15_000)
    assert waiting.get_attribute("data-index") == "1"
    assert (waiting.get_attribute("title") or "").startswith("INACTIVE: ")
    waiting.click()
    reason = fan.locator('.iter-item-detail[data-index="1"] .iter-reason')
    reason.wait_for()
    assert reason.inner_text().startswith("Waiting: ") and "Consent" in reason.inner_text()
