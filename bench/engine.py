"""Engine benchmark (issue 7): OpenFlows beside moto's Step Functions interpreter and beside the raw SQLite
transaction rate, with latency and scale figures, all measured in one run on one machine.

1. Peer, side by side: a 51-state Pass chain with Parameters, and a Choice/Pass loop of 100 iterations, run
   by moto's interpreter driven through boto3 in-process (non-durable; the in-process backend figure is shown
   too) and by OpenFlows (durable, SQLite, a real `openflows serve`, runs started with the real globus-sdk,
   completion observed with `get_run`): state transitions per second and the ratio.
2. Physical limit: a raw sqlite3 loop on the same file system doing per transition what the engine minimally
   must (read the run row, write it back, append one log row, enqueue one work item, commit; WAL,
   synchronous=NORMAL like the product): transactions per second, and OpenFlows' rate as a fraction of it.
3. Latency: `run_flow` returning -> SUCCEEDED for a 3-state Pass flow; a hello_world action's
   `completion_time` -> the run's next log entry (`ActionCompleted`), one run at a time and with 100 runs
   started at once (their actions end within the same fraction of a second).
4. Scale: transitions per second with 1,000 runs in flight (all released by one Wait `TimestampPath` at the
   same moment); the server's resident memory with 10,000 runs in a long Wait; `get_run` p99 and a
   `list_runs` page with 1,000 and 100,000 stored runs.

A state transition is one state entered (the loop enters Check 101 times, Peel 100 times and Done once).

    .venv/bin/python bench/engine.py                     # full (< 5 min), writes its section of RESULTS.md
    .venv/bin/python bench/engine.py --quick --output X  # CI smoke (under a minute)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import typing as t
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import globus_sdk
import moto

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service  # noqa: E402  (bench/service.py: the server, SDK clients, bulk run insertion)
from results import write_section  # noqa: E402  (bench/results.py: one section of RESULTS.md per benchmark)

ROLE = "arn:aws:iam::123456789012:role/openflows-bench"
HELLO = "https://actions.globus.org/hello_world"
TIMEOUT = 240.0  # seconds: longest wait for any batch of runs
POLL = 0.002  # seconds between get_run calls while waiting for one run
LOOP_ITERATIONS = 100
CHAIN_STATES = 51


def chain_definition(states: int = CHAIN_STATES) -> dict[str, t.Any]:
    """A chain of Pass states, each rebuilding its input with Parameters."""
    body: dict[str, t.Any] = {}
    for index in range(states):
        state: dict[str, t.Any] = {
            "Type": "Pass",
            "Parameters": {"value.$": "$.value", "step": index, "nested": {"from.$": "$.step"}},
        }
        if index == states - 1:
            state["End"] = True
        else:
            state["Next"] = f"S{index + 1}"
        body[f"S{index}"] = state
    return {"StartAt": "S0", "States": body}


LOOP_DEFINITION: dict[str, t.Any] = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.next", "IsPresent": True, "Next": "Peel"}],
            "Default": "Done",
        },
        "Peel": {"Type": "Pass", "InputPath": "$.next", "Next": "Check"},
        "Done": {"Type": "Succeed"},
    },
}
LOOP_TRANSITIONS = 2 * LOOP_ITERATIONS + 2


def loop_input(iterations: int = LOOP_ITERATIONS) -> dict[str, t.Any]:
    """A linked list `iterations` deep: each loop iteration peels one level."""
    node: dict[str, t.Any] = {"value": "end"}
    for _ in range(iterations):
        node = {"next": node}
    return node


CHAIN_INPUT = {"value": "x", "step": -1}
THREE_PASS = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Pass", "End": True},
    },
}


def action_definition(sleep_time: float) -> dict[str, t.Any]:
    return {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {"echo_string": "x", "sleep_time": sleep_time},
                "ResultPath": "$.hello",
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }


def released_chain(states: int) -> dict[str, t.Any]:
    """Wait until `$.go`, then a Pass chain: many runs start waiting and are released at one moment."""
    chain = chain_definition(states)
    body = {"Gate": {"Type": "Wait", "TimestampPath": "$.go", "Next": "S0"}, **chain["States"]}
    return {"StartAt": "Gate", "States": body}


LONG_WAIT = {
    "StartAt": "Wait",
    "States": {
        "Wait": {"Type": "Wait", "Seconds": 86_400, "Next": "End"},
        "End": {"Type": "Pass", "End": True},
    },
}


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    moto_chain_runs: int
    moto_loop_runs: int
    chain_runs: int
    loop_runs: int
    sqlite_transactions: int
    latency_runs: int
    action_runs: int
    action_sleep: float
    concurrent_actions: int
    inflight_runs: int
    inflight_states: int
    waiting_runs: int
    get_runs: int
    stored_runs: tuple[int, ...]
    page_samples: int
    start_threads: int


FULL = Sizes(
    moto_chain_runs=3,
    moto_loop_runs=2,
    chain_runs=20,
    loop_runs=5,
    sqlite_transactions=10_000,
    latency_runs=200,
    action_runs=60,
    action_sleep=0.05,
    concurrent_actions=100,
    inflight_runs=1_000,
    inflight_states=10,
    waiting_runs=10_000,
    get_runs=500,
    stored_runs=(1_000, 100_000),
    page_samples=50,
    start_threads=4,
)
QUICK = Sizes(
    moto_chain_runs=2,
    moto_loop_runs=1,
    chain_runs=3,
    loop_runs=1,
    sqlite_transactions=500,
    latency_runs=20,
    action_runs=5,
    action_sleep=0.02,
    concurrent_actions=10,
    inflight_runs=50,
    inflight_states=5,
    waiting_runs=100,
    get_runs=50,
    stored_runs=(200, 2_000),
    page_samples=10,
    start_threads=2,
)


@dataclass
class Row:
    section: str
    measurement: str
    value: str


# ----------------------------------------------------------------------------------------------------
# 1. The peer: moto


def wait_moto(describe: Callable[[], dict[str, t.Any]]) -> dict[str, t.Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        described = describe()
        if described["status"] != "RUNNING":
            if described["status"] != "SUCCEEDED":
                raise RuntimeError(f"moto execution ended {described['status']}: {described}")
            return described
        if time.monotonic() > deadline:
            raise RuntimeError("moto execution did not finish")
        time.sleep(0.0002)


def quiet_moto() -> None:
    """moto logs every IsPresent test on a missing path as an error; the loop does that by design."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)


def measure_moto(
    definition: dict[str, t.Any], run_input: t.Any, runs: int, transitions: int
) -> tuple[float, float]:
    """Transitions per second through boto3 and through the in-process backend (one execution at a time)."""
    quiet_moto()
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        client = boto3.client(
            "stepfunctions",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        arn = client.create_state_machine(name="bench", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        payload = json.dumps(run_input)

        def one_boto3(name: str) -> None:
            execution = client.start_execution(stateMachineArn=arn, name=name, input=payload)["executionArn"]
            wait_moto(lambda: client.describe_execution(executionArn=execution))

        one_boto3("warm")
        began = time.perf_counter()
        for index in range(runs):
            one_boto3(f"b{index}")
        through_boto3 = runs * transitions / (time.perf_counter() - began)

        backend = stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

        def one_backend(name: str) -> None:
            execution = backend.start_execution(arn, name, payload)
            wait_moto(lambda: {"status": backend.describe_execution(execution.execution_arn).status})

        began = time.perf_counter()
        for index in range(runs):
            one_backend(f"p{index}")
        in_process = runs * transitions / (time.perf_counter() - began)
    return through_boto3, in_process


# ----------------------------------------------------------------------------------------------------
# 1. OpenFlows


def wait_run(client: globus_sdk.FlowsClient, run_id: str) -> dict[str, t.Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        run = client.get_run(run_id).data
        if run["status"] != "ACTIVE":
            if run["status"] != "SUCCEEDED":
                raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('details')}")
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still ACTIVE after {TIMEOUT}s")
        time.sleep(POLL)


def measure_openflows(
    client: globus_sdk.FlowsClient,
    runner: globus_sdk.SpecificFlowClient,
    run_input: t.Any,
    runs: int,
    transitions: int,
) -> tuple[float, float]:
    """Transitions per second, one run at a time: run_flow, then get_run until SUCCEEDED. Returns the
    client's figure and the server's own (from each run's start_time to its completion_time)."""
    wait_run(client, runner.run_flow(run_input)["run_id"])  # warm-up
    server_seconds = 0.0
    began = time.perf_counter()
    for _ in range(runs):
        run = wait_run(client, runner.run_flow(run_input)["run_id"])
        server_seconds += (parse_time(run["completion_time"]) - parse_time(run["start_time"])).total_seconds()
    return runs * transitions / (time.perf_counter() - began), runs * transitions / server_seconds


# ----------------------------------------------------------------------------------------------------
# 2. The physical limit


def measure_raw_sqlite(directory: Path, transactions: int) -> float:
    """Transactions per second of the minimal per-transition work in plain sqlite3."""
    path = directory / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(
            """
            CREATE TABLE runs (id BLOB PRIMARY KEY, status TEXT, run_state TEXT, cursor TEXT,
                               version INTEGER, log_seq INTEGER, updated_at TEXT);
            CREATE TABLE run_logs (run_id BLOB, seq INTEGER, time TEXT, code TEXT, details TEXT,
                                   PRIMARY KEY (run_id, seq));
            CREATE TABLE work_items (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id BLOB, kind TEXT,
                                     due_at TEXT, claimed_until TEXT);
            CREATE INDEX work_items_due ON work_items (due_at);
            """
        )
        run_id = uuid.uuid4().bytes
        state = json.dumps({"value": "x", "step": 0, "nested": {"from": -1}})
        conn.execute(
            "INSERT INTO runs VALUES (?, 'ACTIVE', ?, '{}', 0, 0, ?)",
            (run_id, state, dt.datetime.now(dt.UTC).isoformat()),
        )
        began = time.perf_counter()
        for _ in range(transactions):
            now = dt.datetime.now(dt.UTC).isoformat()
            conn.execute("BEGIN IMMEDIATE")
            run_state, version, log_seq = conn.execute(
                "SELECT run_state, version, log_seq FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            conn.execute(
                "UPDATE runs SET run_state = ?, cursor = ?, version = ?, log_seq = ?, updated_at = ? "
                "WHERE id = ? AND version = ?",
                (run_state, '{"state": "S1"}', version + 1, log_seq + 1, now, run_id, version),
            )
            conn.execute(
                "INSERT INTO run_logs VALUES (?, ?, ?, 'PassCompleted', ?)",
                (run_id, log_seq + 1, now, run_state),
            )
            conn.execute("INSERT INTO work_items (run_id, kind, due_at) VALUES (?, 'step', ?)", (run_id, now))
            conn.execute("COMMIT")
        return transactions / (time.perf_counter() - began)
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------------
# 3. Latency


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def measure_start_latency(
    client: globus_sdk.FlowsClient, runner: globus_sdk.SpecificFlowClient, runs: int
) -> list[float]:
    """Seconds from run_flow returning to get_run first showing SUCCEEDED."""
    wait_run(client, runner.run_flow({})["run_id"])
    samples = []
    for _ in range(runs):
        run_id = runner.run_flow({})["run_id"]
        returned = time.perf_counter()
        wait_run(client, run_id)
        samples.append(time.perf_counter() - returned)
    return samples


def start_many(base_url: str, token: str, flow_id: str, inputs: list[t.Any], threads: int) -> list[str]:
    """Start one run per input with `threads` concurrent SDK clients; returns the run ids."""
    run_ids: list[str | None] = [None] * len(inputs)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        runner = service.specific_client(base_url, token, flow_id)
        try:
            for index in range(offset, len(inputs), threads):
                run_ids[index] = runner.run_flow(inputs[index])["run_id"]
        except BaseException as exc:  # noqa: BLE001 - reported after join
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(offset,)) for offset in range(threads)]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join()
    if errors:
        raise errors[0]
    return [run_id for run_id in run_ids if run_id is not None]


def ended_runs(client: globus_sdk.FlowsClient, flow_id: str) -> list[dict[str, t.Any]]:
    """Every run of `flow_id`, once none is ACTIVE."""
    deadline = time.monotonic() + TIMEOUT
    while client.list_runs(filter_flow_id=flow_id, query_params={"filter_status": "ACTIVE", "per_page": 1})[
        "runs"
    ]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs of {flow_id} still ACTIVE after {TIMEOUT}s")
        time.sleep(0.05)
    return list(client.paginated.list_runs(filter_flow_id=flow_id, query_params={"per_page": 50}).items())


def action_noticed(client: globus_sdk.FlowsClient, run_id: str) -> float:
    """Seconds from the run's hello_world action's completion_time to its ActionCompleted log entry."""
    entries = client.get_run_logs(run_id, limit=20)["entries"]
    completed = next(entry for entry in entries if entry["code"] == "ActionCompleted")
    action_done = parse_time(completed["details"]["output"]["completion_time"])
    return (parse_time(completed["time"]) - action_done).total_seconds()


def measure_action_latency(
    client: globus_sdk.FlowsClient, runner: globus_sdk.SpecificFlowClient, runs: int
) -> list[float]:
    """Seconds from a hello_world action's completion_time to the run's ActionCompleted log entry, one run
    at a time (an otherwise idle server)."""
    samples = []
    for _ in range(runs):
        run_id = runner.run_flow({})["run_id"]
        wait_run(client, run_id)
        samples.append(action_noticed(client, run_id))
    return samples


def measure_concurrent_action_latency(
    client: globus_sdk.FlowsClient, base_url: str, token: str, flow_id: str, runs: int, threads: int
) -> list[float]:
    """The same, for `runs` runs started at once by `threads` SDK clients (their actions end together)."""
    run_ids = start_many(base_url, token, flow_id, [{}] * runs, threads)
    for run_id in run_ids:
        wait_run(client, run_id)
    return [action_noticed(client, run_id) for run_id in run_ids]


# ----------------------------------------------------------------------------------------------------
# 4. Scale


def measure_inflight(
    client: globus_sdk.FlowsClient,
    base_url: str,
    token: str,
    runs: int,
    states: int,
    threads: int,
    start_rate: float,
) -> tuple[float, float]:
    """Transitions per second with `runs` runs released at one moment; returns (rate, seconds to release)."""
    flow_id = client.create_flow("bench in flight", released_chain(states), {"type": "object"})["id"]
    lead = runs / max(start_rate, 1.0) * 1.15 + 1.5
    go = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead)
    go_text = go.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    start_many(base_url, token, flow_id, [{"go": go_text, "value": "x", "step": -1}] * runs, threads)
    started_by = dt.datetime.now(dt.UTC)
    if started_by > go:
        raise RuntimeError(f"starting {runs} runs took longer than the {lead:.1f}s lead; raise the lead")
    finished = ended_runs(client, flow_id)
    assert len(finished) == runs and all(run["status"] == "SUCCEEDED" for run in finished)
    last = max(parse_time(run["completion_time"]) for run in finished)
    transitions = runs * (states + 1)
    return transitions / (last - go).total_seconds(), (go - started_by).total_seconds()


def resident_kib(pid: int) -> int:
    """VmRSS of `pid` and its descendants, in KiB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return total


#: work items other than a Wait state's timer (a step item whose payload has {"event": "timer"})
PENDING_NON_TIMERS = "SELECT count(*) FROM work_items WHERE payload IS NULL OR payload NOT LIKE '%\"timer\"%'"


def wait_for_timers_only(server: service.Server) -> None:
    """Until every work item in the server's database is a timer (every waiting run has entered its Wait)."""
    path = server.database_url.removeprefix("sqlite:///")
    deadline = time.monotonic() + TIMEOUT
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        while conn.execute(PENDING_NON_TIMERS).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError("runs did not all reach their Wait state")
            time.sleep(0.1)
    finally:
        conn.close()
    time.sleep(0.5)


def measure_waiting_memory(
    client: globus_sdk.FlowsClient, server: service.Server, token: str, runs: int, threads: int
) -> tuple[int, int, float]:
    """Server RSS (KiB) before and after `runs` runs enter a long Wait, and the start rate."""
    assert server.process is not None
    flow_id = client.create_flow("bench waiting", LONG_WAIT, {"type": "object"})["id"]
    before = resident_kib(server.process.pid)
    began = time.perf_counter()
    start_many(server.base_url, token, flow_id, [{}] * runs, threads)
    rate = runs / (time.perf_counter() - began)
    wait_for_timers_only(server)
    after = resident_kib(server.process.pid)
    return before, after, rate


def measure_stored(server: service.Server, sizes: Sizes, rows: list[Row]) -> None:
    lister = server.token("lister@example.org")
    client = service.flows_client(server.base_url, lister["token"])
    flow_id = client.create_flow("bench list", service.PASS_FLOW, {"type": "object"})["id"]
    stored = 0
    for target in sizes.stored_runs:
        service.insert_runs(server.database_url, flow_id, lister["identity_urn"], target - stored)
        stored = target
        timings = service.measure_get_run(client, flow_id, sizes.get_runs)
        rows.append(
            Row(
                "4 scale",
                f"get_run p50 / p99 @ {target:,} stored runs",
                f"{ms(statistics.median(timings))} / {ms(service.percentile(timings, 0.99))}",
            )
        )
        first, marked = measure_list_pages(client, sizes.page_samples)
        rows.append(
            Row(
                "4 scale",
                f"list_runs page of 20 p50 / p99, first page @ {target:,} stored runs",
                percentiles(first),
            )
        )
        rows.append(
            Row(
                "4 scale",
                f"list_runs page of 20 p50 / p99, next page by marker @ {target:,} stored runs",
                percentiles(marked),
            )
        )


def measure_list_pages(client: globus_sdk.FlowsClient, samples: int) -> tuple[list[float], list[float]]:
    """Timings of the first page (per_page 20) and of the page its marker leads to."""
    query = {"per_page": 20}
    marker = client.list_runs(query_params=query)["marker"]  # warm-up
    first, marked = [], []
    for _ in range(samples):
        began = time.perf_counter()
        client.list_runs(query_params=query)
        first.append(time.perf_counter() - began)
        began = time.perf_counter()
        client.list_runs(marker=marker, query_params=query)
        marked.append(time.perf_counter() - began)
    return first, marked


# ----------------------------------------------------------------------------------------------------
# Report


_BEGAN = time.perf_counter()


def note(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.perf_counter() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def describe_machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, moto {moto.__version__}, "
        f"globus-sdk {globus_sdk.__version__}, {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def render_table(rows: list[Row], machine: str, quick: bool, seconds: float) -> str:
    lines = [
        f"# OpenFlows engine benchmark ({'quick' if quick else 'full'}; `bench/engine.py`)",
        "",
        f"machine: {machine}",
        f"total time: {seconds:.0f} s",
        "",
        "| section | measurement | result |",
        "|---|---|---|",
    ]
    lines += [f"| {row.section} | {row.measurement} | {row.value} |" for row in rows]
    return "\n".join(lines) + "\n"


def percentiles(samples: list[float]) -> str:
    return f"{ms(statistics.median(samples))} / {ms(service.percentile(samples, 0.99))}"


def run_benchmark(sizes: Sizes, executable: Path) -> list[Row]:
    rows: list[Row] = []
    chain = chain_definition()
    deep_input = loop_input()

    note("moto")
    moto_chain, moto_chain_backend = measure_moto(chain, CHAIN_INPUT, sizes.moto_chain_runs, CHAIN_STATES)
    moto_loop, moto_loop_backend = measure_moto(
        LOOP_DEFINITION, deep_input, sizes.moto_loop_runs, LOOP_TRANSITIONS
    )

    workdir = Path(tempfile.mkdtemp(prefix="openflows-engine-bench-"))
    server = service.Server(executable, workdir)
    try:
        server.start()
        user = server.token("bench@example.org")
        token = user["token"]
        client = service.flows_client(server.base_url, token)

        note("OpenFlows chain and loop")
        chain_id = client.create_flow("bench chain", chain, {"type": "object"})["id"]
        ours_chain, server_chain = measure_openflows(
            client,
            service.specific_client(server.base_url, token, chain_id),
            CHAIN_INPUT,
            sizes.chain_runs,
            CHAIN_STATES,
        )
        loop_id = client.create_flow("bench loop", LOOP_DEFINITION, {"type": "object"})["id"]
        ours_loop, server_loop = measure_openflows(
            client,
            service.specific_client(server.base_url, token, loop_id),
            deep_input,
            sizes.loop_runs,
            LOOP_TRANSITIONS,
        )
        for name, ours, server_side, theirs, in_process in (
            (f"{CHAIN_STATES}-state Pass chain", ours_chain, server_chain, moto_chain, moto_chain_backend),
            (f"Choice/Pass loop x{LOOP_ITERATIONS}", ours_loop, server_loop, moto_loop, moto_loop_backend),
        ):
            rows.append(
                Row(
                    "1 peer",
                    f"{name}: moto via boto3 (in-process backend), transitions/s",
                    f"{theirs:,.0f} ({in_process:,.0f})",
                )
            )
            rows.append(
                Row(
                    "1 peer",
                    f"{name}: OpenFlows (SQLite, SDK) (server-side start->completion), transitions/s",
                    f"{ours:,.0f} ({server_side:,.0f})",
                )
            )
            rows.append(Row("1 peer", f"{name}: OpenFlows / moto via boto3", f"{ours / theirs:.2f}x"))

        note("raw sqlite3")
        raw = measure_raw_sqlite(workdir, sizes.sqlite_transactions)
        rows.append(
            Row(
                "2 limit",
                "raw sqlite3 transactions/s (read+write run, log row, work item, commit)",
                f"{raw:,.0f}",
            )
        )
        rows.append(
            Row("2 limit", "OpenFlows chain transitions/s as a fraction of raw", f"{ours_chain / raw:.1%}")
        )
        rows.append(
            Row("2 limit", "OpenFlows loop transitions/s as a fraction of raw", f"{ours_loop / raw:.1%}")
        )

        note("latency")
        three_id = client.create_flow("bench three", THREE_PASS, {"type": "object"})["id"]
        latency = measure_start_latency(
            client, service.specific_client(server.base_url, token, three_id), sizes.latency_runs
        )
        rows.append(
            Row("3 latency", "3-state Pass: run_flow returned -> SUCCEEDED, p50 / p99", percentiles(latency))
        )
        action_id = client.create_flow(
            "bench action", action_definition(sizes.action_sleep), {"type": "object"}
        )["id"]
        action = measure_action_latency(
            client, service.specific_client(server.base_url, token, action_id), sizes.action_runs
        )
        rows.append(
            Row(
                "3 latency",
                "hello_world completion_time -> ActionCompleted log entry, p50 / p99",
                percentiles(action),
            )
        )
        together_id = client.create_flow(
            "bench actions together", action_definition(0.5), {"type": "object"}
        )["id"]
        together = measure_concurrent_action_latency(
            client, server.base_url, token, together_id, sizes.concurrent_actions, sizes.start_threads
        )
        rows.append(
            Row(
                "3 latency",
                f"the same with {sizes.concurrent_actions} runs started at once (0.5 s actions), p50 / p99",
                percentiles(together),
            )
        )

        note(f"{sizes.waiting_runs} waiting runs")
        before, after, start_rate = measure_waiting_memory(
            client, server, token, sizes.waiting_runs, sizes.start_threads
        )
        rows.append(Row("4 scale", f"run starts/s ({sizes.start_threads} SDK threads)", f"{start_rate:,.0f}"))
        rows.append(
            Row(
                "4 scale",
                f"server RSS idle -> with {sizes.waiting_runs:,} runs in a long Wait",
                f"{before / 1024:.0f} MiB -> {after / 1024:.0f} MiB",
            )
        )
        note(f"{sizes.inflight_runs} runs in flight")
        inflight, _ = measure_inflight(
            client,
            server.base_url,
            token,
            sizes.inflight_runs,
            sizes.inflight_states,
            sizes.start_threads,
            start_rate,
        )
        rows.append(
            Row(
                "4 scale",
                f"transitions/s with {sizes.inflight_runs:,} runs in flight "
                f"(Wait gate + {sizes.inflight_states} Pass)",
                f"{inflight:,.0f}",
            )
        )
        note("stored runs")
        measure_stored(server, sizes, rows)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a CI smoke run (under a minute)"
    )
    parser.add_argument("--openflows", type=Path, default=None, help="the openflows executable to benchmark")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "RESULTS.md",
        help="the file whose section `engine` gets the table (its other sections stay)",
    )
    args = parser.parse_args(argv)
    executable = args.openflows or Path(os.environ.get("OPENFLOWS_TEST_BIN") or service.default_executable())
    began = time.perf_counter()
    rows = run_benchmark(QUICK if args.quick else FULL, executable)
    table = render_table(rows, describe_machine(), args.quick, time.perf_counter() - began)
    print(table, end="")
    write_section(args.output, "engine", table)  # the other benchmarks' sections stay
    return 0


if __name__ == "__main__":
    sys.exit(main())
