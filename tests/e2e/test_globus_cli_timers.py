"""The stock `globus` CLI (globus-cli 3.44.0, its virtualenv built by test_globus_cli.py) against a live
`openflows serve`, through the Timers API: GLOBUS_SDK_SERVICE_URL_TIMER (and _TRANSFER, for the collection
look-up of `timer create transfer`) point at the server, whose minimum timer interval is lowered to 1 second.

- `globus timer create flow FLOW --interval 2s --stop-after-runs 3 --input ...`: exactly three runs appear,
  started by the timer's owner (the CLI's client identity) with the input given; `timer list` and `timer show`
  (text and JSON) show the timer ended after three runs;
- `globus timer create flow` for a flow with a hello_world Action: the run the timer starts acts as the
  timer's owner at the provider;
- `globus timer pause|resume|delete` on a second timer;
- `globus timer create transfer SRC:/ DST:/mirror/ --recursive --sync-level size` between two collections of
  the timer's owner: each firing copies the files that are new since the last.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_globus_cli import globus_executable

from sdk.support import Server, start_server

OPENFLOWS = Path(sys.executable).parent / "openflows"
PASS = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
HELLO = {
    "StartAt": "Hi",
    "States": {
        "Hi": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string": "timed"},
            "ResultPath": "$.Hi",
            "End": True,
        }
    },
}
SCHEMA = {"type": "object", "required": ["sample"], "properties": {"sample": {"type": "string"}}}
#: longest wait for a timer's schedule to play out (its occurrences are two seconds apart)
TIMER_TIMEOUT = 40.0  # seconds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-globus-timers-"))
    live = start_server(OPENFLOWS, workdir, {"OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS": "1"})
    try:
        yield live
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)


Globus = Callable[..., tuple[str, Any]]


@pytest.fixture(scope="module")
def globus(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Globus:
    executable = globus_executable()
    created = subprocess.run(
        [str(OPENFLOWS), "clients", "create", "--username", "timekeeper@example.org", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    client = json.loads(created.stdout)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path_factory.mktemp("globus-home")),
        "GLOBUS_CLI_CLIENT_ID": client["client_id"],
        "GLOBUS_CLI_CLIENT_SECRET": client["client_secret"],
        "GLOBUS_CLI_INTERACTIVE": "0",
        "GLOBUS_SDK_HTTP_TIMEOUT": "30",
        **{
            f"GLOBUS_SDK_SERVICE_URL_{service}": server.base_url
            for service in ("AUTH", "FLOWS", "GROUPS", "TIMER", "TRANSFER")
        },
    }

    def run(*args: str, expect_json: bool = True) -> tuple[str, Any]:
        done = subprocess.run(
            [str(executable), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (
            f"globus {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\n"
            f"stderr:\n{done.stderr}\nserver log:\n{server.log_tail(30)}"
        )
        return done.stdout, json.loads(done.stdout) if expect_json else None

    run.client = client  # type: ignore[attr-defined]
    return run


def wait_for(globus: Globus, timer_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMER_TIMEOUT
    while True:
        _, job = globus("timer", "show", timer_id, "-F", "json")
        if done(job):
            return job
        assert time.monotonic() < deadline, f"timer {timer_id} did not get there: {job}"
        time.sleep(0.5)


def test_flow_timer_runs_three_times_as_its_owner(globus: Globus, tmp_path: Path) -> None:
    definition, schema = tmp_path / "echo.json", tmp_path / "schema.json"
    definition.write_text(json.dumps(PASS))
    schema.write_text(json.dumps(SCHEMA))
    _, flow = globus(
        "flows", "create", "timed echo", str(definition), "--input-schema", str(schema), "-F", "json"
    )
    sample = f"sample-{uuid.uuid4().hex[:6]}"

    _, created = globus(
        "timer",
        "create",
        "flow",
        flow["id"],
        "--interval",
        "2s",
        "--stop-after-runs",
        "3",
        "--name",
        "three samples",
        "--input",
        json.dumps({"sample": sample}),
        "-F",
        "json",
    )
    timer_id = created["job_id"]
    assert (created["name"], created["timer_type"], created["status"]) == ("three samples", "flow", "new")
    assert created["schedule"]["interval_seconds"] == 2
    assert created["schedule"]["end"] == {"condition": "iterations", "count": 3}

    text, _ = globus("timer", "list", expect_json=False)
    assert timer_id in text and "three samples" in text
    job = wait_for(globus, timer_id, lambda job: job["status"] == "ended")
    assert (job["n_runs"], job["n_errors"], job["stop_after"]) == (3, 0, {"date": None, "n_runs": 3})
    shown, _ = globus("timer", "show", timer_id, expect_json=False)
    for line in (
        "Status:                    ended",
        "Number of Runs:            3",
        "Interval:                  0:00:02",
    ):
        assert line in shown, shown
    time.sleep(2.5)  # no fourth run comes

    _, runs = globus("flows", "run", "list", "--filter-flow-id", flow["id"], "-F", "json")
    assert len(runs["runs"]) == 3
    owner = globus.client["identity_urn"]  # type: ignore[attr-defined]
    for listed in runs["runs"]:
        _, run = globus("flows", "run", "show", listed["run_id"], "-F", "json")
        assert run["run_owner"] == owner
        assert run["status"] == "SUCCEEDED" and run["details"]["output"] == {"sample": sample}
    assert sorted(r["data"]["run_id"] for r in job["results"]["data"]) == sorted(
        r["run_id"] for r in runs["runs"]
    )


def test_flow_timer_runs_act_as_the_owner_at_providers(globus: Globus, tmp_path: Path) -> None:
    """The CLI asks for `timer[<flow scope>]` (client credentials: the client acts as itself); the timer's
    run calls the built-in hello_world provider with a token of the timer's owner for the provider's
    scope."""
    definition = tmp_path / "hello.json"
    definition.write_text(json.dumps(HELLO))
    _, flow = globus("flows", "create", "timed hello", str(definition), "-F", "json")
    assert flow["globus_auth_scope"] and flow["id"] in flow["globus_auth_scope"]
    _, created = globus("timer", "create", "flow", flow["id"], "--stop-after-runs", "1", "-F", "json")
    job = wait_for(globus, created["job_id"], lambda job: job["status"] == "ended")
    assert (job["n_runs"], job["n_errors"]) == (1, 0), job
    [result] = job["results"]["data"]
    owner = globus.client["identity_urn"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + TIMER_TIMEOUT
    while True:
        _, run = globus("flows", "run", "show", result["data"]["run_id"], "-F", "json")
        if run["status"] != "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert run["status"] == "SUCCEEDED", run
    assert run["run_owner"] == owner
    # the provider's action was created by the identity of the token it received: the timer's owner
    assert run["details"]["output"]["Hi"]["creator_id"] == owner


def test_pause_resume_delete(globus: Globus, tmp_path: Path) -> None:
    definition = tmp_path / "echo.json"
    definition.write_text(json.dumps(PASS))
    _, flow = globus("flows", "create", "hourly echo", str(definition), "-F", "json")
    _, created = globus(
        "timer",
        "create",
        "flow",
        flow["id"],
        "--interval",
        "1h",
        "--start",
        "2099-01-01T00:00:00",
        "--name",
        "hourly",
        "-F",
        "json",
    )
    timer_id = created["job_id"]
    paused, _ = globus("timer", "pause", timer_id, expect_json=False)
    assert paused.strip() == f"Successfully paused job {timer_id}."
    _, job = globus("timer", "show", timer_id, "-F", "json")
    assert (job["status"], job["inactive_reason"]) == ("inactive", {"cause": "user", "detail": None})
    shown, _ = globus("timer", "show", timer_id, expect_json=False)
    assert "Paused, awaiting user action" in shown
    resumed, _ = globus("timer", "resume", timer_id, expect_json=False)
    assert resumed.strip() == f"Successfully resumed job {timer_id}."
    _, job = globus("timer", "show", timer_id, "-F", "json")
    assert (job["status"], job["next_run"][:4]) == ("new", "2099")
    _, deleted = globus("timer", "delete", timer_id, "-F", "json")
    assert (deleted["job_id"], deleted["status"]) == (timer_id, "deleted")
    _, listed = globus("timer", "list", "-F", "json")
    assert timer_id not in [j["job_id"] for j in listed]  # `timer list -F json` prints the jobs array


def test_transfer_timer_syncs_new_files(globus: Globus, server: Server, tmp_path: Path) -> None:
    # the timer's transfers act as its owner (the CLI's client identity): the collections are theirs (a
    # collection added without --owner is the local administrator's, private to them)
    owner = globus.client["identity_urn"]  # type: ignore[attr-defined]
    ids = {}
    for name in ("source", "destination"):
        (tmp_path / name).mkdir()
        ids[name] = str(uuid.uuid4())
        subprocess.run(
            [
                *(str(OPENFLOWS), "collections", "add", "--id", ids[name], "--name", name),
                *("--owner", owner, str(tmp_path / name)),
            ],
            env=server.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    (tmp_path / "source" / "one.txt").write_text("one")
    _, created = globus(
        "timer",
        "create",
        "transfer",
        f"{ids['source']}:/",
        f"{ids['destination']}:/mirror/",
        "--recursive",
        "--sync-level",
        "size",
        "--interval",
        "2s",
        "--stop-after-runs",
        "2",
        "--name",
        "mirror",
        "-F",
        "json",
    )
    timer_id = created["job_id"]
    assert created["timer_type"] == "transfer" and created["body"]["sync_level"] == 1
    succeeded = lambda job, n: [r["data"]["status"] for r in job["results"]["data"]] == ["SUCCEEDED"] * n  # noqa: E731
    wait_for(globus, timer_id, lambda job: succeeded(job, 1))
    mirror = tmp_path / "destination" / "mirror"
    assert sorted(p.name for p in mirror.iterdir()) == ["one.txt"]
    (tmp_path / "source" / "two.txt").write_text("two")
    job = wait_for(globus, timer_id, lambda job: job["status"] == "ended" and succeeded(job, 2))
    assert sorted(p.name for p in mirror.iterdir()) == ["one.txt", "two.txt"]
    latest = job["results"]["data"][0]["data"]["details"]
    assert (latest["files_transferred"], latest["files_skipped"]) == (1, 1)
