"""SIGKILL during a 200-item Map with an action per item (issue 19): real `openflows worker` processes on
SQLite and PostgreSQL; the first is killed mid-map, others finish the run. Every item completes, each item's
action is started exactly once, and the results are gathered in item order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from enginekit import get_run, insert_run

from openflows.shared.clock import SystemClock
from openflows.store.db import Database
from openflows.store.schema import provider_actions, runs

pytestmark = pytest.mark.slow

_CLI = "from openflows.cli.main import main; main()"
ITEMS = 200
FLOW = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.names",
            "MaxConcurrency": 20,
            "ItemSelector": {"name.$": "$._context.map_item.value"},
            "ItemProcessor": {
                "StartAt": "Hello",
                "States": {
                    "Hello": {
                        "Type": "Action",
                        "ActionUrl": "https://actions.globus.org/hello_world",
                        "Parameters": {"echo_string.$": "$.name", "sleep_time": 0},
                        "ResultPath": "$.said",
                        "Next": "Keep",
                    },
                    "Keep": {"Type": "Pass", "Parameters": {"echo.$": "$.said.details.hello"}, "End": True},
                },
            },
            "ResultPath": "$.out",
            "End": True,
        }
    },
}


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _CLI, "worker", "--threads", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _count_done(db: Database, parent: object) -> int:
    with db.read() as conn:
        stmt = sa.select(sa.func.count()).where(runs.c.parent_run_id == parent, runs.c.status == "SUCCEEDED")
        return int(conn.execute(stmt).scalar_one())


def _wait(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkill_mid_map_loses_nothing_and_starts_each_action_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
        "OPENFLOWS_HOME": str(tmp_path / "home"),
        "OPENFLOWS_DATABASE_URL": database_url,
        "OPENFLOWS_LEASE_SECONDS": "2",
    }
    names = [f"item-{i}" for i in range(ITEMS)]
    run_id = insert_run(db, FLOW, {"names": names}, now=SystemClock().now())
    log = tmp_path / "workers.log"
    first = _worker(env, log)
    others: list[subprocess.Popen[bytes]] = []
    try:
        _wait(lambda: _count_done(db, run_id) >= 30, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = _count_done(db, run_id)
        assert killed_at < ITEMS, "the map finished before the kill: nothing was tested"
        workers = 2 if database_url.startswith("postgresql") else 1
        others = [_worker(env, log) for _ in range(workers)]
        _wait(lambda: get_run(db, run_id)["status"] != "ACTIVE", timeout=240)
    finally:
        for process in (first, *others):
            if process.poll() is None:
                process.kill()
                process.wait(10)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", (run["details"], log.read_text()[-2000:])
    assert run["run_state"]["out"] == [{"echo": name} for name in names]
    with db.read() as conn:
        request_ids = [row.request_id for row in conn.execute(sa.select(provider_actions.c.request_id))]
    assert len(request_ids) == ITEMS and len(set(request_ids)) == ITEMS  # one action per item, started once
