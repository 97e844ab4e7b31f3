"""Every corpus flow runs to an end (Succeeded, or a Failed with a defined error) with providers that succeed.

The run input is synthesised from the paths the flow reads (`.$` values, InputPath, Choice Variables): each
path that no earlier state writes gets a string, so most flows succeed; the rest must fail with a named error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from corpus import CORPUS_FILES as FILES
from openflows.language.states import parse_definition

from .conftest import drive

_SEGMENT = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")


def _read_paths(node: Any) -> list[str]:
    """Every path string a definition reads: `.$` values, InputPath, Variable, ...Path operands."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            reads = key.endswith(("Path", ".$")) or key == "Variable"
            if isinstance(value, str) and value.startswith("$.") and reads and key != "ResultPath":
                found.append(value)
            found.extend(_read_paths(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_read_paths(item))
    return found


def _written_roots(definition: dict[str, Any]) -> set[str]:
    roots = set()
    for state in definition["States"].values():
        for rp in [state.get("ResultPath"), *[c.get("ResultPath") for c in state.get("Catch", [])]]:
            match = _SEGMENT.match(rp[1:]) if isinstance(rp, str) and rp.startswith("$.") else None
            if match and match.group(1):
                roots.add(match.group(1))
    return roots


def synthesise_input(definition: dict[str, Any]) -> dict[str, Any]:
    """A run input holding a string at every path the flow reads and no state writes."""
    doc: dict[str, Any] = {}
    written = _written_roots(definition)
    for path in _read_paths(definition):
        segments = [(m.group(1), m.group(2)) for m in _SEGMENT.finditer(path[1:])]
        if not segments or segments[0][0] in written or segments[0][0] == "_context":
            continue
        node: Any = doc
        for i, (key, index) in enumerate(segments):
            last = i == len(segments) - 1
            nxt: Any = "value" if last else ({} if segments[i + 1][0] is not None else [])
            if key is not None and isinstance(node, dict):
                if not last and not isinstance(node.get(key), dict | list):
                    node[key] = nxt
                node = node.setdefault(key, nxt)
            elif index is not None and isinstance(node, list):
                while len(node) <= int(index):
                    node.append(nxt if len(node) == int(index) else "value")
                node = node[int(index)]
            else:
                break
    return doc


@pytest.mark.skipif(not FILES, reason="flow corpus not available")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_flow_runs_to_an_end(path: Path) -> None:
    definition = json.loads(path.read_text())
    parsed = parse_definition(definition)
    result = drive(parsed, synthesise_input(definition), max_steps=200)
    assert result.status in ("SUCCEEDED", "FAILED")
    if result.status == "FAILED":
        assert result.error and result.outcome.state in definition["States"]
    assert result.codes[0] == "FlowStarted"
    assert result.codes[-1] in ("FlowSucceeded", "FlowFailed")
    # every action got a deterministic request id
    assert all(s.request_id.startswith("r-1/") for s in result.starts)


#: flows that cannot succeed with echoing providers, and why
EXPECTED_FAILURES = {
    "gac-failed-consent": "YourErrorCode",  # ends in a Fail state by design
    "gac-docs-move-copy-and-delete": "States.Runtime",  # reads DATA[0] of a Transfer `stat` result
    "gac-loop-with-batch-processing": "States.Runtime",  # reads `length` of a Transfer `ls` result
}


def test_most_corpus_flows_succeed() -> None:
    if not FILES:
        pytest.skip("flow corpus not available")
    outcomes = {}
    for path in FILES:
        definition = json.loads(path.read_text())
        outcomes[path.stem] = drive(definition, synthesise_input(definition), max_steps=200)
    failed = {name: r.error for name, r in outcomes.items() if r.status == "FAILED"}
    assert failed == {name: error for name, error in EXPECTED_FAILURES.items() if name in outcomes}
