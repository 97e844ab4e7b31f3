"""Crash test of timers in the scale-out deployment: `openflows serve --no-executor` and two `openflows
worker` processes on one PostgreSQL database; 20 flow timers fire every three seconds, ten times each, while
a worker is killed with SIGKILL and restarted every two seconds (once both are up: one worker is always
running, so no occurrence is due while every worker is down).

Every occurrence of every timer must fire exactly once, counted per timer against the schedule: occurrences
0..9, each with one result and one run (the run id derived from the timer and the occurrence), no occurrence
skipped (a killed worker's lease comes back in about a second, well within the interval) and none doubled;
every run succeeds and no work item is left behind. Skipped when PostgreSQL is not configured.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from crashkit import free_port, wait_until
from test_chaos import Process, chaos_database, listeners  # noqa: F401 (chaos_database is a fixture)

from openflows.engine.timers import run_id_for
from openflows.store.db import Database
from openflows.store.schema import runs, timer_runs, timers, work_items

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TIMERS = 20
WORKERS = 2
INTERVAL_SECONDS = 3
OCCURRENCES = 10
#: a worker is killed (SIGKILL) and restarted this often (when both are up; a start takes 2-3 s here)
KILL_EVERY_SECONDS = 2.0  # seconds
#: the whole test, processes included
BUDGET_SECONDS = 90.0  # seconds
_CLI = "from openflows.cli.main import main; main()"
FLOW = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}


def test_two_workers_killed_at_random_fire_every_occurrence_once(chaos_database: str, tmp_path: Path) -> None:  # noqa: F811
    began = time.monotonic()
    rng = random.Random(17)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
        "OPENFLOWS_HOME": str(tmp_path / "home"),
        "OPENFLOWS_DATABASE_URL": chaos_database,
        "OPENFLOWS_PUBLIC_URL": url,
        "OPENFLOWS_LEASE_SECONDS": "1",  # a killed worker's timer item comes back within about 1.5 s
        "OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS": "1",
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
    token = json.loads(cli.stdout.strip().splitlines()[-1])["token"]
    api = Process(
        "api", ["serve", "--no-executor", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path
    )
    workers = [Process(f"worker{i}", ["worker"], env, tmp_path) for i in range(WORKERS)]
    processes = [api, *workers]
    db = Database(chaos_database)
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
        wait_until(lambda: listeners(db) == WORKERS, timeout=60, what="both workers")
        flow = http.post("/flows", json={"title": "timed", "definition": FLOW, "input_schema": {}})
        assert flow.status_code == 201, flow.text
        flow_id = flow.json()["id"]
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        timer_ids = []
        for n in range(TIMERS):
            spread = start + dt.timedelta(seconds=n * INTERVAL_SECONDS / TIMERS)
            payload = {
                "timer": {
                    "timer_type": "flow",
                    "flow_id": flow_id,
                    "name": f"chaos {n}",
                    "schedule": {
                        "type": "recurring",
                        "interval_seconds": INTERVAL_SECONDS,
                        "start": spread.isoformat(),
                        "end": {"condition": "iterations", "count": OCCURRENCES},
                    },
                    "body": {"body": {"n": n}, "label": f"chaos {n}"},
                }
            }
            response = http.post("/v2/timer", json=payload)
            assert response.status_code == 201, response.text
            timer_ids.append(response.json()["timer"]["job_id"])

        kills = 0
        last_kill = time.monotonic()

        def chaos() -> None:
            nonlocal kills, last_kill
            if time.monotonic() - last_kill < KILL_EVERY_SECONDS or listeners(db) < WORKERS:
                return
            last_kill = time.monotonic()
            victim = rng.choice(workers)
            victim.kill()
            victim.start()
            kills += 1

        def progress() -> list[tuple[str, int, int]]:
            with db.read() as conn:
                return [
                    (row.status, row.number_of_runs, row.number_of_missed)
                    for row in conn.execute(sa.select(timers).order_by(timers.c.name))
                ]

        def all_done() -> bool:
            chaos()
            assert time.monotonic() - began < BUDGET_SECONDS - 10, (
                f"the timers did not end in time: {progress()}"
            )
            with db.read() as conn:
                active = conn.execute(
                    sa.select(sa.func.count()).select_from(timers).where(timers.c.status != "ended")
                ).scalar_one()
                open_runs = conn.execute(
                    sa.select(sa.func.count()).select_from(runs).where(runs.c.completion_time.is_(None))
                ).scalar_one()
                items = conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar_one()
            return active == 0 and open_runs == 0 and items == 0

        wait_until(all_done, timeout=BUDGET_SECONDS, interval=0.2, what="every timer to end")
        print(f"{kills} kills; every timer ended after {time.monotonic() - began:.1f} s")
        assert kills >= 3, f"only {kills} kills: the chaos was too short to mean anything"
        wait_until(lambda: listeners(db) == WORKERS, timeout=30, what="every worker to be up")
        assert [worker.terminate() for worker in workers] == [0] * WORKERS
        check_outcome(db, timer_ids)
        http.close()
    finally:
        db.dispose()
        for process in processes:
            process.kill()
    assert time.monotonic() - began < BUDGET_SECONDS


def check_outcome(db: Database, timer_ids: list[str]) -> None:
    with db.read() as conn:
        rows = {str(row.id): row for row in conn.execute(sa.select(timers))}
        results = collections.defaultdict(list)
        for result in conn.execute(sa.select(timer_runs).order_by(timer_runs.c.occurrence)):
            results[str(result.timer_id)].append(result)
        started = {row.id: row for row in conn.execute(sa.select(runs))}
    assert set(rows) == set(timer_ids)
    for timer_id in timer_ids:
        row = rows[timer_id]
        fired = results[timer_id]
        assert [r.occurrence for r in fired] == list(range(OCCURRENCES)), (timer_id, fired)
        assert [r.status for r in fired] == ["started"] * OCCURRENCES
        assert sum(r.missed for r in fired) == 0 and row.number_of_missed == 0
        assert (row.status, row.number_of_runs, row.number_of_errors) == ("ended", OCCURRENCES, 0)
        expected = [run_id_for(uuid.UUID(timer_id), k) for k in range(OCCURRENCES)]
        assert [r.run_id for r in fired] == expected
        for k, run_id in enumerate(expected):
            run = started[run_id]
            assert run.status == "SUCCEEDED"
            # each occurrence fired once, at (or after) its own due time
            assert run.start_time >= fired[k].due_at
    assert len(started) == TIMERS * OCCURRENCES, "no run was started twice or outside a timer"
