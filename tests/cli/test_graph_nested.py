"""`openflows flows graph` draws the sub-machines of Map and Parallel states nested under their state."""

from __future__ import annotations

import io

from rich.console import Console

from openflows.cli.graph import print_graph, to_dot


def machine(name: str, state: dict) -> dict:
    return {"StartAt": name, "States": {name: state}}


END = {"Type": "Pass", "End": True}
FULL = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemProcessor": machine(
                "Both",
                {
                    "Type": "Parallel",
                    "Branches": [
                        machine("Copy", END),
                        machine("Inner", {"Type": "Map", "Iterator": machine("Leaf", END), "End": True}),
                    ],
                    "End": True,
                },
            ),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report"}],
            "Next": "Report",
        },
        "Report": END,
    },
}


def test_sub_machines_are_drawn_under_their_state() -> None:
    out = io.StringIO()
    print_graph(FULL, title="nested", console=Console(file=out, width=120, color_system=None))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    assert lines[:6] == [
        "nested  StartAt → Fan",
        "└── Fan (Map)",
        "    ├── each item ⤵  StartAt → Both",
        "    │   └── Both (Parallel) [End]",
        "    │       ├── branch 0 ⤵  StartAt → Copy",
        "    │       │   └── Copy (Pass) [End]",
    ]
    assert "    │               └── each item ⤵  StartAt → Leaf" in lines
    assert lines[-2:] == ["    └── Catch [States.ALL] →", "        └── ↺ Report"]


def test_dot_draws_each_sub_machine_in_a_cluster_under_its_state() -> None:
    dot = to_dot(FULL, marks={"Fan": "done", "Report": "done"}, title="nested")
    lines = [line.strip() for line in dot.splitlines()]
    # one cluster per sub-machine, nested in the order of the definition
    clusters = [line for line in lines if line.startswith("subgraph")]
    assert clusters == [
        'subgraph "cluster_Fan/" {',
        'subgraph "cluster_Fan/Both[0]/" {',
        'subgraph "cluster_Fan/Both[1]/" {',
        'subgraph "cluster_Fan/Both[1]/Inner/" {',
    ]
    # nested states are named by their path; each sub-machine's first state hangs from its state
    assert '"Fan/Both[1]/Inner/Leaf" [label="Leaf\\nPass", penwidth=2.5];' in lines
    assert '"Fan" -> "Fan/Both" [style=dotted, color="#8c959f", label=" each item"];' in lines
    assert '"Fan/Both" -> "Fan/Both[1]/Inner" [style=dotted, color="#8c959f", label=" branch 1"];' in lines
    assert (
        '"Fan/Both[1]/Inner" -> "Fan/Both[1]/Inner/Leaf" [style=dotted, color="#8c959f", label=" each item"];'
        in (lines)
    )
    # the top level keeps its edges and marks; nested states are not filled by the run's marks
    assert any(line.startswith('"Fan" -> "Report"') for line in lines)
    assert lines[lines.index('subgraph "cluster_Fan/" {') - 1].startswith('"Fan" [label="Fan\\nMap"')
    assert 'fillcolor="#dafbe1"' in lines[lines.index('subgraph "cluster_Fan/" {') - 1]
    nested_nodes = [line for line in lines if line.startswith('"Fan/') and "[label=" in line]
    assert len(nested_nodes) == 4 and not any("fillcolor" in line for line in nested_nodes)
    # braces balance: every cluster is closed
    assert dot.count("{") == dot.count("}")


def test_dot_nesting_is_bounded() -> None:
    deep: dict = END
    for _ in range(30):
        deep = {"Type": "Map", "Iterator": machine("M", deep), "End": True}
    dot = to_dot(machine("M", deep))
    assert dot.count("subgraph") == 10  # MAX_DOT_NESTING levels; deeper states are drawn as their state only
