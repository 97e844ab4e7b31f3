"""The flow graph's geometry, measured in real headless Chromium on the rendered SVG: every corpus
flow (and hand-written flows with loops and Catch edges, which the corpus lacks) is created on a real server
and its flow page opened; then, from the coordinates the browser reports, no edge crosses a state's box other
than its two ends, no two boxes overlap, every label touches its own edge and sits on no box, and the graph
is centred in its frame."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpus import CORPUS_FILES
from openflows.cli.graph import back_edges, graph_edges

from .conftest import LiveServer
from .test_browser import GREETING, HELLO_URL, new_page, sign_in

#: a loop (More → Fetch) and a Catch (Fetch → Report) in one flow, as in issue 18
LOOP_AND_CATCH: dict[str, Any] = {
    "Comment": "Fetch three times; report a failure",
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Result": {"i": 0}, "ResultPath": "$.state", "Next": "Fetch"},
        "Fetch": {
            "Type": "Action",
            "ActionUrl": HELLO_URL,
            "Parameters": {"echo_string": "fetch"},
            "ResultPath": "$.fetched",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report", "ResultPath": "$.error"}],
            "Next": "Count",
        },
        "Count": {
            "Type": "ExpressionEval",
            "Parameters": {"i.=": "state.i + 1"},
            "ResultPath": "$.state",
            "Next": "More",
        },
        "More": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.state.i", "NumericLessThan": 3, "Next": "Fetch"}],
            "Default": "Done",
        },
        "Report": {"Type": "Pass", "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "FetchFailed", "Cause": "the fetch failed"},
        "Done": {"Type": "Succeed"},
    },
}
#: two loops back to the start, a Catch that loops too, and two edges between the same pair of states
TANGLED: dict[str, Any] = {
    "StartAt": "A",
    "States": {
        "A": {
            "Type": "Action",
            "ActionUrl": HELLO_URL,
            "Parameters": {},
            "Catch": [
                {"ErrorEquals": ["ActionTimeout"], "Next": "A"},
                {"ErrorEquals": ["States.ALL"], "Next": "E"},
            ],
            "Next": "B",
        },
        "B": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.x", "NumericEquals": 1, "Next": "A"},
                {"Variable": "$.x", "NumericEquals": 2, "Next": "C"},
                {"Variable": "$.x", "NumericEquals": 3, "Next": "C"},
            ],
            "Default": "D",
        },
        "C": {"Type": "Wait", "Seconds": 1, "Next": "B"},
        "D": {"Type": "Pass", "Next": "A"},
        "E": {"Type": "Fail"},
    },
}
HANDWRITTEN = {"greeting": GREETING, "loop-and-catch": LOOP_AND_CATCH, "tangled": TANGLED}

#: runs in the page: the problems of the graph drawn in `svg.graph`, from its elements' coordinates
GEOMETRY = (Path(__file__).parent / "graph_geometry.js").read_text()


@pytest.fixture(scope="module")
def graph_flows(live_server: LiveServer) -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (flow id, definition) for every corpus flow and the hand-written ones."""
    definitions = {path.stem: json.loads(path.read_text()) for path in CORPUS_FILES}
    definitions.update(HANDWRITTEN)
    created = {}
    for name, definition in definitions.items():
        flow = live_server.call(
            live_server.alice,
            "POST",
            "/flows",
            {"title": f"Graph {name}", "definition": definition, "input_schema": {}},
        )
        created[name] = (flow["id"], definition)
    return created


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server, width=1280)


def open_graph(page: Any, flow_id: str, title: str, definition: dict[str, Any]) -> None:
    """Open the flow's page and wait for its graph (not the one of the page before)."""
    page.goto(f"/ui#/flows/{flow_id}")
    page.wait_for_function(
        """([title, names]) => document.title.startsWith(title + " ·") && JSON.stringify(
            [...document.querySelectorAll('svg.graph .node')].map((g) => g.dataset.state).sort()
        ) === JSON.stringify(names)""",
        arg=[title, sorted(definition["States"])],
    )


def test_every_corpus_graph_has_clean_geometry(
    page: Any, live_server: LiveServer, graph_flows: dict[str, tuple[str, dict[str, Any]]], screenshots: Path
) -> None:
    sign_in(page, live_server.alice)
    problems = {}
    for name, (flow_id, definition) in graph_flows.items():
        open_graph(page, flow_id, f"Graph {name}", definition)
        result = page.evaluate(GEOMETRY)
        assert result["nodes"] == len(definition["States"]), name
        if result["problems"]:
            problems[name] = result["problems"]
        if name == "gac-loop-with-batch-processing":
            page.screenshot(path=screenshots / "flow-corpus-loop.png")
    assert problems == {}


def test_labels_sit_on_their_own_edges(
    page: Any, live_server: LiveServer, graph_flows: dict[str, tuple[str, dict[str, Any]]], screenshots: Path
) -> None:
    sign_in(page, live_server.alice)
    flow_id, definition = graph_flows["loop-and-catch"]
    open_graph(page, flow_id, "Graph loop-and-catch", definition)
    result = page.evaluate(GEOMETRY)
    assert result["problems"] == []
    assert sorted(result["labels"]) == [
        ["$.state.i < 3", "More→Fetch"],
        ["Catch States.ALL", "Fetch→Report"],
        ["Default", "More→Done"],
    ]
    assert result["edges"] == 7
    page.screenshot(path=screenshots / "flow-loop-catch.png")


def test_the_dashboard_and_the_dot_export_choose_the_same_loops(
    page: Any, live_server: LiveServer, graph_flows: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    """graph.js and cli/graph.py list the same edges and pick the same back edges, so that the DOT export
    ranks the states as the dashboard does."""
    page.goto("/ui")
    definitions = {name: definition for name, (_, definition) in graph_flows.items()}
    drawn = page.evaluate(
        """async (definitions) => {
            const { flowEdges, backEdges } = await import("/ui/static/graph.js");
            return Object.fromEntries(Object.entries(definitions).map(([name, definition]) => {
                const edges = flowEdges(definition);
                const back = backEdges(definition, edges);
                return [name, edges.map((e, i) => [e.from, e.to, back.has(i)])];
            }));
        }""",
        definitions,
    )
    for name, definition in definitions.items():
        edges = graph_edges(definition)
        back = back_edges(definition, edges)
        assert drawn[name] == [[a, b, i in back] for i, (a, b, _, _) in enumerate(edges)], name
    assert any(loop for edges in drawn.values() for *_, loop in edges)  # the corpus has loops


def test_a_run_through_a_loop_shows_the_path_it_took(
    page: Any, live_server: LiveServer, graph_flows: dict[str, tuple[str, dict[str, Any]]], screenshots: Path
) -> None:
    flow_id, _ = graph_flows["loop-and-catch"]
    run = live_server.call(
        live_server.alice, "POST", f"/flows/{flow_id}/run", {"body": {}, "label": "three fetches"}
    )
    sign_in(page, live_server.alice)
    page.goto(f"/ui#/runs/{run['run_id']}")
    page.locator("h1 .badge", has_text="SUCCEEDED").wait_for()
    page.locator('svg.graph .node[data-state="Done"][data-status="done"]').wait_for()
    statuses = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("svg.graph .node")]
            .map((g) => [g.dataset.state, g.dataset.status]))"""
    )
    assert statuses == {
        "Init": "done",
        "Fetch": "done",
        "Count": "done",
        "More": "done",
        "Done": "done",
        "Report": "notreached",
        "Failed": "notreached",
    }
    taken = sorted(
        f"{edge.get_attribute('data-from')}→{edge.get_attribute('data-to')}"
        for edge in page.locator("svg.graph .edge.taken").all()
    )
    assert taken == ["Count→More", "Fetch→Count", "Init→Fetch", "More→Done", "More→Fetch"]
    assert page.locator(".timeline li").count() == 11  # Init, (Fetch, Count, More) × 3, Done
    assert page.evaluate(GEOMETRY)["problems"] == []
    page.screenshot(path=screenshots / "run-loop-catch.png", full_page=True)
