"""The documents of the Timers API, with the fields that globus-sdk's `testing/data/timer` fixtures and
globus-cli's `timer` commands read (docs/timers.md).

The hosted service answers `POST /v2/timer` with its newer field names (`number_of_runs`, `schedule`,
`timer_type`) and `GET /jobs/...` with the older ones (`n_runs`, `interval`, `start`, `stop_after`,
`callback_url`, `results.data`); its flow-timer answer already mixes the two. OpenFlows sends one document
with both sets of names everywhere, so either reader finds what it looks for (the CLI's `timer create` fields
and its `timer show` fields both come out filled).
"""

from __future__ import annotations

from typing import Any

from ..auth import scopes as flows_scopes
from ..engine.schedules import ONCE, from_document
from ..language.model import isoformat
from ..shared.urns import IDENTITY_URN_PREFIX
from ..store.timers import Timer, TimerRun

#: the HTTP status a result reports for an occurrence that started something, by timer type (the hosted
#: results carry the status of the call the timer made: 201 from run_flow, 202 from a Transfer submission)
STARTED_STATUS = {"flow": 201, "transfer": 202}
#: the status reported for an occurrence that could not start, by error code
ERROR_STATUS = {
    "FLOW_NOT_FOUND": 404,
    "FORBIDDEN": 403,
    "ConsentRequired": 403,
    "OWNER_NOT_FOUND": 404,
    "INTERNAL_ERROR": 500,
}


def _time(value: Any) -> str | None:
    return isoformat(value) if value is not None else None


def callback_url(timer: Timer, base_url: str) -> str:
    """What the timer calls, as a URL of this server: run_flow of the flow, or the transfer provider."""
    if timer.timer_type == "flow":
        return f"{base_url}/flows/{timer.flow_id}/run"
    return f"{base_url}/actions/transfer/run"


def activity(timer: Timer) -> dict[str, Any] | None:
    """The CLI's "Activity" line: waiting for the next run, paused (inactive), or None once it has ended."""
    if timer.active:
        return {"code": "awaiting_next_run", "start_timestamp": None}
    if timer.status == "inactive":
        return {"code": "paused", "start_timestamp": None}
    return None


def result_document(timer: Timer, result: TimerRun) -> dict[str, Any]:
    """One entry of `results.data`: the call's status, its errors, what it started (and its status now)."""
    data: dict[str, Any] | None
    if result.status == "started" and result.run_id is not None:
        data = {
            "run_id": str(result.run_id),
            "action_id": str(result.run_id),
            "flow_id": str(timer.flow_id),
            "status": result.current_status,
        }
    elif result.status == "started" and result.action_id is not None:
        data = {
            "action_id": str(result.action_id),
            "status": result.current_status,
            "details": result.action_details,
        }
    else:
        data = None
    error = result.error or {}
    return {
        "occurrence": result.occurrence,
        "due_at": _time(result.due_at),
        "ran_at": _time(result.ran_at),
        "missed": result.missed,
        "status": (
            STARTED_STATUS.get(timer.timer_type, 201)
            if result.status == "started"
            else ERROR_STATUS.get(error.get("code", ""), 400)
        ),
        "errors": [error] if result.status != "started" else None,
        "data": data,
    }


def timer_document(
    timer: Timer, results: list[TimerRun], *, base_url: str, status: str | None = None
) -> dict[str, Any]:
    """The timer as every Timers route answers it (`status` overrides the stored one: "deleted")."""
    schedule = from_document(timer.schedule)
    shown_status = status or timer.status
    end_count = 1 if schedule.kind == ONCE else schedule.end_count
    if timer.timer_type == "flow":
        callback_body: dict[str, Any] = timer.body
        scope: str | None = flows_scopes.flow_scope(timer.flow_id) if timer.flow_id else None
    else:
        callback_body = {"body": timer.body}
        scope = None
    doc: dict[str, Any] = {
        "job_id": str(timer.id),
        "name": timer.name,
        "timer_type": timer.timer_type,
        "status": shown_status,
        "owner": timer.owner.removeprefix(IDENTITY_URN_PREFIX),
        "submitted_at": _time(timer.submitted_at),
        "last_ran_at": _time(timer.last_ran_at),
        "next_run": _time(timer.next_run) if shown_status != "deleted" else None,
        "schedule": timer.schedule,
        "start": _time(schedule.start),
        "interval": schedule.interval_seconds,
        "stop_after": {"date": _time(schedule.end_time), "n_runs": end_count},
        "number_of_runs": timer.number_of_runs,
        "number_of_errors": timer.number_of_errors,
        "n_runs": timer.number_of_runs,
        "n_errors": timer.number_of_errors,
        "number_of_missed": timer.number_of_missed,
        "inactive_reason": timer.inactive_reason if timer.status == "inactive" else None,
        "activity": activity(timer) if shown_status != "deleted" else None,
        "callback_url": callback_url(timer, base_url),
        "callback_body": callback_body,
        "body": timer.body,
        "scope": scope,
        "results": {"data": [result_document(timer, r) for r in results], "page_next": None},
    }
    if timer.flow_id is not None:
        doc["flow_id"] = str(timer.flow_id)
    return doc
