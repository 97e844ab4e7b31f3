"""`openflows timers create|list|show|pause|resume|delete` against a live server (its default minimum
interval, 60 s: the recurring timers here wait an hour, the ones that fire run once)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from openflows.cli.common import CLIError
from openflows.cli.timers import build_schedule, describe_reason, parse_interval


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("1d", 86400), ("2w", 1209600)],
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "1.5h", "-5"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(CLIError, match="--interval"):
        parse_interval(text)


def test_schedules() -> None:
    assert build_schedule(None, None, None, None) == {"type": "once"}
    assert build_schedule("2030-01-01T00:00:00+00:00", None, 1, None) == {
        "type": "once",
        "datetime": "2030-01-01T00:00:00+00:00",
    }
    assert build_schedule(None, "1h", 3, None) == {
        "type": "recurring",
        "interval_seconds": 3600,
        "end": {"condition": "iterations", "count": 3},
    }
    assert build_schedule(None, "60", None, "2030-01-01T00:00:00Z")["end"] == {
        "condition": "time",
        "datetime": "2030-01-01T00:00:00+00:00",
    }
    with pytest.raises(CLIError, match="not both"):
        build_schedule(None, "1h", 3, "2030-01-01T00:00:00Z")
    with pytest.raises(CLIError, match="--interval is required"):
        build_schedule(None, None, 3, None)


def _flow(run_line: Any, hello_file: Path) -> str:
    return str(run_line(f"openflows flows create {hello_file} --title timed --format json").json()["id"])


def _wait_ended(run_line: Any, timer_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job = run_line(f"openflows timers show {timer_id} --format json").json()
        if job["status"] == "ended":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_a_flow_timer_from_create_to_delete(run_line: Any, hello_file: Path) -> None:
    flow_id = _flow(run_line, hello_file)
    once = run_line(
        f"openflows timers create {flow_id} --input '{{\"x\": 1}}' --label nightly --tag a --name now "
        "--format json"
    ).json()["timer"]
    assert (once["timer_type"], once["flow_id"], once["schedule"]["type"]) == ("flow", flow_id, "once")
    assert once["body"] == {"body": {"x": 1}, "label": "nightly", "tags": ["a"]}
    job = _wait_ended(run_line, once["job_id"])
    [result] = job["results"]["data"]
    run = run_line(f"openflows runs show {result['data']['run_id']} --format json").json()
    assert (run["label"], run["tags"]) == ("nightly", ["a"])
    shown = run_line(f"openflows timers show {once['job_id']}").stdout
    assert "ended" in shown and result["data"]["run_id"] in shown  # the record and the results table

    hourly = run_line(
        f"openflows timers create {flow_id} --interval 1h --stop-after-runs 5 --start 2099-01-01T00:00:00Z "
        "--name hourly"
    )
    assert "every 3600 s from" in hourly.stdout and "5 times" in hourly.stdout
    listed = run_line("openflows timers list --format json").json()["jobs"]
    hourly_id = next(job["job_id"] for job in listed if job["name"] == "hourly")
    assert hourly_id in run_line("openflows timers list").stdout
    paused = run_line(f"openflows timers pause {hourly_id}")
    assert paused.stdout.strip() == f"Successfully paused job {hourly_id}."
    assert "paused" in run_line(f"openflows timers show {hourly_id}").stdout
    run_line(f"openflows timers resume {hourly_id}")
    assert run_line(f"openflows timers show {hourly_id} --format json").json()["status"] == "new"
    deleted = run_line(f"openflows timers delete {hourly_id} --format json").json()
    assert deleted["status"] == "deleted"
    gone = run_line(f"openflows timers show {hourly_id}", exit_code=1)
    assert "NOT_FOUND (HTTP 404)" in gone.stderr


def test_refusals(run_line: Any, hello_file: Path) -> None:
    flow_id = _flow(run_line, hello_file)
    neither = run_line("openflows timers create", exit_code=1)
    assert "FLOW_ID or --transfer" in neither.stderr
    too_often = run_line(f"openflows timers create {flow_id} --interval 30s", exit_code=1)
    assert "UNPROCESSABLE_ENTITY (HTTP 422)" in too_often.stderr and "at least 60 seconds" in too_often.stderr


def test_a_transfer_timer(run_line: Any, live_server: Any, tmp_path: Path) -> None:
    ids = {}
    for name in ("from", "to"):
        (tmp_path / name).mkdir()
        ids[name] = str(uuid.uuid4())
        subprocess.run(
            [
                str(live_server.bin_path),
                "collections",
                "add",
                "--id",
                ids[name],
                "--name",
                name,
                str(tmp_path / name),
            ],
            env=live_server.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    (tmp_path / "from" / "data.txt").write_text("data")
    body = {
        "source_endpoint": ids["from"],
        "destination_endpoint": ids["to"],
        "DATA": [{"source_path": "/data.txt", "destination_path": "/copy.txt"}],
    }
    created = run_line(
        ["openflows", "timers", "create", "--transfer", json.dumps(body), "--format", "json"]
    ).json()
    job = _wait_ended(run_line, created["timer"]["job_id"])
    assert job["timer_type"] == "transfer" and job["n_runs"] == 1
    deadline = time.monotonic() + 30
    while not (tmp_path / "to" / "copy.txt").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (tmp_path / "to" / "copy.txt").read_text() == "data"


def test_inactive_reasons_are_described() -> None:
    assert describe_reason({"cause": "user", "detail": None}) == "paused"
    assert (
        describe_reason({"cause": "error", "detail": {"code": "FLOW_NOT_FOUND", "detail": "No Flow exists"}})
        == "FLOW_NOT_FOUND: No Flow exists"
    )
    gare = {
        "code": "ConsentRequired",
        "description": "This timer can no longer act on your behalf",
        "authorization_parameters": {"required_scopes": ["timer[flow]"], "session_message": "..."},
    }
    assert (
        describe_reason({"cause": "globus_auth_requirements", "detail": gare})
        == "ConsentRequired: This timer can no longer act on your behalf"
    )
