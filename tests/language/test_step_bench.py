"""Smoke test of bench/language.py: `--quick` runs and prints both tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "language.py"


def test_bench_quick_prints_the_tables() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "us/step" in out and "Pass chain (100 states)" in out and "ExpressionEval" in out
    assert "jsonpath-ng" in out and "$.list[3].name" in out
    assert "slowest ratio vs precompiled jsonpath-ng" in out
