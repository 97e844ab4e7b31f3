"""Retries of an action provider that cannot be reached are shown in the run log as they happen (issue 18):
an `ActionProviderRetrying` entry per retried `/run` (a bounded number) and one per series of failed polls,
each committed with the run's version check like a step."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from enginekit import BASE_URL, drive, get_logs, get_run

from openflows.engine.executor import Executor
from openflows.providers.base import Caller, Provider, ProviderError, ProviderRegistry
from openflows.shared.clock import FakeClock
from openflows.store.db import Database

UNREACHABLE = "http://127.0.0.1:9/nothing-listens-here"


def action_flow(url: str) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Action", "ActionUrl": url, "Parameters": {}, "ResultPath": "$.r", "End": True}
        },
    }


def test_each_retried_start_is_logged_with_its_reason_and_time(
    db: Database, executor: Executor, start_run: Callable, clock: FakeClock
) -> None:
    run_id = start_run(action_flow(UNREACHABLE), {})
    started = clock.now()
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "FAILED"
    logs = get_logs(db, run_id)
    assert [e["code"] for e in logs] == ["FlowStarted", "ActionStarted"] + ["ActionProviderRetrying"] * 4 + [
        "FlowFailed"
    ]
    retries = [e for e in logs if e["code"] == "ActionProviderRetrying"]
    assert [e["details"]["attempt"] for e in retries] == [2, 3, 4, 5]
    assert {e["details"]["max_attempts"] for e in retries} == {5}
    assert [e["details"]["retry_at"] for e in retries] == [
        (started + dt.timedelta(seconds=s)).isoformat() for s in (1, 3, 7, 15)
    ]
    first = retries[0]
    assert first["details"]["state_name"] == "Call" and first["details"]["state_type"] == "Action"
    assert first["details"]["error"] == "ActionProviderUnreachable"
    assert first["details"]["call"] == "start"
    assert first["description"].startswith(
        f"State Call of type Action: The action provider at {UNREACHABLE} could not be reached: "
    )
    assert first["description"].endswith("; trying again in 1 s (attempt 2 of 5)")


class FlakyStatus(Provider):
    """Starts actions (ACTIVE); its status answers 503 `failures` times, then SUCCEEDED."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def introspect(self) -> dict[str, Any]:
        return {}

    def _doc(self, status: str) -> dict[str, Any]:
        return {"action_id": "a1", "status": status, "details": {}}

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        return self._doc("ACTIVE"), True

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        if self.failures > 0:
            self.failures -= 1
            raise ProviderError("the provider is down for maintenance")
        return self._doc("SUCCEEDED")

    def cancel(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self._doc("FAILED")

    release = cancel
    resume = status

    def log(self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False) -> dict:
        return {"entries": []}


def test_a_series_of_failed_polls_is_logged_once(
    db: Database, make_executor: Callable[..., Executor], start_run: Callable, clock: FakeClock
) -> None:
    flaky = FlakyStatus(failures=3)
    executor = make_executor()
    executor.actions.registry = ProviderRegistry([flaky], base_urls=[BASE_URL])
    run_id = start_run(action_flow(f"{BASE_URL}/actions/flaky"), {})
    drive(executor, clock)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    logs = get_logs(db, run_id)
    codes = [e["code"] for e in logs]
    assert codes == [
        "FlowStarted",
        "ActionStarted",
        "ActionProviderRetrying",
        "ActionCompleted",
        "FlowSucceeded",
    ]
    retry = logs[2]
    assert retry["details"]["call"] == "status"
    assert retry["details"]["attempt"] is None
    assert retry["details"]["cause"] == {
        "code": "ActionProviderError",
        "description": "the provider is down for maintenance",
    }
    assert "the provider is down for maintenance; polling again in" in retry["description"]
