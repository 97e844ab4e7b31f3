"""Virtualenvs of the real clients the acceptance tests run unchanged (the globus CLI, gladier,
globus-registered-api, globus-action-provider-tools): each pins its own globus-sdk, so each lives in a
virtualenv of its own at the repository root (`.venv-<name>`, git-ignored), built on first use and reused
while its requirements stay the same (they are recorded in `<venv>/requirements.json`).

pytest-xdist workers may ask for one at the same time: an exclusive `flock` on `.venv-<name>.lock` makes one
of them build it while the others wait. Building needs the package index; without it the tests that need the
client are skipped, except under CI (`CI` set), where they fail: CI has the network and must run them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT = 900  # seconds: gladier brings globus-compute-sdk and its dependencies
MARKER = "requirements.json"


def _cached(venv: Path, requirements: Sequence[str]) -> dict[str, Any] | None:
    try:
        recorded = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("requirements") != list(requirements) or not (venv / "bin" / "python").exists():
        return None
    return recorded


def _build(venv: Path, requirements: Sequence[str]) -> float:
    """(Re)build the virtualenv; the seconds it took."""
    started = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]
    subprocess.run(pip, check=True, capture_output=True, timeout=PIP_TIMEOUT)
    return time.monotonic() - started


def client_venv(name: str, requirements: Sequence[str]) -> Path:
    """`.venv-<name>` with `requirements` installed (built once, under the lock, when missing or of other
    requirements); skips the test when it cannot be built, fails it under CI."""
    venv = REPO_ROOT / f".venv-{name}"
    lock_path = REPO_ROOT / f".venv-{name}.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if _cached(venv, requirements) is None:
            try:
                seconds = _build(venv, requirements)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                shutil.rmtree(venv, ignore_errors=True)
                output = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
                message = f"cannot build {venv.name} ({' '.join(requirements)}): {exc}\n{output}"
                if os.environ.get("CI"):
                    pytest.fail(message)
                pytest.skip(message)
            record = {"requirements": list(requirements), "build_seconds": round(seconds, 1)}
            (venv / MARKER).write_text(json.dumps(record))
    return venv
