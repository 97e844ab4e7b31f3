"""Map and Parallel states drawn with their sub-machines inside them (issue 19), in real headless Chromium
against a real `openflows serve`: a Parallel's branches and a Map's item processor as labelled frames inside
the state's box, a Map inside a Map, every sub-machine's states inside its frame (bounding boxes measured in
the browser), the geometry as clean as a flat graph's; on a run page, each Map's and Parallel's progress
("3/5 succeeded, 2 failed") on its box and each branch's status on its frame, following the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openflows.cli.graph import back_edges, graph_edges

from .conftest import LiveServer
from .test_browser import new_page, sign_in
from .test_graph_layout import GEOMETRY

#: a Parallel with two branches, a Map whose item processor has two states (items 3 and 4 fail: no choice
#: matches), and a Map whose items run a Map
NESTED: dict[str, Any] = {
    "StartAt": "Prep",
    "States": {
        "Prep": {"Type": "Pass", "Next": "Split"},
        "Split": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "RightA",
                    "States": {
                        "RightA": {"Type": "Pass", "Next": "RightB"},
                        "RightB": {"Type": "Pass", "End": True},
                    },
                },
            ],
            "ResultPath": "$.split",
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ToleratedFailureCount": 5,
            "ItemSelector": {"v.$": "$._context.map_item.value"},
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.v", "NumericLessThan": 3, "Next": "Keep"}],
                    },
                    "Keep": {"Type": "Pass", "End": True},
                },
            },
            "ResultPath": "$.fanned",
            "Next": "Outer",
        },
        "Outer": {
            "Type": "Map",
            "ItemsPath": "$.groups",
            "ItemProcessor": {
                "StartAt": "Inner",
                "States": {
                    "Inner": {
                        "Type": "Map",
                        "ItemsPath": "$.members",
                        "ItemProcessor": {
                            "StartAt": "Touch",
                            "States": {"Touch": {"Type": "Pass", "End": True}},
                        },
                        "End": True,
                    }
                },
            },
            "ResultPath": "$.outer",
            "End": True,
        },
    },
}
NESTED_INPUT = {"items": [0, 1, 2, 3, 4], "groups": [{"members": [1, 2]}, {"members": [3]}]}

#: a Parallel whose second branch waits (the run is cancelled by the test)
WAITING: dict[str, Any] = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "End": True}}},
                {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 600, "End": True}}},
            ],
            "End": True,
        }
    },
}

#: a loop inside a Map's item processor (Again → Try), next to a Catch edge of the Map itself
LOOP_INSIDE: dict[str, Any] = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Try",
                "States": {
                    "Try": {"Type": "Pass", "Next": "Again"},
                    "Again": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.n", "NumericLessThan": 0, "Next": "Try"}],
                        "Default": "Done",
                    },
                    "Done": {"Type": "Succeed"},
                },
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
            "End": True,
        },
        "Oops": {"Type": "Fail"},
    },
}

#: runs in the page: for each sub-machine, where it sits in the DOM and what it shows
MACHINES = """() => [...document.querySelectorAll("svg.graph .machine")].map((g) => ({
    machine: g.dataset.machine,
    owner: g.parentElement.dataset.state,
    ownerIsCompound: g.parentElement.matches(".node.compound"),
    label: g.querySelector(":scope > .machine-label .machine-name").textContent,
    states: [...g.querySelectorAll(":scope > .node")].map((n) => n.dataset.state),
    edges: [...g.querySelectorAll(":scope > .edges > .edge")].map((e) => `${e.dataset.from}→${e.dataset.to}`),
}))"""

#: runs in the page: the bounding boxes of every state's box and every sub-machine's frame, by name
BOXES = """() => {
    const box = (rect) => { const b = rect.getBBox(); return [b.x, b.y, b.width, b.height]; };
    const out = {};
    const frame = (g) => box(g.querySelector(":scope > rect"));
    for (const g of document.querySelectorAll("svg.graph .node")) out[g.dataset.state] = frame(g);
    for (const g of document.querySelectorAll("svg.graph .machine")) out[g.dataset.machine] = frame(g);
    return out;
}"""


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server, width=1280)


def _flow(live_server: LiveServer, definition: dict[str, Any]) -> str:
    flow = {"title": f"nested-{uuid.uuid4().hex[:6]}", "definition": definition, "input_schema": {}}
    return live_server.call(live_server.alice, "POST", "/flows", flow)["id"]


def _start(live_server: LiveServer, flow_id: str, body: dict[str, Any]) -> str:
    return live_server.call(live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": body})["run_id"]


def _contains(outer: list[float], inner: list[float]) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return ox < ix and oy < iy and ix + iw < ox + ow and iy + ih < oy + oh


def _wait_drawn(page: Any, count: int) -> None:
    page.wait_for_function(
        "(count) => document.querySelectorAll('svg.graph .node').length === count", arg=count
    )


def test_sub_machines_are_drawn_inside_their_states(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    flow_id = _flow(live_server, NESTED)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/flows/{flow_id}")
    _wait_drawn(page, 11)
    machines = {m.pop("machine"): m for m in page.evaluate(MACHINES)}
    assert machines == {
        "Split/Branches/0": {
            "owner": "Split", "ownerIsCompound": True, "label": "Branch 1", "states": ["Left"], "edges": [],
        },
        "Split/Branches/1": {
            "owner": "Split", "ownerIsCompound": True, "label": "Branch 2",
            "states": ["RightA", "RightB"], "edges": ["RightA→RightB"],
        },
        "Fan/ItemProcessor": {
            "owner": "Fan", "ownerIsCompound": True, "label": "Each item",
            "states": ["Check", "Keep"], "edges": ["Check→Keep"],
        },
        "Outer/ItemProcessor": {
            "owner": "Outer", "ownerIsCompound": True, "label": "Each item", "states": ["Inner"], "edges": [],
        },
        "Inner/ItemProcessor": {
            "owner": "Inner", "ownerIsCompound": True, "label": "Each item", "states": ["Touch"], "edges": [],
        },
    }  # fmt: skip
    # the top level keeps only its own states and edges; the Map in a Map is inside the outer Map's frame
    top = page.evaluate(
        """() => ({
            states: [...document.querySelectorAll("svg.graph > .node")].map((n) => n.dataset.state),
            edges: [...document.querySelectorAll("svg.graph > .edges > .edge")]
                .map((e) => `${e.dataset.from}→${e.dataset.to}`),
            inner: document.querySelector('.node[data-state="Touch"]').parentElement.closest(".machine")
                .parentElement.closest(".machine").dataset.machine,
        })"""
    )
    assert top == {
        "states": ["Prep", "Split", "Fan", "Outer"],
        "edges": ["Prep→Split", "Split→Fan", "Fan→Outer"],
        "inner": "Outer/ItemProcessor",
    }
    boxes = page.evaluate(BOXES)
    for name, machine in machines.items():
        assert _contains(boxes[machine["owner"]], boxes[name]), (name, boxes)
        for state in machine["states"]:
            assert _contains(boxes[name], boxes[state]), (state, name, boxes)
    # the branches side by side, not overlapping
    left, right = boxes["Split/Branches/0"], boxes["Split/Branches/1"]
    assert left[0] + left[2] < right[0]
    geometry = page.evaluate(GEOMETRY)
    assert geometry["problems"] == []
    assert (geometry["nodes"], geometry["machines"], geometry["edges"]) == (11, 5, 5)
    # the plain definition: no progress line, no branch status
    texts = page.evaluate(
        """() => [...document.querySelectorAll("svg.graph .node-progress, svg.graph .machine-status")]
            .map((t) => t.textContent)"""
    )
    assert texts == [""] * 9  # 4 Map or Parallel boxes, 5 sub-machines
    page.locator(".graph-box").screenshot(path=screenshots / "flow-nested.png")


def test_a_run_page_shows_each_maps_progress_and_each_branchs_status(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    run_id = _start(live_server, _flow(live_server, NESTED), NESTED_INPUT)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    fan = page.locator('svg.graph .node[data-state="Fan"] > .node-progress')
    fan.filter(has_text="3/5 succeeded, 2 failed").wait_for(timeout=15_000)
    assert fan.text_content() == "3/5 succeeded, 2 failed"
    assert (fan.get_attribute("data-succeeded"), fan.get_attribute("data-failed")) == ("3", "2")
    assert fan.get_attribute("data-total") == "5"
    progress = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("svg.graph .node.compound")]
            .map((g) => [g.dataset.state,
                         [g.dataset.status, g.querySelector(':scope > .node-progress').textContent]]))"""
    )
    assert progress == {
        "Split": ["done", "2/2 succeeded"],
        "Fan": ["done", "3/5 succeeded, 2 failed"],
        "Outer": ["done", "2/2 succeeded"],
        "Inner": ["inside", ""],  # its items belong to the outer Map's items, counted there
    }
    branches = page.evaluate(
        """() => [...document.querySelectorAll('svg.graph .machine[data-parent="Split"]')]
            .map((g) => [g.dataset.branch, g.dataset.status, g.getAttribute("class"),
                         g.querySelector(".machine-status").textContent])"""
    )
    assert branches == [
        ["0", "SUCCEEDED", "machine st-done", "succeeded"],
        ["1", "SUCCEEDED", "machine st-done", "succeeded"],
    ]
    statuses = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("svg.graph .node")]
            .map((g) => [g.dataset.state, g.dataset.status]))"""
    )
    assert statuses["Prep"] == "done"
    assert {statuses[name] for name in ("Left", "RightA", "RightB", "Check", "Keep", "Touch")} == {"inside"}
    assert page.evaluate(GEOMETRY)["problems"] == []
    page.locator(".graph-box").screenshot(path=screenshots / "run-nested.png")


def test_a_branchs_status_follows_the_run(page: Any, live_server: LiveServer) -> None:
    run_id = _start(live_server, _flow(live_server, WAITING), {})
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run_id}")
    both = page.locator('svg.graph .node[data-state="Both"] > .node-progress')
    both.filter(has_text="1/2 succeeded, 1 running").wait_for(timeout=30_000)
    slow = page.locator('svg.graph .machine[data-branch="1"]')
    assert slow.get_attribute("data-status") in ("ACTIVE", "INACTIVE")
    assert slow.locator(".machine-status").text_content() in ("running", "waiting")
    assert page.locator('svg.graph .machine[data-branch="0"]').get_attribute("data-status") == "SUCCEEDED"
    assert page.locator('svg.graph .node[data-state="Both"]').get_attribute("data-status") == "running"

    live_server.call(live_server.alice, "POST", f"/runs/{run_id}/cancel")
    page.locator("h1 .badge", has_text="CANCELLED").wait_for(timeout=30_000)
    # the branch the cancel stopped: the page shows what the API says of it (the engine decides the status)
    slow.and_(page.locator(':not([data-status="ACTIVE"]):not([data-status="INACTIVE"])')).wait_for(
        timeout=15_000
    )
    items = live_server.call(live_server.alice, "GET", f"/runs/{run_id}/iterations/items?state=Both")["items"]
    stopped = items[1]["status"]
    assert stopped in ("FAILED", "ENDED")
    word = {"FAILED": "failed", "ENDED": "ended"}[stopped]
    assert slow.get_attribute("data-status") == stopped
    assert slow.locator(".machine-status").text_content() == word
    assert both.text_content() == f"1/2 succeeded, 1 {word}"


def test_a_loop_inside_a_sub_machine_is_drawn_back_up(page: Any, live_server: LiveServer) -> None:
    flow_id = _flow(live_server, LOOP_INSIDE)
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/flows/{flow_id}")
    _wait_drawn(page, 5)
    edges = page.evaluate(
        """() => [...document.querySelectorAll("svg.graph .edge")].map((e) => [
            e.closest(".machine") ? e.closest(".machine").dataset.machine : null,
            e.dataset.from, e.dataset.to, e.classList.contains("back")])"""
    )
    assert edges == [
        [None, "Each", "Oops", False],
        ["Each/ItemProcessor", "Try", "Again", False],
        ["Each/ItemProcessor", "Again", "Try", True],
        ["Each/ItemProcessor", "Again", "Done", False],
    ]
    # the sub-machine's loops are those the DOT export's rule picks for it as a flow of its own
    machine = LOOP_INSIDE["States"]["Each"]["ItemProcessor"]
    listed = graph_edges(machine)
    assert [(a, b) for i, (a, b, *_) in enumerate(listed) if i in back_edges(machine, listed)] == [
        ("Again", "Try")
    ]
    geometry = page.evaluate(GEOMETRY)
    assert geometry["problems"] == []
    assert sorted(geometry["labels"]) == [
        ["$.n < 0", "Again→Try"],
        ["Catch States.ALL", "Each→Oops"],
        ["Default", "Again→Done"],
    ]
