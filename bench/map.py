"""Map benchmark (issue 19): OpenFlows' durable Map beside moto's Map on the same definitions, in one run.

1. Pure-state Map of N items (each item, a number: two Pass states), N = 1,000 and 10,000: moto's
   interpreter (in-process backend, non-durable, one execution) and OpenFlows (a real `openflows serve` on
   SQLite, the flow created and run with the real globus-sdk; every item is a durable child run): items per
   second (server-side, the run's start_time to completion_time) and the ratio; a Parallel of 10 branches
   too; the server's resident memory before and at the end of the 10,000-item map.
2. Action Map: 1,000 items each calling the built-in hello_world (`sleep_time` 0) with MaxConcurrency 100:
   items per second, beside what hello_world alone allows (its start and release calls for as many items,
   without the engine) and their ratio; then the same Map with actions of 1 s each (`sleep_time` 1),
   against the provider-bound ideal (items / MaxConcurrency x 1 s).
3. Resume: a 2,000-item hello_world Map, the server killed with SIGKILL once about half the items are done,
   then started again: the time from the restart to the run's completion (the killed server's leases must
   expire first: `OPENFLOWS_LEASE_SECONDS` is set to 5 for this part).

    .venv/bin/python bench/map.py --output bench/RESULTS.md  # full (a few minutes); writes the section
                                                             # `map` of RESULTS.md, keeps the others
    .venv/bin/python bench/map.py --quick                    # smoke (under a minute), prints only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import uuid
from pathlib import Path

import moto
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service  # noqa: E402
from results import write_section  # noqa: E402

from engine import describe_machine, quiet_moto, resident_kib, wait_moto  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/openflows-bench"
HELLO = "https://actions.globus.org/hello_world"
TIMEOUT = 900.0  # seconds


def pass_map(items_path: str = "$.items", **fields: t.Any) -> dict[str, t.Any]:
    processor = {
        "StartAt": "Shape",
        "States": {
            "Shape": {"Type": "Pass", "Parameters": {"n.$": "$", "tag": "x"}, "Next": "Keep"},
            "Keep": {"Type": "Pass", "InputPath": "$.n", "End": True},
        },
    }
    fan = {
        "Type": "Map",
        "ItemsPath": items_path,
        "ItemProcessor": processor,
        "ResultPath": "$.out",
        "End": True,
    }
    return {"StartAt": "Fan", "States": {"Fan": {**fan, **fields}}}


def parallel(branches: int) -> dict[str, t.Any]:
    return {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": f"B{i}", "States": {f"B{i}": {"Type": "Pass", "Result": i, "End": True}}}
                    for i in range(branches)
                ],
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }


HELLO_MAP = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 100,  # HELLO_CONCURRENCY
            "ItemProcessor": {
                "StartAt": "Hello",
                "States": {
                    "Hello": {
                        "Type": "Action",
                        "ActionUrl": HELLO,
                        "Parameters": {"echo_string": "hi", "sleep_time": 0},
                        "ResultPath": "$.said",
                        "Next": "Keep",
                    },
                    "Keep": {"Type": "Pass", "InputPath": "$.said.status", "End": True},
                },
            },
            "ResultPath": "$.out",
            "End": True,
        }
    },
}


#: MaxConcurrency of the hello_world Maps, and how long each item's action takes in the slow one
HELLO_CONCURRENCY = 100
SLOW_SECONDS = 1.0  # seconds


def sleeping_map(seconds: float) -> dict[str, t.Any]:
    """HELLO_MAP whose actions each take `seconds` (hello_world's `sleep_time`)."""
    definition = json.loads(json.dumps(HELLO_MAP))
    definition["States"]["Fan"]["ItemProcessor"]["States"]["Hello"]["Parameters"]["sleep_time"] = seconds
    return definition


def items(count: int) -> dict[str, t.Any]:
    """Small items, so that 10,000 of them and their results stay under the 256 KiB run state cap (moto's
    and OpenFlows')."""
    return {"items": list(range(count))}


def moto_seconds(definition: dict[str, t.Any], run_input: t.Any) -> float:
    """Seconds moto's in-process interpreter takes for one execution."""
    quiet_moto()
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        machine = backend.create_state_machine(name="map", definition=json.dumps(definition), roleArn=ROLE)
        began = time.perf_counter()
        execution = backend.start_execution(machine.arn, "one", json.dumps(run_input))
        described = wait_moto(lambda: {"status": backend.describe_execution(execution.execution_arn).status})
        del described
        return time.perf_counter() - began


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def wait_done(client: t.Any, run_id: str, poll: float = 0.05) -> dict[str, t.Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        run = client.get_run(run_id).data
        if run["status"] != "ACTIVE":
            if run["status"] != "SUCCEEDED":
                raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('details')}")
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still ACTIVE after {TIMEOUT}s")
        time.sleep(poll)


def openflows_seconds(
    client: t.Any, server: service.Server, token: str, title: str, definition: t.Any, body: t.Any
) -> tuple[float, dict[str, t.Any]]:
    flow_id = client.create_flow(title, definition, {"type": "object"})["id"]
    runner = service.specific_client(server.base_url, token, flow_id)
    run = wait_done(client, runner.run_flow(body)["run_id"])
    return (_parse(run["completion_time"]) - _parse(run["start_time"])).total_seconds(), run


class PeakMemory:
    """The server's largest resident set while a block runs, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, resident_kib(self.pid))
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


def done_children(database_url: str, run_id: str) -> int:
    """How many iterations of the run `run_id` have succeeded."""
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sqlalchemy.text(
                        "SELECT count(*) FROM runs WHERE parent_run_id = :run AND status = 'SUCCEEDED'"
                    ),
                    {"run": run_id if database_url.startswith("postgresql") else run_id.replace("-", "")},
                ).scalar_one()
            )
    finally:
        engine.dispose()


class PostgresDatabase:
    """A fresh database on the PostgreSQL server of `server_url` for one benchmark, dropped afterwards."""

    def __init__(self, server_url: str) -> None:
        self.admin = sqlalchemy.engine.make_url(server_url)
        self.name = f"openflows_map_bench_{os.getpid()}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        engine = sqlalchemy.create_engine(self.admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def __enter__(self) -> PostgresDatabase:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def start_server(executable: Path, workdir: Path, database_url: str | None, workers: int) -> service.Server:
    """`openflows serve` (on `database_url`, else a SQLite file of its own) and `workers` more executor
    processes (`openflows worker`) on the same database."""
    server = service.Server(executable, workdir)
    if database_url is not None:
        server.database_url = database_url
        server.env["OPENFLOWS_DATABASE_URL"] = database_url
    server.start()
    server.workers = [  # type: ignore[attr-defined]
        subprocess.Popen(
            [str(executable), "worker"],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    return server


def stop_server(server: service.Server) -> None:
    for worker in getattr(server, "workers", []):
        worker.terminate()
        worker.wait(15)
    server.stop()


def provider_items_per_second(count: int, threads: int = 4, database_url: str | None = None) -> float:
    """What hello_world alone allows: `count` items' provider calls (the start, `sleep_time` 0, and the
    release of its action: what the engine asks of it per item) made in `threads` threads (the server's
    `worker_threads`) through the engine's own action client (`ActionClient`: in-process for a built-in, as
    in the server), on `database_url` (the PostgreSQL benchmark's database) or else a fresh SQLite database
    set up like the server's. Items per second."""
    from concurrent.futures import ThreadPoolExecutor

    from openflows.engine.actions import ActionClient
    from openflows.providers.base import Caller, ProviderRegistry
    from openflows.providers.hello_world import HelloWorldProvider
    from openflows.shared.clock import SystemClock
    from openflows.store.db import Database
    from openflows.store.migrate import upgrade

    fresh = Path(tempfile.mkdtemp(prefix="openflows-map-provider-")) / "openflows.db"
    url = database_url or f"sqlite:///{fresh}"
    upgrade(url)
    db = Database(url)
    try:
        client = ActionClient(ProviderRegistry([HelloWorldProvider(db, clock=SystemClock())]))
        caller = Caller(identity="urn:globus:auth:identity:11111111-1111-4111-8111-111111111111")
        body = {"echo_string": "hi", "sleep_time": 0}
        tag = uuid.uuid4().hex  # request ids of their own on a database that is not fresh

        def one(index: int) -> None:
            request = {"request_id": f"bench/{tag}/{index}", "body": body, "monitor_by": [], "manage_by": []}
            started = client.start(HELLO, request, caller=caller, token=None)
            assert started.ok and (started.status or {}).get("status") == "SUCCEEDED", started
            action_id = str((started.status or {})["action_id"])
            assert client.release(HELLO, action_id, caller=caller, token=None).ok

        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(count)))
        return count / (time.perf_counter() - began)
    finally:
        db.dispose()


def run_benchmark(
    quick: bool, executable: Path, database_url: str | None = None, workers: int = 0
) -> list[tuple[str, str]]:
    """The three parts, on a SQLite file of the server's own, or on `database_url` (PostgreSQL) with
    `workers` more executor processes for parts 1 and 2 (part 3 kills the server, so it runs alone)."""
    small, large, actions, resume = (100, 1000, 100, 200) if quick else (1000, 10000, 1000, 2000)
    rows: list[tuple[str, str]] = []
    backend = "SQLite" if database_url is None else f"PostgreSQL, serve + {workers} workers"
    workdir = Path(tempfile.mkdtemp(prefix="openflows-map-bench-"))
    server = start_server(executable, workdir, database_url, workers)
    home = server.env[
        "OPENFLOWS_HOME"
    ]  # its key seals the database's secrets: part 3 on the same database needs it
    try:
        token = server.token("bench@example.org")["token"]
        client = service.flows_client(server.base_url, token)
        assert server.process is not None
        idle = resident_kib(server.process.pid)
        for count in (small, large):
            theirs = moto_seconds(pass_map(), items(count))
            with PeakMemory(server.process.pid) as memory:
                ours, run = openflows_seconds(client, server, token, f"map {count}", pass_map(), items(count))
            assert len(run["details"]["output"]["out"]) == count
            rows.append(
                (
                    f"pure Map, {count:,} items: moto (in-process, one execution), items/s",
                    f"{count / theirs:,.0f}",
                )
            )
            rows.append(
                (
                    f"pure Map, {count:,} items: OpenFlows (durable, {backend}), items/s",
                    f"{count / ours:,.0f}",
                )
            )
            rows.append((f"pure Map, {count:,} items: OpenFlows / moto", f"{theirs / ours:.2f}x"))
            rows.append(
                (
                    f"pure Map, {count:,} items: server RSS idle -> peak",
                    f"{idle / 1024:.0f} MiB -> {memory.peak / 1024:.0f} MiB",
                )
            )
        theirs = moto_seconds(parallel(10), {})
        ours, _ = openflows_seconds(client, server, token, "parallel", parallel(10), {})
        rows.append(("Parallel of 10 branches: moto / OpenFlows, seconds", f"{theirs:.3f} / {ours:.3f}"))
        seconds, run = openflows_seconds(client, server, token, "hello map", HELLO_MAP, items(actions))
        assert len(run["details"]["output"]["out"]) == actions
        rows.append(
            (
                f"hello_world Map, {actions:,} items, MaxConcurrency 100: OpenFlows, items/s",
                f"{actions / seconds:,.0f}",
            )
        )
        # the same Map with actions that take time, as real ones do: the provider should set the pace
        slow, _ = openflows_seconds(
            client, server, token, "slow map", sleeping_map(SLOW_SECONDS), items(actions)
        )
        ideal = actions / HELLO_CONCURRENCY * SLOW_SECONDS
        rows.append(
            (
                f"hello_world Map, {actions:,} items of {SLOW_SECONDS:g} s each, MaxConcurrency 100: "
                "seconds / provider-bound ideal (items / 100 x 1 s)",
                f"{slow:.1f} s / {ideal:.1f} s ({ideal / slow:.0%} of the provider's pace)",
            )
        )
    finally:
        stop_server(server)
    # what bounds the action Map: hello_world's own calls per item, without the engine
    alone = provider_items_per_second(actions, database_url=database_url)
    rows.append(
        (
            f"hello_world alone: {actions:,} items' calls (start + release, in-process, 4 threads, no token "
            "check), items/s",
            f"{alone:,.0f}",
        )
    )
    # the Map makes the same provider writes per item, inside the engine's own transactions (docs/engine.md)
    rows.append(
        (
            "hello_world Map / hello_world alone, items/s (1.00x: the Map goes as fast as the provider's own "
            "calls)",
            f"{actions / seconds / alone:.2f}x",
        )
    )
    # 3. resume after SIGKILL
    workdir = Path(tempfile.mkdtemp(prefix="openflows-map-resume-"))
    server = service.Server(executable, workdir)
    if database_url is not None:
        server.database_url = database_url
        server.env["OPENFLOWS_DATABASE_URL"] = database_url
        server.env["OPENFLOWS_HOME"] = home
    server.env["OPENFLOWS_LEASE_SECONDS"] = "5"
    server.start()
    try:
        token = server.token("bench@example.org")["token"]
        client = service.flows_client(server.base_url, token)
        flow_id = client.create_flow("resume", HELLO_MAP, {"type": "object"})["id"]
        runner = service.specific_client(server.base_url, token, flow_id)
        run_id = runner.run_flow(items(resume))["run_id"]
        deadline = time.monotonic() + TIMEOUT
        while done_children(server.database_url, run_id) < resume // 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(15)
        killed_at = done_children(server.database_url, run_id)
        restarted = time.monotonic()
        server.start()
        wait_done(client, run_id)
        rows.append(
            (
                f"resume: {resume:,}-item Map killed (SIGKILL) at {killed_at:,} items done -> restart to "
                "SUCCEEDED (5 s leases)",
                f"{time.monotonic() - restarted:.1f} s",
            )
        )
    finally:
        server.stop()
    return rows


def load_average() -> str:
    """The machine's load (1, 5 and 15 minutes, as `uptime` shows it): other work on the machine moves
    moto's and OpenFlows' figures."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def render(
    rows: list[tuple[str, str]], machine: str, quick: bool, seconds: float, load: tuple[str, str] = ("", "")
) -> str:
    lines = [
        f"# OpenFlows Map benchmark ({'quick' if quick else 'full'}; `bench/map.py`)",
        "",
        f"machine: {machine}",
        f"total time: {seconds:.0f} s",
        f"load average (1, 5, 15 min) at the start: {load[0]}; at the end: {load[1]}",
        "",
        "| measurement | result |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--openflows", type=Path, default=None, help="the openflows executable to benchmark")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="also write the table as the section `map` of this file (e.g. bench/RESULTS.md; its other "
        "sections stay)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="run OpenFlows on a fresh database of this PostgreSQL server (e.g. the one of "
        "OPENFLOWS_TEST_POSTGRES_URL; created and dropped here) instead of SQLite; its section is "
        "`map-postgres`",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="with --postgres: more executor processes (`openflows worker`)"
    )
    args = parser.parse_args(argv)
    executable = args.openflows or Path(os.environ.get("OPENFLOWS_TEST_BIN") or service.default_executable())
    began, load = time.perf_counter(), load_average()
    if args.postgres:
        with PostgresDatabase(args.postgres) as database:
            rows = run_benchmark(args.quick, executable, database.url, args.workers)
    else:
        rows = run_benchmark(args.quick, executable)
    table = render(rows, describe_machine(), args.quick, time.perf_counter() - began, (load, load_average()))
    if args.postgres:
        table = table.replace(
            "# OpenFlows Map benchmark (",
            f"# OpenFlows Map benchmark on PostgreSQL ({args.workers} workers besides serve; ",
            1,
        )
    print(table, end="")
    if args.output is not None:
        write_section(args.output, "map-postgres" if args.postgres else "map", table, script="map")
    return 0


if __name__ == "__main__":
    sys.exit(main())
