"""Smoke test of bench/service.py: `--quick` runs end to end against a real server and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "bench" / "service.py"


def openflows_bin() -> Path:
    configured = os.environ.get("OPENFLOWS_TEST_BIN")
    return Path(configured) if configured else Path(sys.executable).parent / "openflows"


def test_quick_service_benchmark_prints_its_table() -> None:
    executable = openflows_bin()
    if not executable.exists():
        pytest.skip(f"openflows executable not found at {executable}")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--openflows", str(executable)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, (
        f"bench/service.py --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    out = done.stdout
    assert "machine:" in out and "cores" in out and "SQLite" in out, out
    assert "| measurement" in out, out
    for header in (
        "run starts per second (SDK run_flow, 1 client)",
        "get_run p50",
        "get_run p99",
        "list_runs first page (per_page 20) @ 200 runs",
        "list_runs first page (per_page 20) @ 2,000 runs",
        "list_runs deep page via marker",
    ):
        assert header in out, f"missing row {header!r} in:\n{out}"
