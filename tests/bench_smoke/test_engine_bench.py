"""Smoke test of bench/engine.py: `--quick` runs every section end to end against moto and a real server,
prints its table and writes it to `--output` (nothing is asserted about speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "bench" / "engine.py"

pytest.importorskip("moto")
pytest.importorskip("boto3")

OURS = "OpenFlows (SQLite, SDK) (server-side start->completion), transitions/s |"
ROWS = (
    "| 1 peer | 51-state Pass chain: moto via boto3 (in-process backend), transitions/s |",
    "| 1 peer | 51-state Pass chain: " + OURS,
    "| 1 peer | 51-state Pass chain: OpenFlows / moto via boto3 |",
    "| 1 peer | Choice/Pass loop x100: moto via boto3 (in-process backend), transitions/s |",
    "| 1 peer | Choice/Pass loop x100: " + OURS,
    "| 1 peer | Choice/Pass loop x100: OpenFlows / moto via boto3 |",
    "| 2 limit | raw sqlite3 transactions/s (read+write run, log row, work item, commit) |",
    "| 2 limit | OpenFlows chain transitions/s as a fraction of raw |",
    "| 3 latency | 3-state Pass: run_flow returned -> SUCCEEDED, p50 / p99 |",
    "| 3 latency | hello_world completion_time -> ActionCompleted log entry, p50 / p99 |",
    "| 4 scale | server RSS idle -> with 100 runs in a long Wait |",
    "| 4 scale | transitions/s with 50 runs in flight (Wait gate + 5 Pass) |",
    "| 4 scale | get_run p50 / p99 @ 200 stored runs |",
    "| 4 scale | get_run p50 / p99 @ 2,000 stored runs |",
    "| 4 scale | list_runs page of 20 p50 / p99, first page @ 2,000 stored runs |",
    "| 4 scale | list_runs page of 20 p50 / p99, next page by marker @ 2,000 stored runs |",
)


def openflows_bin() -> Path:
    configured = os.environ.get("OPENFLOWS_TEST_BIN")
    return Path(configured) if configured else Path(sys.executable).parent / "openflows"


def test_quick_engine_benchmark_prints_and_writes_its_table(tmp_path: Path) -> None:
    executable = openflows_bin()
    if not executable.exists():
        pytest.skip(f"openflows executable not found at {executable}")
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--openflows", str(executable), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, (
        f"bench/engine.py --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    out = done.stdout
    assert "machine: " in out and "cores" in out and "SQLite" in out and "Python" in out, out
    assert "| section | measurement | result |" in out, out
    for row in ROWS:
        assert row in out, f"missing row {row!r} in:\n{out}"
    assert output.read_text() == (
        f"<!-- section engine: written by bench/engine.py -->\n{out}<!-- end of section engine -->\n"
    )
