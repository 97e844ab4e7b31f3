"""Scale-out benchmark: state transitions per second and run starts per second with 1, 2 and 4 `openflows
worker` processes on PostgreSQL, beside one worker on the embedded SQLite database, on the same machine in
the same run.

For each configuration: a fresh database, the workers started and idle, then a batch of runs is inserted in
one transaction (the way the API creates runs: a run row and a start work item each) and the clock runs until
every run has ended.
- run starts per second: runs of a one-state Pass flow, each a single committed step;
- state transitions per second: states completed per second by runs of a 12-state flow (Pass, Choice, Wait 0,
  two hello_world actions), which takes several committed steps per run.

    .venv/bin/python bench/scale.py                       # full
    .venv/bin/python bench/scale.py --quick               # smoke: small batches, about a minute
    .venv/bin/python bench/scale.py --postgres-url postgresql+psycopg://user@host:5432/postgres

The PostgreSQL server comes from `--postgres-url`, else OPENFLOWS_TEST_POSTGRES_URL (a role that may CREATE
DATABASE); without one, only the SQLite row is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from openflows.language.model import Cursor
from openflows.store.db import Database, normalize_url
from openflows.store.flows import create_flow
from openflows.store.migrate import upgrade
from openflows.store.runs import create_run
from openflows.store.schema import run_logs, runs

OWNER = "urn:globus:auth:identity:11111111-1111-4111-8111-111111111111"
_CLI = "from openflows.cli.main import main; main()"
#: longest wait for a worker to start, or for a batch of runs to end
TIMEOUT = 600.0  # seconds
#: how often the benchmark looks at the database while runs execute
SAMPLE_SECONDS = 0.05  # seconds
WORKER_THREADS = 4  # threads per worker process

START_FLOW = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}
HELLO = "https://actions.globus.org/hello_world"
TRANSITION_FLOW = {
    "StartAt": "P1",
    "States": {
        "P1": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "P2"},
        "P2": {"Type": "Pass", "Next": "C1"},
        "C1": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "H1"}],
            "Default": "P3",
        },
        "H1": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"echo_string": "a"}, "Next": "P3"},
        "P3": {"Type": "Pass", "Next": "W1"},
        "W1": {"Type": "Wait", "Seconds": 0, "Next": "P4"},
        "P4": {"Type": "Pass", "Next": "H2"},
        "H2": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"echo_string": "b"}, "Next": "P5"},
        "P5": {"Type": "Pass", "Next": "P6"},
        "P6": {"Type": "Pass", "Next": "P7"},
        "P7": {"Type": "Pass", "Next": "P8"},
        "P8": {"Type": "Pass", "End": True},
    },
}


@dataclass(frozen=True)
class Sizes:
    start_runs: int
    transition_runs: int


FULL = Sizes(start_runs=2000, transition_runs=400)
QUICK = Sizes(start_runs=60, transition_runs=20)


@dataclass(frozen=True)
class Result:
    backend: str
    workers: int
    run_starts_per_second: float
    transitions_per_second: float


class TempDatabases:
    """Fresh databases for one configuration each: SQLite files in a temporary directory, PostgreSQL
    databases created on the server and dropped at the end."""

    def __init__(self, postgres_url: str | None, directory: Path) -> None:
        self.directory = directory
        self.admin = (
            sa.create_engine(
                normalize_url(postgres_url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
            )
            if postgres_url
            else None
        )
        self.created: list[str] = []

    def make(self, backend: str) -> str:
        name = f"ofbench_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            url = f"sqlite:///{self.directory / name}.db"
        else:
            assert self.admin is not None
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            self.created.append(name)
            url = self.admin.url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        return url

    def close(self) -> None:
        if self.admin is None:
            return
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


class Workers:
    """`openflows worker` processes on one database."""

    def __init__(self, url: str, count: int, home: Path) -> None:
        self.home = home
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENFLOWS_")},
            "OPENFLOWS_HOME": str(home),
            "OPENFLOWS_DATABASE_URL": url,
            "OPENFLOWS_WORKER_THREADS": str(WORKER_THREADS),
            "OPENFLOWS_LOG_LEVEL": "INFO",
        }
        home.mkdir(parents=True, exist_ok=True)
        self.logs = [home / f"worker-{i}.log" for i in range(count)]
        self.processes = []
        for path in self.logs:
            with open(path, "wb") as log:
                self.processes.append(
                    subprocess.Popen([sys.executable, "-c", _CLI, "worker"], env=env, stdout=log, stderr=log)
                )
        deadline = time.monotonic() + TIMEOUT
        while not all("executor started" in path.read_text(errors="replace") for path in self.logs):
            for process, path in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    raise SystemExit(f"a worker exited: {path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def insert_runs(db: Database, definition: dict, count: int) -> None:
    """Create a flow and `count` runs of it in one transaction (as the API does: run row + start item)."""
    now = dt.datetime.now(dt.UTC)
    with db.begin() as conn:
        flow = create_flow(
            conn,
            flow_id=uuid.uuid4(),
            flow_owner=OWNER,
            title="bench",
            definition=definition,
            input_schema={},
            now=now,
        )
        for _ in range(count):
            run_id = uuid.uuid4()
            create_run(
                conn,
                run_id=run_id,
                flow=flow,
                run_owner=OWNER,
                body={},
                details_input={},
                context={
                    "flow_id": str(flow["id"]),
                    "run_id": str(run_id),
                    "username": "bench",
                    "user_id": OWNER,
                },
                cursor=Cursor(None).as_dict(),
                now=now,
                label="bench",
            )


def wait_ended(db: Database, total: int) -> float:
    """Seconds until `total` runs have ended (measured from the call)."""
    started = time.monotonic()
    while True:
        with db.read() as conn:
            ended = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.completion_time.is_not(None))
            ).scalar_one()
        if ended >= total:
            return time.monotonic() - started
        if time.monotonic() - started > TIMEOUT:
            raise SystemExit(f"only {ended} of {total} runs ended in {TIMEOUT} s")
        time.sleep(SAMPLE_SECONDS)


def measure(url: str, workers: int, sizes: Sizes, home: Path) -> tuple[float, float]:
    db = Database(url)
    pool = Workers(url, workers, home)
    try:
        insert_runs(db, START_FLOW, sizes.start_runs)
        starts = sizes.start_runs / wait_ended(db, sizes.start_runs)
        insert_runs(db, TRANSITION_FLOW, sizes.transition_runs)
        seconds = wait_ended(db, sizes.start_runs + sizes.transition_runs)
        with db.read() as conn:
            failed = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.status != "SUCCEEDED")
            ).scalar_one()
            completed = conn.execute(
                sa.select(sa.func.count()).select_from(run_logs).where(run_logs.c.code.like("%Completed"))
            ).scalar_one()
        if failed:
            raise SystemExit(f"{failed} benchmark runs did not succeed")
        transitions = (completed - sizes.start_runs) / seconds  # the start flow completes one state per run
        return starts, transitions
    finally:
        pool.stop()
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small batches (CI smoke)")
    parser.add_argument("--postgres-url", default=os.environ.get("OPENFLOWS_TEST_POSTGRES_URL") or None)
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts (default 1,2,4)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    counts = [int(part) for part in args.workers.split(",") if part.strip()]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="openflows-scale-") as tmp:
        directory = Path(tmp)
        databases = TempDatabases(args.postgres_url, directory)
        try:
            configurations = [("sqlite", 1)] + [("postgresql", n) for n in counts if args.postgres_url]
            for backend, workers in configurations:
                url = databases.make(backend)
                starts, transitions = measure(url, workers, sizes, directory / f"{backend}-{workers}")
                results.append(Result(backend, workers, starts, transitions))
                print(f"  measured {backend} with {workers} worker(s)", file=sys.stderr, flush=True)
        finally:
            databases.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"runs: {sizes.start_runs} one-state runs, {sizes.transition_runs} twelve-state runs; "
        f"{WORKER_THREADS} threads per worker"
    )
    print()
    print("| database | workers | run starts/s | state transitions/s |")
    print("|---|---|---|---|")
    for result in results:
        name = "SQLite (embedded)" if result.backend == "sqlite" else "PostgreSQL"
        print(
            f"| {name} | {result.workers} | {result.run_starts_per_second:,.0f} "
            f"| {result.transitions_per_second:,.0f} |"
        )
    if not args.postgres_url:
        print("\nPostgreSQL not measured: pass --postgres-url or set OPENFLOWS_TEST_POSTGRES_URL.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
