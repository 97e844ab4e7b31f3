"""globus-sdk's `TimersClient` end to end against `openflows serve` (GLOBUS_SDK_SERVICE_URL_TIMER pointed at
it, the minimum timer interval lowered to one second): flow timers and transfer timers, once and recurring
schedules, ends by count and by time, and the job operations (list, get, update, pause, resume, delete, the
legacy create_job). The timers fire on the server's real clock, every one or two seconds."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
import typing as t
import uuid
from pathlib import Path

import globus_sdk
import pytest

from .support import (
    Identity,
    Server,
    _no_retry_kwargs,
    pass_definition,
    start_server,
    unique,
    wait_for_run,
)

#: the longest a timer may take to do what its schedule says (its occurrences are seconds apart)
TIMER_TIMEOUT = 30.0  # seconds


@pytest.fixture(scope="module")
def timer_server(openflows_executable: Path) -> t.Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-sdk-timers-"))
    live = start_server(openflows_executable, workdir, {"OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS": "1"})
    previous = os.environ.get("GLOBUS_SDK_SERVICE_URL_TIMER")
    os.environ["GLOBUS_SDK_SERVICE_URL_TIMER"] = live.base_url
    try:
        yield live
    finally:
        live.stop()
        if previous is None:
            os.environ.pop("GLOBUS_SDK_SERVICE_URL_TIMER", None)
        else:
            os.environ["GLOBUS_SDK_SERVICE_URL_TIMER"] = previous
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def owner(timer_server: Server) -> Identity:
    return timer_server.create_identity("timekeeper@example.org")


@pytest.fixture(scope="module")
def timers(owner: Identity) -> globus_sdk.TimersClient:
    # no base_url: the SDK finds the server through GLOBUS_SDK_SERVICE_URL_TIMER, as the globus CLI does
    return globus_sdk.TimersClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(owner.token), **_no_retry_kwargs()
    )


@pytest.fixture(scope="module")
def flow_id(owner: Identity) -> str:
    flow = owner.flows.create_flow(
        title=unique("timed"),
        definition=pass_definition(),
        input_schema={"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
    )
    return str(flow["id"])


def wait_for_job(
    timers: globus_sdk.TimersClient, job_id: str, done: t.Callable[[dict[str, t.Any]], bool]
) -> dict[str, t.Any]:
    deadline = time.monotonic() + TIMER_TIMEOUT
    while True:
        job = timers.get_job(job_id).data
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"timer {job_id} did not get there in {TIMER_TIMEOUT}s: {job}")
        time.sleep(0.1)


def flow_runs(owner: Identity, flow_id: str, label: str) -> list[dict[str, t.Any]]:
    runs = owner.flows.list_runs(filter_flow_id=flow_id, query_params={"filter_label": label}).data["runs"]
    return sorted(runs, key=lambda run: run["start_time"])


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_recurring_flow_timer_ends_after_three_runs(
    timers: globus_sdk.TimersClient, owner: Identity, flow_id: str
):
    label = unique("count")
    timer = globus_sdk.FlowTimer(
        flow_id=flow_id,
        name="three times",
        schedule=globus_sdk.RecurringTimerSchedule(1, end={"condition": "iterations", "iterations": 3}),
        body={"body": {"n": 7}, "label": label, "tags": ["timer"]},
    )
    created = timers.create_timer(timer)["timer"]
    assert created["timer_type"] == "flow" and created["status"] == "new"
    assert created["schedule"]["end"] == {"condition": "iterations", "count": 3}
    job = wait_for_job(timers, created["job_id"], lambda job: job["status"] == "ended")
    assert (job["n_runs"], job["number_of_runs"], job["n_errors"], job["next_run"]) == (3, 3, 0, None)
    time.sleep(1.5)  # nothing more starts once it has ended
    runs = flow_runs(owner, flow_id, label)
    assert len(runs) == 3
    for run in runs:
        done = wait_for_run(owner.flows, run["run_id"])
        assert (done["status"], done["run_owner"], done["tags"]) == ("SUCCEEDED", owner.urn, ["timer"])
        assert done["details"]["output"] == {"n": 7}
    assert sorted(r["data"]["run_id"] for r in job["results"]["data"]) == sorted(r["run_id"] for r in runs)
    starts = [dt.datetime.fromisoformat(run["start_time"]) for run in runs]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert all(gap >= dt.timedelta(seconds=0.9) for gap in gaps), gaps


def test_recurring_flow_timer_ends_at_its_time(
    timers: globus_sdk.TimersClient, owner: Identity, flow_id: str
):
    label = unique("until")
    start = utcnow()
    end = start + dt.timedelta(seconds=5)
    timer = globus_sdk.FlowTimer(
        flow_id=flow_id,
        name="until a time",
        schedule=globus_sdk.RecurringTimerSchedule(
            2, start=start, end={"condition": "time", "datetime": end}
        ),
        body={"body": {"n": 1}, "label": label},
    )
    created = timers.create_timer(timer)["timer"]
    assert created["stop_after"]["date"] is not None
    job = wait_for_job(timers, created["job_id"], lambda job: job["status"] == "ended")
    assert job["n_runs"] == 3  # at start, start + 2 s, start + 4 s
    assert len(flow_runs(owner, flow_id, label)) == 3


def test_once_flow_timers(timers: globus_sdk.TimersClient, owner: Identity, flow_id: str):
    now_label, later_label = unique("now"), unique("later")
    right_now = timers.create_timer(
        globus_sdk.FlowTimer(
            flow_id=flow_id,
            schedule=globus_sdk.OnceTimerSchedule(),
            body={"body": {"n": 2}, "label": now_label},
        )
    )["timer"]
    when = utcnow() + dt.timedelta(seconds=2)
    later = timers.create_timer(
        globus_sdk.FlowTimer(
            flow_id=flow_id,
            name="later",
            schedule=globus_sdk.OnceTimerSchedule(datetime=when),
            body={"body": {"n": 3}, "label": later_label},
        )
    )["timer"]
    assert later["status"] == "new" and later["next_run"] is not None
    for created, label in ((right_now, now_label), (later, later_label)):
        job = wait_for_job(timers, created["job_id"], lambda job: job["status"] == "ended")
        assert job["n_runs"] == 1
        [run] = flow_runs(owner, flow_id, label)
    started = dt.datetime.fromisoformat(run["start_time"])
    assert started >= when.replace(microsecond=0)


def test_transfer_timer_syncs_two_local_collections(
    timers: globus_sdk.TimersClient, timer_server: Server, owner: Identity, tmp_path: Path
):
    ids = {}
    for name in ("source", "destination"):
        root = tmp_path / name
        root.mkdir()
        ids[name] = str(uuid.uuid4())
        subprocess.run(
            [
                *(str(timer_server.bin_path), "collections", "add", "--id", ids[name], "--name", name),
                *("--owner", owner.username, str(root)),
            ],
            env=timer_server.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    (tmp_path / "source" / "first.txt").write_text("first")
    data = globus_sdk.TransferData(
        source_endpoint=ids["source"], destination_endpoint=ids["destination"], sync_level="size"
    )
    data.add_item("/", "/mirror/", recursive=True)
    created = timers.create_timer(
        globus_sdk.TransferTimer(
            name="mirror",
            schedule=globus_sdk.RecurringTimerSchedule(2, end={"condition": "iterations", "iterations": 2}),
            body=data,
        )
    )["timer"]
    assert created["timer_type"] == "transfer"
    mirror = tmp_path / "destination" / "mirror"
    first = wait_for_job(
        timers,
        created["job_id"],
        lambda job: [r["data"]["status"] for r in job["results"]["data"]] == ["SUCCEEDED"],
    )
    assert (mirror / "first.txt").read_text() == "first" and first["n_runs"] == 1
    (tmp_path / "source" / "second.txt").write_text("second")
    job = wait_for_job(
        timers,
        created["job_id"],
        lambda job: (
            job["status"] == "ended"
            and [r["data"]["status"] for r in job["results"]["data"]] == ["SUCCEEDED", "SUCCEEDED"]
        ),
    )
    assert sorted(p.name for p in mirror.iterdir()) == ["first.txt", "second.txt"]
    newest = job["results"]["data"][0]["data"]["details"]
    assert (newest["files_transferred"], newest["files_skipped"]) == (1, 1)  # only the new file was copied


def test_job_operations(timers: globus_sdk.TimersClient, flow_id: str, timer_server: Server):
    created = timers.create_timer(
        globus_sdk.FlowTimer(
            flow_id=flow_id,
            name="hourly",
            schedule=globus_sdk.RecurringTimerSchedule(3600, start=utcnow() + dt.timedelta(hours=1)),
            body={"body": {"n": 4}},
        )
    )["timer"]
    job_id = created["job_id"]
    assert job_id in [
        job["job_id"] for job in timers.list_jobs(query_params={"order": "submitted_at asc"})["jobs"]
    ]
    assert timers.update_job(job_id, {"name": "renamed"})["name"] == "renamed"
    assert timers.pause_job(job_id)["message"] == f"Successfully paused job {job_id}."
    paused = timers.get_job(job_id)
    assert (paused["status"], paused["inactive_reason"]) == ("inactive", {"cause": "user", "detail": None})
    assert (
        timers.resume_job(job_id, update_credentials=True)["message"] == f"Successfully resumed job {job_id}."
    )
    assert timers.get_job(job_id)["status"] == "new"
    deleted = timers.delete_job(job_id)
    assert (deleted["job_id"], deleted["status"]) == (job_id, "deleted")
    with pytest.raises(globus_sdk.GlobusAPIError) as caught:
        timers.get_job(job_id)
    assert (caught.value.http_status, caught.value.code) == (404, "NOT_FOUND")
    with pytest.raises(globus_sdk.GlobusAPIError) as refused:
        timers.create_timer(
            globus_sdk.FlowTimer(
                flow_id=flow_id,
                schedule={"type": "recurring", "interval_seconds": 0},
                body={"body": {"n": 4}},
            )
        )
    assert (refused.value.http_status, refused.value.code) == (422, "UNPROCESSABLE_ENTITY")
    assert "interval_seconds" in str(refused.value.messages)


def test_legacy_create_job(timers: globus_sdk.TimersClient, owner: Identity, flow_id: str):
    label = unique("legacy")
    job = globus_sdk.TimerJob(
        f"{os.environ['GLOBUS_SDK_SERVICE_URL_TIMER']}flows/{flow_id}/run",
        {"body": {"n": 5}, "label": label},
        utcnow(),
        None,
        name="legacy once",
    )
    created = timers.create_job(job)
    assert (created["name"], created["interval"], created["stop_after"]["n_runs"]) == ("legacy once", None, 1)
    done = wait_for_job(timers, created["job_id"], lambda job: job["status"] == "ended")
    assert done["n_runs"] == 1 and len(flow_runs(owner, flow_id, label)) == 1
