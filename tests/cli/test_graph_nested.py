"""`openflows flows graph` draws the sub-machines of Map and Parallel states nested under their state."""

from __future__ import annotations

import io

from rich.console import Console

from openflows.cli.graph import print_graph


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
