"""`flows graph`, `runs graph` and `dev run` against a live server; the tree drawing itself."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from clikit import HELLO
from rich.console import Console

from openflows.cli.graph import back_edges, build_tree, graph_edges, state_marks, to_dot

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


LOOPING = {
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Next": "Fetch"},
        "Fetch": {
            "Type": "Action",
            "ActionUrl": "https://example.org/ap",
            "Parameters": {},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report"}],
            "Next": "More",
        },
        "More": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.i", "NumericLessThan": 3, "Next": "Fetch"}],
            "Default": "Done",
        },
        "Report": {"Type": "Fail", "Error": "Oops"},
        "Done": {"Type": "Succeed"},
    },
}


def test_dot_export_reverses_the_loops_and_labels_every_edge() -> None:
    edges = graph_edges(LOOPING)
    assert [(a, b, kind) for a, b, _, kind in edges] == [
        ("Init", "Fetch", "next"),
        ("Fetch", "More", "next"),
        ("Fetch", "Report", "catch"),
        ("More", "Fetch", "choice"),
        ("More", "Done", "choice"),
    ]
    assert back_edges(LOOPING, edges) == {3}  # More -> Fetch closes the loop
    text = to_dot(LOOPING, title='My "flow"')
    assert text.startswith('digraph "My \\"flow\\"" {')
    assert '"Init" [label="Init\\nPass", penwidth=2.5];' in text
    assert '"Fetch" -> "More";' in text
    assert (
        '"Fetch" -> "Report" [color="#cf222e", fontcolor="#cf222e", style=dashed,'
        ' label=" Catch [States.ALL]"];' in text
    )
    # the loop is written Fetch -> More and drawn back, so Graphviz ranks Fetch above More
    assert (
        '"Fetch" -> "More" [color="#0550ae", fontcolor="#0550ae",'
        ' label=" Choice 1: $.i NumericLessThan 3", dir=back];' in text
    )
    assert '"More" -> "Done" [color="#0550ae", fontcolor="#0550ae", label=" Default"];' in text
    marked = to_dot(LOOPING, marks={"Init": "done", "Fetch": "failed"})
    assert '"Fetch" [label="Fetch\\nAction", color="#cf222e", fillcolor="#ffebe9"];' in marked
    assert (
        '"Done" [label="Done\\nSucceed", color="#8c959f", fontcolor="#8c959f", style="rounded,dashed"];'
        in marked
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
def test_graphviz_draws_the_dot_export_with_the_loop_going_up(tmp_path: Path) -> None:
    plain = subprocess.run(
        ["dot", "-Tplain"], input=to_dot(LOOPING), capture_output=True, text=True, check=True, timeout=60
    ).stdout
    heights = {
        line.split()[1].strip('"'): float(line.split()[3])
        for line in plain.splitlines()
        if line.startswith("node ")
    }
    assert heights["Init"] > heights["Fetch"] > heights["More"] > heights["Done"]  # y grows upwards


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
    assert run_line(f"openflows flows graph {flow_id} --dot").stdout == to_dot(reachable, title="untitled")
    marked = run_line(f"openflows runs graph {run_id} --dot").stdout
    assert (
        marked.startswith(f'digraph "{run_id}" {{')
        and '"Skip" [label="Skip\\nPass", color="#1a7f37"' in marked
    )


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
