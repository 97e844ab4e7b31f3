"""`openflows timers ...`: create, list, show, pause, resume and delete timers through the Timers API (the
same API globus-sdk's `TimersClient` and `globus timer` use; docs/timers.md).

`create FLOW_ID` makes a flow timer (its runs start as you, with `--input`, `--label`, `--tag`);
`create --transfer BODY` a transfer timer (BODY is a TransferData document between local collections).
Without `--interval` the timer runs once (at `--start`, default now); with it, every interval until
`--stop-after-runs` runs or `--stop-after-date`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import typer

from .common import CLIError
from .options import ClientOptions, client_command
from .output import Field, display, format_time, format_time_short

app = typer.Typer(name="timers", help="Run flows and transfers on a schedule.", no_args_is_help=True)

TIMER_FIELDS = [
    Field("Timer ID", "job_id"),
    Field("Name", "name"),
    Field("Type", "timer_type"),
    Field("Flow ID", "flow_id"),
    Field("Status", "status"),
    Field("Schedule", "schedule", lambda value: describe_schedule(value)),
    Field("Next run", "next_run", format_time),
    Field("Last run", "last_ran_at", format_time),
    Field("Runs", "number_of_runs"),
    Field("Errors", "number_of_errors"),
    Field("Missed", "number_of_missed"),
    Field("Inactive because", "inactive_reason", lambda value: describe_reason(value)),
    Field("Submitted", "submitted_at", format_time),
]
LIST_FIELDS = [
    Field("Timer ID", "job_id", min_width=36),
    Field("Name", "name", wrap=True, min_width=6),
    Field("Type", "timer_type", min_width=4),
    Field("Status", "status", min_width=8),
    Field("Next run", "next_run", format_time_short, min_width=10),
    Field("Runs", "number_of_runs", min_width=4),
]
RESULT_FIELDS = [
    Field("Occurrence", "occurrence", min_width=4),
    Field("Ran", "ran_at", format_time_short, min_width=10),
    Field("Started", "data", lambda data: (data or {}).get("run_id") or (data or {}).get("action_id") or ""),
    Field("Status", "data.status", min_width=6),
    Field("Error", "errors", lambda errors: "; ".join(e.get("detail", "") for e in errors or []), wrap=True),
]

TimerId = Annotated[str, typer.Argument(help="Timer ID.")]
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_INTERVAL = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_interval(text: str) -> int:
    """Seconds from `90`, `90s`, `1h30m`, `1d`, `2w` (the globus CLI's spelling)."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    match = _INTERVAL.match(value)
    if not value or match is None or not any(match.groups()):
        raise CLIError(f"--interval {text!r}: use seconds or a duration such as 90s, 30m, 1h30m, 1d, 2w")
    return sum(int(part) * _UNITS[unit] for part, unit in zip(match.groups(), "wdhms", strict=True) if part)


def parse_when(text: str, option: str) -> str:
    """An ISO 8601 time (no zone: local time), as UTC ISO 8601."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(f"{option} {text!r} is not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(dt.UTC).isoformat()


def build_schedule(
    start: str | None, interval: str | None, stop_after_runs: int | None, stop_after_date: str | None
) -> dict[str, Any]:
    if stop_after_runs is not None and stop_after_date is not None:
        raise CLIError("give --stop-after-runs or --stop-after-date, not both")
    if interval is None:
        if stop_after_runs not in (None, 1) or stop_after_date is not None:
            raise CLIError("--interval is required unless the timer runs once")
        schedule: dict[str, Any] = {"type": "once"}
        if start is not None:
            schedule["datetime"] = parse_when(start, "--start")
        return schedule
    schedule = {"type": "recurring", "interval_seconds": parse_interval(interval)}
    if start is not None:
        schedule["start"] = parse_when(start, "--start")
    if stop_after_runs is not None:
        schedule["end"] = {"condition": "iterations", "count": stop_after_runs}
    elif stop_after_date is not None:
        schedule["end"] = {"condition": "time", "datetime": parse_when(stop_after_date, "--stop-after-date")}
    return schedule


def describe_schedule(schedule: Any) -> str:
    if not isinstance(schedule, dict):
        return ""
    if schedule.get("type") == "once":
        return f"once at {format_time(schedule.get('datetime'))}"
    text = f"every {schedule.get('interval_seconds')} s from {format_time(schedule.get('start'))}"
    end = schedule.get("end") or {}
    if end.get("condition") == "iterations":
        text += f", {end.get('count')} times"
    elif end.get("condition") == "time":
        text += f", until {format_time(end.get('datetime'))}"
    return text


def describe_reason(reason: Any) -> str:
    if not isinstance(reason, dict):
        return ""
    if reason.get("cause") == "user":
        return "paused"
    detail = reason.get("detail") or {}
    # an error's detail has `detail`; a GARE (cause globus_auth_requirements) has `description`
    message = detail.get("detail") or detail.get("description") or ""
    return f"{detail.get('code', reason.get('cause'))}: {message}".rstrip(": ")


@client_command(app, "create")
def create_command(
    opts: ClientOptions,
    flow_id: Annotated[str | None, typer.Argument(metavar="[FLOW_ID]", help="The flow to run.")] = None,
    transfer: Annotated[
        str | None,
        typer.Option(
            "--transfer", help="A transfer timer: TransferData as a JSON/YAML file, inline JSON or -."
        ),
    ] = None,
    input: Annotated[
        str, typer.Option("--input", "-i", help="Run input: JSON/YAML file, inline JSON or -.")
    ] = "{}",
    name: Annotated[str | None, typer.Option("--name", help="A name for the timer.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Label of the runs (1-64 characters).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag of the runs; repeatable.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First run (ISO 8601; default now).")] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Repeat every: seconds or 90s, 30m, 1h30m, 1d, 2w.")
    ] = None,
    stop_after_runs: Annotated[
        int | None, typer.Option("--stop-after-runs", min=1, help="End after this many runs.")
    ] = None,
    stop_after_date: Annotated[
        str | None, typer.Option("--stop-after-date", help="End at this time (ISO 8601).")
    ] = None,
) -> None:
    """Create a timer that runs a flow (or a transfer) once or every interval.

    Example: openflows timers create 5d8cb1c3-... --input input.json --interval 1h --stop-after-runs 24
    """
    from .params import load_document

    if (flow_id is None) == (transfer is None):
        raise CLIError("give a FLOW_ID or --transfer (one of them)")
    schedule = build_schedule(start, interval, stop_after_runs, stop_after_date)
    timer: dict[str, Any] = {"schedule": schedule}
    if name is not None:
        timer["name"] = name
    if flow_id is not None:
        body: dict[str, Any] = {"body": load_document(input, what="input")[0]}
        if label:
            body["label"] = label
        if tag:
            body["tags"] = tag
        timer.update(timer_type="flow", flow_id=flow_id, body=body)
    else:
        assert transfer is not None
        timer.update(timer_type="transfer", body=load_document(transfer, what="transfer body")[0])
    created = opts.timers_client().create_timer(timer).data
    document = created if opts.format == "json" else created["timer"]
    display(document, format=opts.format, fields=TIMER_FIELDS)


@client_command(app, "list")
def list_command(opts: ClientOptions) -> None:
    """List your timers (oldest first).

    Example: openflows timers list
    """
    jobs = opts.timers_client().list_jobs(query_params={"order": "submitted_at asc"})
    display(jobs.data, format=opts.format, items_key="jobs", fields=LIST_FIELDS)


@client_command(app, "show")
def show_command(opts: ClientOptions, timer_id: TimerId) -> None:
    """Show a timer and the results of its recent runs.

    Example: openflows timers show 7c1f...
    """
    job = opts.timers_client().get_job(timer_id).data
    display(job, format=opts.format, fields=TIMER_FIELDS)
    if opts.format != "json":
        results = (job.get("results") or {}).get("data") or []
        if results:
            typer.echo("")
            display({"results": results}, format=opts.format, items_key="results", fields=RESULT_FIELDS)


@client_command(app, "pause")
def pause_command(opts: ClientOptions, timer_id: TimerId) -> None:
    """Pause a timer: it skips its runs until resumed.

    Example: openflows timers pause 7c1f...
    """
    answer = opts.timers_client().pause_job(timer_id).data
    display(answer, format=opts.format, text=answer.get("message"))


@client_command(app, "resume")
def resume_command(opts: ClientOptions, timer_id: TimerId) -> None:
    """Resume a paused (or inactive) timer from its next run. A flow timer that lost its owner's consent
    obtains it again from your token (as `globus timer resume` does); without that consent the answer says
    which scope to consent to.

    Example: openflows timers resume 7c1f...
    """
    client = opts.timers_client()
    reason = client.get_job(timer_id).data.get("inactive_reason") or {}
    update = reason.get("cause") == "globus_auth_requirements"
    answer = client.resume_job(timer_id, update_credentials=update).data
    display(answer, format=opts.format, text=answer.get("message"))


@client_command(app, "delete")
def delete_command(opts: ClientOptions, timer_id: TimerId) -> None:
    """Delete a timer (the runs and transfers it started stay).

    Example: openflows timers delete 7c1f...
    """
    deleted = opts.timers_client().delete_job(timer_id).data
    display(deleted, format=opts.format, fields=TIMER_FIELDS[:5])
