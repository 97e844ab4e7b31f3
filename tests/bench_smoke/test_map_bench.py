"""Smoke test of bench/map.py: `--quick` runs the three parts end to end (moto's Map, a real server on
SQLite, then on PostgreSQL with a worker process when OPENFLOWS_TEST_POSTGRES_URL is set), prints its
table and writes its own section of `--output` (nothing is asserted about speed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "bench" / "map.py"

pytest.importorskip("moto")

ROWS = (
    r"\| pure Map, 100 items: moto \(in-process, one execution\), items/s \| [\d,]+ \|",
    r"\| pure Map, 1,000 items: OpenFlows \(durable, {backend}\), items/s \| [\d,]+ \|",
    r"\| pure Map, 1,000 items: OpenFlows / moto \| [\d.]+x \|",
    r"\| hello_world Map, 100 items, MaxConcurrency 100: OpenFlows, items/s \| [\d,]+ \|",
    r"\| hello_world Map, 100 items of 1 s each, MaxConcurrency 100: seconds / provider-bound ideal "
    r"\(items / 100 x 1 s\) \| [\d.]+ s / 1\.0 s \(\d+% of the provider's pace\) \|",
    r"\| resume: 200-item Map killed \(SIGKILL\) at \d+ items done -> restart to SUCCEEDED \(5 s leases\) "
    r"\| [\d.]+ s \|",
)


def openflows_bin() -> Path:
    configured = os.environ.get("OPENFLOWS_TEST_BIN")
    return Path(configured) if configured else Path(sys.executable).parent / "openflows"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_quick_map_benchmark_prints_and_writes_its_section(
    tmp_path: Path, backend: str, postgres_url: str | None
) -> None:
    executable = openflows_bin()
    if not executable.exists():
        pytest.skip(f"openflows executable not found at {executable}")
    args = [sys.executable, str(SCRIPT), "--quick", "--openflows", str(executable)]
    section, label = "map", "SQLite"
    if backend == "postgres":
        if not postgres_url:
            pytest.skip("needs PostgreSQL (OPENFLOWS_TEST_POSTGRES_URL)")
        args += ["--postgres", postgres_url, "--workers", "1"]
        section, label = "map-postgres", "PostgreSQL, serve \\+ 1 workers"
    output = tmp_path / "RESULTS.md"
    output.write_text(
        "<!-- section engine: written by bench/engine.py -->\nkept\n<!-- end of section engine -->\n"
    )
    done = subprocess.run(
        [*args, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, f"bench/map.py --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    out = done.stdout
    for row in ROWS:
        assert re.search(row.format(backend=label), out), f"missing row {row!r} in:\n{out}"
    text = output.read_text()
    assert "kept" in text  # another benchmark's section stays
    assert (
        f"<!-- section {section}: written by bench/map.py -->\n{out}<!-- end of section {section} -->" in text
    )
