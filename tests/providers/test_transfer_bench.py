"""Smoke test of bench/transfer.py: `--quick` runs end to end and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "transfer.py"


def test_quick_transfer_benchmark_prints_its_table(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert "| data set | size | cp -r | openflows transfer | ratio (target >= 0.8) |" in out, out
    assert "| 1 file |" in out and "| 300 small files |" in out, out
    assert not list(tmp_path.iterdir())  # the work directory is removed
