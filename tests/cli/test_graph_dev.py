"""`flows graph`, `runs graph` and `dev run` against a live server; the tree drawing itself."""

from __future__ import annotations

import io
import json
from pathlib import Path

from clikit import HELLO
from rich.console import Console

from openflows.cli.graph import build_tree, state_marks

BRANCHY = {
    "StartAt": "Decide",
    "States": {
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": "Work"}],
            "Default": "Skip",
        },
        "Work": {
            "Type": "Fail",
            "Error": "Nope",
        },
        "Skip": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Orphan": {"Type": "Pass", "End": True},
    },
}
CATCHING = {
    "StartAt": "Try",
    "States": {
        "Try": {
            "Type": "Action",
            "ActionUrl": "https://example.org/ap",
            "Parameters": {},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "Next": "Recover",
        },
        "Recover": {"Type": "Pass", "End": True},
    },
}


def draw(definition: dict, marks: dict | None = None) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(build_tree(definition, marks))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_tree_labels_every_kind_of_edge() -> None:
    text = draw(BRANCHY)
    assert "StartAt → Decide" in text
    assert "Choice 1: $.go BooleanEquals True →" in text
    assert "Default →" in text
    assert "Skip (Pass)" in text and "Next →" in text and "Done (Succeed) [End]" in text
    assert "(unreachable)" in text and "Orphan (Pass) [End]" in text
    text = draw(CATCHING)
    assert "Catch [States.ALL] →" in text
    assert "↺ Recover" in text  # reached a second time: a reference


def test_marks_from_a_log() -> None:
    entries = [
        {"code": "FlowStarted", "details": {}},
        {"code": "ChoiceStarted", "details": {"state_name": "Decide"}},
        {"code": "ChoiceCompleted", "details": {"state_name": "Decide"}},
        {"code": "FailStarted", "details": {"state_name": "Work"}},
        {"code": "FlowFailed", "details": {"state_name": "Work"}},
    ]
    marks = state_marks(entries, "FAILED")
    assert marks == {"Decide": "done", "Work": "failed"}
    text = draw(BRANCHY, marks)
    assert "✓ Decide" in text and "✗ Work" in text and "· Skip" in text


def test_flows_graph_and_runs_graph(run_line) -> None:  # type: ignore[no-untyped-def]
    reachable = {**BRANCHY, "States": {k: v for k, v in BRANCHY["States"].items() if k != "Orphan"}}
    flow_id = run_line(["openflows", "flows", "create", json.dumps(reachable), "-F", "json"]).json()["id"]
    drawn = run_line(f"openflows flows graph {flow_id}")
    assert "Choice 1:" in drawn.stdout and "Default →" in drawn.stdout
    assert run_line(f"openflows flows graph {flow_id} -F json").json() == reachable
    run = run_line(
        ["openflows", "run", "start", flow_id, "--input", '{"go": false}', "--watch", "-F", "json"]
    )
    run_id = run.json()["run_id"]
    graph = run_line(f"openflows runs graph {run_id}")
    assert "✓ Decide" in graph.stdout and "✓ Skip" in graph.stdout and "✓ Done" in graph.stdout
    assert "· Work" in graph.stdout
    assert "not reached" in graph.stdout  # the legend


def test_dev_run_cleans_up_its_flow(run_line, hello_file: Path) -> None:  # type: ignore[no-untyped-def]
    before = run_line("openflows flows list --filter-fulltext 'dev run' --limit 1000 -F json").json()["flows"]
    result = run_line(f"openflows dev run {hello_file} --input '{{\"a\": 1}}' --label try1")
    assert "SUCCEEDED" in result.stdout and '"greeting": "hello"' in result.stdout
    after = run_line("openflows flows list --filter-fulltext 'dev run' --limit 1000 -F json").json()["flows"]
    assert len(after) == len(before)
    document = run_line(f"openflows dev run {hello_file} -F json").json()
    assert document["status"] == "SUCCEEDED"


def test_dev_run_failure_exits_1(run_line) -> None:  # type: ignore[no-untyped-def]
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad", "Cause": "why"}}}
    result = run_line(["openflows", "dev", "run", json.dumps(failing), "--watch"], exit_code=1)
    assert "Error: Bad" in result.stdout and "Cause: why" in result.stdout
    invalid = run_line(["openflows", "dev", "run", json.dumps({"StartAt": "X", "States": {}})], exit_code=1)
    assert "UNPROCESSABLE_ENTITY" in invalid.stderr


def test_hello_is_not_modified() -> None:
    assert HELLO["StartAt"] == "Hi"
