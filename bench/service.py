"""Service benchmark: a real `openflows serve` (SQLite) driven through the real globus-sdk.

Prints one table: run starts per second through `SpecificFlowClient.run_flow` (a 1-state Pass flow, and a
flow with one built-in Action state run as the user, whose starts obtain the run's delegated tokens),
`get_run` latency percentiles, and `list_runs` page time (per_page 20; the first page and deep pages reached
by following markers) with 1,000 and 100,000 stored runs. The bulk runs are inserted straight into the
database with the project's store schema, so only the measured requests go through HTTP.

    .venv/bin/python bench/service.py            # full: N=500 starts, N=1000 get_run, 1k and 100k runs
    .venv/bin/python bench/service.py --quick    # CI smoke: small N, a few seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import globus_sdk
from globus_sdk.transport import RetryConfig

from openflows.store import schema
from openflows.store.db import Database

PASS_FLOW = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}
#: one built-in Action state run as the user: every start obtains the run's delegated tokens (issue 14)
ACTION_FLOW = {
    "StartAt": "Hi",
    "States": {
        "Hi": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string": "hi"},
            "ResultPath": "$.hi",
            "End": True,
        }
    },
}
HEALTH_TIMEOUT = 30.0  # seconds
RUNS_TIMEOUT = 120.0  # seconds
INSERT_CHUNK = 5_000  # rows per INSERT transaction


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    run_starts: int
    start_threads: int
    get_runs: int
    stored_runs: tuple[int, ...]
    page_samples: int
    deep_pages: int


FULL = Sizes(
    run_starts=500,
    start_threads=4,
    get_runs=1000,
    stored_runs=(1_000, 100_000),
    page_samples=50,
    deep_pages=20,
)
QUICK = Sizes(
    run_starts=30, start_threads=2, get_runs=50, stored_runs=(200, 2_000), page_samples=5, deep_pages=3
)


@dataclass
class Row:
    measurement: str
    n: int
    value: str


# ----------------------------------------------------------------------------------------------------
# The server


class Server:
    """`openflows serve` on a free port with its own home directory and database."""

    def __init__(self, executable: Path, workdir: Path) -> None:
        self.workdir = workdir
        self.executable = executable
        self.database_url = f"sqlite:///{workdir / 'openflows.db'}"
        self.env = dict(os.environ)
        self.env.pop("OPENFLOWS_EMULATE_GLOBUS_PROVIDERS", None)
        self.env["OPENFLOWS_HOME"] = str(workdir / "home")
        self.env["OPENFLOWS_DATABASE_URL"] = self.database_url
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.executable), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base_url}healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"openflows serve did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def token(self, username: str, *scopes: str) -> dict[str, t.Any]:
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        done = subprocess.run(
            [str(self.executable), "tokens", "create", "--username", username, "--json", *scope_args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flows_client(base_url: str, token: str) -> globus_sdk.FlowsClient:
    return globus_sdk.FlowsClient(
        base_url=base_url,
        authorizer=globus_sdk.AccessTokenAuthorizer(token),
        retry_config=RetryConfig(max_retries=0),
    )


def specific_client(base_url: str, token: str, flow_id: str) -> globus_sdk.SpecificFlowClient:
    client = globus_sdk.SpecificFlowClient(
        flow_id, authorizer=globus_sdk.AccessTokenAuthorizer(token), retry_config=RetryConfig(max_retries=0)
    )
    client.base_url = base_url
    return client


# ----------------------------------------------------------------------------------------------------
# Measurements


def measure_run_starts(
    base_url: str, token: str, flow_id: str, count: int, threads: int
) -> tuple[float, float]:
    """Run starts per second, sequentially and with `threads` concurrent clients."""
    client = specific_client(base_url, token, flow_id)
    client.run_flow({})  # warm-up
    began = time.perf_counter()
    for index in range(count):
        client.run_flow({"i": index})
    sequential = count / (time.perf_counter() - began)

    per_thread = max(1, count // threads)
    errors: list[BaseException] = []

    def worker() -> None:
        own = specific_client(base_url, token, flow_id)
        try:
            for index in range(per_thread):
                own.run_flow({"i": index})
        except BaseException as exc:  # noqa: BLE001 - reported after join
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join()
    if errors:
        raise errors[0]
    concurrent = per_thread * threads / (time.perf_counter() - began)
    return sequential, concurrent


def wait_until_idle(client: globus_sdk.FlowsClient, flow_id: str) -> None:
    deadline = time.monotonic() + RUNS_TIMEOUT
    while time.monotonic() < deadline:
        page = client.list_runs(
            filter_flow_id=flow_id, query_params={"filter_status": "ACTIVE", "per_page": 1}
        )
        if not page["runs"]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"runs of flow {flow_id} still ACTIVE after {RUNS_TIMEOUT}s")


def measure_get_run(client: globus_sdk.FlowsClient, flow_id: str, count: int) -> list[float]:
    run_ids = [
        run["run_id"] for run in client.list_runs(filter_flow_id=flow_id, query_params={"per_page": 20})
    ]
    client.get_run(run_ids[0])  # warm-up
    timings = []
    for index in range(count):
        began = time.perf_counter()
        client.get_run(run_ids[index % len(run_ids)])
        timings.append(time.perf_counter() - began)
    return timings


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def insert_runs(database_url: str, flow_id: str, owner_urn: str, count: int) -> None:
    """Insert `count` finished runs of `flow_id` owned by `owner_urn`, with their run_owner role rows."""
    database = Database(database_url)
    try:
        flow_uuid = uuid.UUID(flow_id)
        with database.read() as conn:
            version = conn.execute(
                schema.flows.select()
                .with_only_columns(schema.flows.c.version)
                .where(schema.flows.c.id == flow_uuid)
            ).scalar_one()
        base = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        done = 0
        while done < count:
            chunk = min(INSERT_CHUNK, count - done)
            run_rows = []
            role_rows = []
            for offset in range(chunk):
                run_id = uuid.uuid4()
                started = base + dt.timedelta(seconds=done + offset)
                run_rows.append(
                    {
                        "id": run_id,
                        "flow_id": flow_uuid,
                        "flow_version": version,
                        "run_owner": owner_urn,
                        "created_by": owner_urn,
                        "label": f"bulk {done + offset}",
                        "tags": [],
                        "run_managers": [],
                        "run_monitors": [],
                        "activity_notification_policy": None,
                        "status": "SUCCEEDED",
                        "details": {
                            "code": "FlowSucceeded",
                            "description": "The Flow run reached a successful completion state",
                            "output": {"i": done + offset},
                        },
                        "input": {"i": done + offset},
                        "run_state": {"i": done + offset},
                        "cursor": {},
                        "context": {},
                        "start_time": started,
                        "completion_time": started + dt.timedelta(milliseconds=5),
                        "updated_at": started + dt.timedelta(milliseconds=5),
                        "version": 1,
                        "log_seq": 0,
                    }
                )
                role_rows.append({"run_id": run_id, "role": "run_owner", "principal": owner_urn})
            with database.begin() as conn:
                conn.execute(schema.runs.insert(), run_rows)
                conn.execute(schema.run_roles.insert(), role_rows)
            done += chunk
    finally:
        database.dispose()


def measure_pages(client: globus_sdk.FlowsClient, samples: int, deep_pages: int) -> tuple[float, float, int]:
    """Median time of the first page, and of the deepest `deep_pages` pages reached by following markers
    (per_page 20). Returns (first page seconds, deep page seconds, pages walked)."""
    query = {"per_page": 20}
    client.list_runs(query_params=query)  # warm-up
    first = []
    for _ in range(samples):
        began = time.perf_counter()
        client.list_runs(query_params=query)
        first.append(time.perf_counter() - began)
    timings = []
    marker = None
    pages = 0
    while True:
        began = time.perf_counter()
        page = (
            client.list_runs(marker=marker, query_params=query)
            if marker
            else client.list_runs(query_params=query)
        )
        timings.append(time.perf_counter() - began)
        pages += 1
        if not page["has_next_page"]:
            break
        marker = page["marker"]
    return statistics.median(first), statistics.median(timings[-deep_pages:]), pages


# ----------------------------------------------------------------------------------------------------
# Report


def describe_machine() -> str:
    return (
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, globus-sdk {globus_sdk.__version__}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def print_table(rows: list[Row], machine: str, quick: bool) -> None:
    print(
        f"OpenFlows service benchmark ({'quick' if quick else 'full'}; SQLite, one `openflows serve` process)"
    )
    print(f"machine: {machine}")
    width = max(len(row.measurement) for row in rows)
    print(f"| {'measurement'.ljust(width)} | {'n':>7} | {'result':>14} |")
    print(f"|{'-' * (width + 2)}|{'-' * 9}|{'-' * 16}|")
    for row in rows:
        print(f"| {row.measurement.ljust(width)} | {row.n:>7} | {row.value:>14} |")


def run_benchmark(sizes: Sizes, executable: Path, quick: bool) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-bench-"))
    server = Server(executable, workdir)
    rows: list[Row] = []
    try:
        server.start()
        user = server.token("bench@example.org")
        client = flows_client(server.base_url, user["token"])
        flow_id = client.create_flow("bench pass", PASS_FLOW, {"type": "object"})["id"]

        sequential, concurrent = measure_run_starts(
            server.base_url, user["token"], flow_id, sizes.run_starts, sizes.start_threads
        )
        rows.append(
            Row("run starts per second (SDK run_flow, 1 client)", sizes.run_starts, f"{sequential:.1f} /s")
        )
        threads_label = f"run starts per second (SDK run_flow, {sizes.start_threads} threads)"
        rows.append(Row(threads_label, sizes.run_starts, f"{concurrent:.1f} /s"))

        # the same with a RunAs User Action state, started with a flow-scoped (consented) token
        action_flow = client.create_flow("bench action", ACTION_FLOW, {"type": "object"})["id"]
        runner = server.token("bench@example.org", action_flow)
        sequential, concurrent = measure_run_starts(
            server.base_url, runner["token"], action_flow, sizes.run_starts, sizes.start_threads
        )
        label = "run starts per second, 1 Action state (delegated)"
        rows.append(Row(f"{label}, 1 client", sizes.run_starts, f"{sequential:.1f} /s"))
        rows.append(Row(f"{label}, {sizes.start_threads} threads", sizes.run_starts, f"{concurrent:.1f} /s"))
        wait_until_idle(client, action_flow)

        wait_until_idle(client, flow_id)
        timings = measure_get_run(client, flow_id, sizes.get_runs)
        rows.append(Row("get_run p50", sizes.get_runs, f"{percentile(timings, 0.5) * 1000:.2f} ms"))
        rows.append(Row("get_run p99", sizes.get_runs, f"{percentile(timings, 0.99) * 1000:.2f} ms"))

        # A second identity whose runs are exactly the bulk-inserted ones.
        lister = server.token("lister@example.org")
        list_client = flows_client(server.base_url, lister["token"])
        list_flow = list_client.create_flow("bench list", PASS_FLOW, {"type": "object"})["id"]
        stored = 0
        for target in sizes.stored_runs:
            insert_runs(server.database_url, list_flow, lister["identity_urn"], target - stored)
            stored = target
            first, deep, pages = measure_pages(list_client, sizes.page_samples, sizes.deep_pages)
            rows.append(
                Row(
                    f"list_runs first page (per_page 20) @ {target:,} runs",
                    sizes.page_samples,
                    f"{first * 1000:.2f} ms",
                )
            )
            rows.append(
                Row(
                    f"list_runs deep page via marker (page {pages}) @ {target:,} runs",
                    sizes.deep_pages,
                    f"{deep * 1000:.2f} ms",
                )
            )
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def default_executable() -> Path:
    return Path(sys.executable).parent / "openflows"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run (a few seconds)")
    parser.add_argument("--openflows", type=Path, default=None, help="the openflows executable to benchmark")
    args = parser.parse_args(argv)
    executable = args.openflows or Path(os.environ.get("OPENFLOWS_TEST_BIN") or default_executable())
    sizes = QUICK if args.quick else FULL
    rows = run_benchmark(sizes, executable, args.quick)
    print_table(rows, describe_machine(), args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
