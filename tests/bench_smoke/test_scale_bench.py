"""Smoke test of bench/scale.py: `--quick` measures SQLite and (when configured) PostgreSQL with 1, 2 and 4
workers end to end and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "bench" / "scale.py"

pytestmark = pytest.mark.slow


def test_quick_scale_benchmark_prints_its_table(postgres_url: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")}
    args = [sys.executable, str(SCRIPT), "--quick"]
    if postgres_url:
        args += ["--postgres-url", postgres_url]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=280, check=False, cwd=REPO_ROOT, env=env
    )
    assert done.returncode == 0, (
        f"bench/scale.py --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    lines = done.stdout.splitlines()
    assert "| database | workers | run starts/s | state transitions/s |" in lines
    rows = [line for line in lines if line.startswith("| SQLite") or line.startswith("| PostgreSQL")]
    expected = ["SQLite (embedded) | 1"] + ([f"PostgreSQL | {n}" for n in (1, 2, 4)] if postgres_url else [])
    assert [row.split(" |", 2)[0].strip("| ") + " | " + row.split("|")[2].strip() for row in rows] == expected
    for row in rows:
        starts, transitions = (
            float(cell.strip().replace(",", "")) for cell in row.strip("|").split("|")[2:4]
        )
        assert starts > 0 and transitions > 0
