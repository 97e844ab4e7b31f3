"""The README's Python example (docs/examples/sdk_examples.py: the globus-sdk documentation's FlowsClient
examples through `openflows.client`) runs against a real server and prints what the README shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "sdk_examples.py"


def test_the_readme_sdk_example_runs_against_a_local_server(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENFLOWS_", "GLOBUS_SDK_"))}
    env.update(cli_env)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("created flow ") and "/flow_" in lines[0]
    assert "flow: Hello World flow_owner" in lines
    assert "run SUCCEEDED {'Hello': 'World', 'hello': 'hi'}" in lines
    assert [line for line in lines if line.startswith("log:")] == [
        "log: FlowStarted",
        "log: ActionStarted",
        "log: ActionCompleted",
        "log: FlowSucceeded",
    ]
    assert lines[-5:] == [
        "label: renamed",
        "cancel: SUCCEEDED",
        "released: True",
        "deleted flow: True",
        "error: 404 NOT_FOUND",
    ]
