"""Chaos test of the scale-out deployment: one API process (`openflows serve --no-executor`) and three
`openflows worker` processes on one PostgreSQL database. 300 runs of a flow with Pass, Choice, Wait and a slow
built-in action (hello_world with `sleep_time`) are started while, every two seconds, a random worker is
killed with SIGKILL and restarted. The flow loops: it visits its Wait and its Action state twice.

Every run must SUCCEED with the right output, every action must have been started exactly once per visit of
its state (two per run, with distinct request ids and action ids), every run log must hold exactly the
transitions of the flow's path, once each, and no work item may be left behind. The test uses
a fresh database of its own and is bounded to 3 minutes; it is skipped only when PostgreSQL is not
configured (CI configures it).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from crashkit import free_port, wait_until

from openflows.store.db import Database, normalize_url
from openflows.store.schema import provider_actions, run_logs, runs, work_items

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RUNS = 300
WORKERS = 3
#: one worker is killed (SIGKILL) and restarted this often
KILL_EVERY_SECONDS = 1.5  # seconds
#: after this many kills the workers are left alone to finish: on a loaded machine a restart takes longer
#: than KILL_EVERY_SECONDS, and endless kills would starve the runs
MAX_KILLS = 40
#: the whole test, processes included, must fit in this
BUDGET_SECONDS = 240.0  # seconds
_CLI = "from openflows.cli.main import main; main()"

FLOW = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "greeting.$": "$.greeting", "echoed": [], "actions": []},
            "Next": "Size",
        },
        "Size": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 150, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "Next": "Pause"},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "Next": "Pause"},
        # long enough that every run is in flight through several kills, however fast the engine gets
        "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Hello"},
        "Hello": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string.=": "greeting + ' #' + str(len(echoed))", "sleep_time": 2},
            "ResultPath": "$.hello",
            "Next": "Count",
        },
        "Count": {
            "Type": "ExpressionEval",
            "Parameters": {
                "echoed.=": "echoed + [hello.details.hello]",
                "actions.=": "actions + [hello.action_id]",
            },
            "ResultPath": "$.seen",
            "Next": "Keep",
        },
        "Keep": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.n",
                "greeting.$": "$.greeting",
                "size.$": "$.size",
                "echoed.$": "$.seen.echoed",
                "actions.$": "$.seen.actions",
            },
            "Next": "Again",
        },
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.echoed[1]", "IsPresent": False, "Next": "Pause"}],
            "Default": "Done",
        },
        "Done": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.n",
                "size.$": "$.size",
                "echoed.$": "$.echoed",
                "actions.$": "$.actions",
            },
            "End": True,
        },
    },
}
#: the states each run goes through, in order (the loop Pause..Again twice)
LOOP = ["Pause", "Hello", "Count", "Keep", "Again"]


class Process:
    """One `openflows` subprocess (its output goes to a log file in `home`)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], home: Path) -> None:
        self.name, self.args, self.env, self.home = name, args, env, home
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.home / f"{self.name}-{self.starts}.log", "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", _CLI, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def terminate(self) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen is not None else None
        self.popen.terminate()
        try:
            return self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def output(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.home.glob(f"{self.name}-*"))
        )


@pytest.fixture
def chaos_database(postgres_url: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards)."""
    if postgres_url is None:
        pytest.skip("needs PostgreSQL (OPENFLOWS_TEST_POSTGRES_URL)")
    admin_url = sa.make_url(normalize_url(postgres_url))
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"ofchaos_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_three_workers_killed_at_random_run_300_flows_exactly_once(
    chaos_database: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    rng = random.Random(5)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
        "OPENFLOWS_HOME": str(tmp_path / "home"),
        "OPENFLOWS_DATABASE_URL": chaos_database,
        "OPENFLOWS_PUBLIC_URL": url,
        "OPENFLOWS_LEASE_SECONDS": "2",  # a killed worker's items come back within about 3 s
        "OPENFLOWS_POLL_MAX_SECONDS": "1",
        "OPENFLOWS_WORKER_THREADS": "4",
        "OPENFLOWS_LOG_LEVEL": "WARNING",
        "OPENFLOWS_LOG_FORMAT": "json",
    }
    (tmp_path / "home").mkdir()
    cli = subprocess.run(
        [sys.executable, "-c", _CLI, "tokens", "create", "--username", "chaos", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    token = __import__("json").loads(cli.stdout.strip().splitlines()[-1])["token"]
    api = Process(
        "api", ["serve", "--no-executor", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path
    )
    workers = [Process(f"worker{i}", ["worker"], env, tmp_path) for i in range(WORKERS)]
    processes = [api, *workers]
    try:
        for process in processes:
            process.start()
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        def api_ready() -> bool:
            assert api.popen is not None and api.popen.poll() is None, api.output()
            try:
                return http.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(api_ready, timeout=60, what="the API process")
        flow = http.post("/flows", json={"title": "chaos", "definition": FLOW, "input_schema": {}})
        assert flow.status_code == 201, flow.text
        flow_id = flow.json()["id"]

        run_ids: list[str] = []
        kills = 0
        last_kill = time.monotonic()

        def chaos() -> None:
            nonlocal kills, last_kill
            if kills >= MAX_KILLS or time.monotonic() - last_kill < KILL_EVERY_SECONDS:
                return
            last_kill = time.monotonic()
            victim = rng.choice(workers)
            victim.kill()
            victim.start()
            kills += 1

        for n in range(RUNS):
            body = {"n": n, "greeting": f"hello {n}"}
            response = http.post(f"/flows/{flow_id}/run", json={"body": body, "label": f"chaos {n}"})
            assert response.status_code == 201, response.text
            run_ids.append(response.json()["run_id"])
            chaos()

        db = Database(chaos_database)
        try:

            def all_ended() -> bool:
                chaos()
                assert time.monotonic() - began < BUDGET_SECONDS - 20, "runs did not finish in time"
                with db.read() as conn:
                    open_runs = conn.execute(
                        sa.select(sa.func.count()).select_from(runs).where(runs.c.completion_time.is_(None))
                    ).scalar_one()
                    items = conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar_one()
                return open_runs == 0 and items == 0  # ended, and their actions released

            created = time.monotonic()
            wait_until(all_ended, timeout=BUDGET_SECONDS, interval=0.2, what="every run to end")
            print(
                f"runs created in {created - began:.1f} s, all ended after {time.monotonic() - began:.1f} s"
            )
            assert kills >= 5, f"only {kills} kills: the chaos was too short to mean anything"
            # a worker killed a moment ago may still be starting: wait until all three listen again
            wait_until(lambda: listeners(db) == WORKERS, timeout=30, what="every worker to be up")
            # graceful stop: SIGTERM makes every worker hand back its work and exit 0
            codes = [worker.terminate() for worker in workers]
            assert codes == [0] * WORKERS, [w.output() for w in workers]
            check_outcome(db, run_ids)
        finally:
            db.dispose()
        http.close()
    finally:
        for process in processes:
            process.kill()
    assert time.monotonic() - began < BUDGET_SECONDS


def phase(code: str) -> str:
    """The phase of a state's log code (`PassStarted` -> "Started", `ActionCompleted` -> "Completed")."""
    return next((end for end in ("Started", "Completed") if code.endswith(end)), code)


def listeners(db: Database) -> int:
    """How many processes hold `LISTEN openflows_work` on this database (one per running worker)."""
    with db.read() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = 'LISTEN openflows_work'"
                )
            ).scalar_one()
        )


def check_outcome(db: Database, run_ids: list[str]) -> None:
    with db.read() as conn:
        rows = {str(row.id): row for row in conn.execute(sa.select(runs))}
        assert set(rows) == set(run_ids)
        logs: dict[str, list[Any]] = collections.defaultdict(list)
        for entry in conn.execute(sa.select(run_logs).order_by(run_logs.c.run_id, run_logs.c.seq)):
            logs[str(entry.run_id)].append(entry)
        actions = list(conn.execute(sa.select(provider_actions.c.request_id, provider_actions.c.provider)))
        leftover = conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar_one()
    for n, run_id in enumerate(run_ids):
        row = rows[run_id]
        assert row.status == "SUCCEEDED", (run_id, row.details)
        size = "big" if n >= 150 else "small"
        output = row.details["output"]
        assert {key: output[key] for key in ("n", "size", "echoed")} == {
            "n": n,
            "size": size,
            "echoed": [f"hello {n} #0", f"hello {n} #1"],
        }
        assert len(set(output["actions"])) == 2, ("one action per visit", run_id, output["actions"])
        entries = logs[run_id]
        assert [entry.seq for entry in entries] == list(range(len(entries)))
        transitions = [
            (entry.code, (entry.details or {}).get("state_name"))
            for entry in entries
            if entry.code != "ActionPolled"
        ]
        path = ["Prepare", "Size", size.capitalize(), *LOOP, *LOOP, "Done"]
        expected = [(code, state) for state in path for code in ("Started", "Completed")]
        shown = [(phase(code), state) for code, state in transitions[1:-1]]
        assert transitions[0][0] == "FlowStarted" and transitions[-1][0] == "FlowSucceeded"
        assert shown == expected, (run_id, transitions)
    per_request = collections.Counter(request_id for request_id, _ in actions)
    assert all(count == 1 for count in per_request.values())
    per_run = collections.Counter(request_id.split("/", 1)[0] for request_id in per_request)
    assert per_run == {run_id: 2 for run_id in run_ids}, "each run's action was started once per visit"
    assert all(request_id.split("/")[1:3] in (["Hello", "1"], ["Hello", "2"]) for request_id in per_request)
    assert leftover == 0, "no work item is left behind"
