"""The live view of a run (`runs watch`, `run start --watch`, `dev run --watch`).

`RunView` turns run-log entries and the run document into a picture: one line per state as it starts and
finishes, with its duration; a progress bar for actions whose status `details` report `files` /
`files_transferred` / `bytes_transferred` (transfers); then the output, or the error and its cause.
`watch_run` polls the server and hands each frame to the console (a `rich.live.Live` on a terminal; one line
per event otherwise). Ctrl-C detaches: the run goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from .describe import CANCELLED, failure_of, format_size, status_text
from .output import format_duration, parse_time

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ENDED"})
#: exit status when the user detaches with Ctrl-C
DETACHED = 130


@dataclasses.dataclass
class StateLine:
    name: str
    type: str
    started: dt.datetime | None
    finished: dt.datetime | None = None
    #: running, done, failed, retrying or caught
    outcome: str = "running"
    progress: dict[str, Any] | None = None
    note: str = ""


class RunView:
    """What the watch shows, built from log entries (`ingest`) and the run document (`update_run`)."""

    def __init__(self, run_id: str, *, debug: bool = False) -> None:
        self.run_id = run_id
        #: show a failure's whole cause, not only its reason
        self.debug = debug
        self.run: dict[str, Any] = {}
        self.states: list[StateLine] = []
        self.seen = 0
        self.output: Any = None
        self.error: dict[str, Any] | None = None
        self.ended_code: str | None = None
        self.inactive: Any = None

    @property
    def status(self) -> str:
        return str(self.run.get("status") or "ACTIVE")

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def update_run(self, run: dict[str, Any]) -> None:
        self.run = run

    def _current(self, name: str | None) -> StateLine | None:
        for line in reversed(self.states):
            if line.name == name:
                return line
        return None

    def ingest(self, entries: list[dict[str, Any]]) -> list[str]:
        """Take the entries not seen yet (`entries` is the whole log so far); return one text per event."""
        events: list[str] = []
        for entry in entries[self.seen :]:
            events += self._ingest_one(entry)
        self.seen = max(self.seen, len(entries))
        return events

    def _ingest_one(self, entry: dict[str, Any]) -> list[str]:
        code = str(entry.get("code") or "")
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        when = parse_time(entry.get("time"))
        name = details.get("state_name")
        line = self._current(name) if name else None
        if code == "FlowStarted":
            return [f"Run {self.run_id} started"]
        if code == "FlowSucceeded":
            self.output, self.ended_code = details.get("output"), code
            return ["Run succeeded"]
        if code == "FlowFailed":
            self.error, self.ended_code = details, code
            if line is not None and line.outcome in ("running", "retrying"):
                line.outcome, line.finished = "failed", when
            return [f"Run failed: {details.get('error')}"]
        if code == "FlowCanceled":
            self.ended_code = code
            for state in self.states:
                if state.outcome in ("running", "retrying"):
                    state.outcome, state.finished = "cancelled", when
            return ["Run cancelled"]
        if code == "FlowInactive":
            self.inactive = details.get("details")
            return ["Run is INACTIVE (waiting; see `openflows runs resume`)"]
        if code == "FlowResumed":
            self.inactive = None
            return ["Run resumed"]
        if code == "FlowRedriven":  # the failure before it is over: the run goes on from `state_name`
            self.error = self.ended_code = None
            return [f"Run redriven from state {name} (redrive {details.get('redrive_count')})"]
        if not name:
            return []
        state_type = str(details.get("state_type") or "")
        if code == "AwaitWebInputStarted":
            self.states.append(StateLine(name, state_type, when, note="waiting for an answer"))
            web_input = (
                (details.get("input") or {}).get("WebInputId")
                if isinstance(details.get("input"), dict)
                else None
            )
            hint_text = f"; see `openflows web-inputs show {web_input}`" if web_input else ""
            return [f"▶ {name} ({state_type}) waits for an answer{hint_text}"]
        if code.endswith("Started"):
            self.states.append(StateLine(name, state_type, when))
            return [f"▶ {name} ({state_type}) started"]
        if code.endswith("Completed"):
            if line is None:
                line = StateLine(name, state_type, when)
                self.states.append(line)
            line.finished, line.outcome, line.note = when, "done", ""
            self._progress(line, details.get("output"))
            return [f"✓ {name} finished in {format_duration(_seconds(line.started, when))}"]
        if code == "ActionPolled" and line is not None:
            self._progress(line, details.get("output"))
            return []
        if code == "ActionFailed" and line is not None:
            line.finished, line.outcome = when, "failed"
            self._progress(line, details.get("output"))
            return [f"✗ {name} failed"]
        if code.endswith("Retrying") and line is not None:
            note = str(entry.get("description") or "")
            prefix = f"State {name} of type {state_type}: "
            if code == "ActionProviderRetrying" and note.startswith(prefix):
                note = note[
                    len(prefix) :
                ]  # "The action provider at … could not be reached: …; trying again …"
            line.outcome, line.note = "retrying", note
            return [f"↻ {name}: {note}"]
        if code == "ExceptionCaught" and line is not None:
            line.finished, line.outcome = when, "caught"
            return [f"✗ {name}: {entry.get('description')}"]
        return []

    @staticmethod
    def _progress(line: StateLine, status: Any) -> None:
        details = status.get("details") if isinstance(status, dict) else None
        if isinstance(details, dict) and isinstance(details.get("files"), int):
            line.progress = details

    def render(self, now: dt.datetime | None = None) -> Any:
        """The current frame, a rich renderable."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = now or dt.datetime.now(dt.UTC)
        title = Text.assemble(
            ("Run ", "bold"), (self.run_id, "cyan"), "  ", _status_text(status_text(self.run) or self.status)
        )
        if self.run.get("flow_title"):
            title.append(f"  ({self.run['flow_title']})", style="dim")
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column()
        for line in self.states:
            mark, style = _OUTCOMES[line.outcome]
            duration = _seconds(line.started, line.finished or now)
            extra: Any = Text(line.note, style="dim")
            progress = line.progress
            if progress:
                files = int(progress.get("files") or 0)
                done = int(progress.get("files_transferred") or 0) + int(progress.get("files_skipped") or 0)
                bar = ProgressBar(total=max(files, 1), completed=min(done, max(files, 1)), width=24)
                grid = Table.grid(padding=(0, 1))
                moved = format_size(progress.get("bytes_transferred"))
                grid.add_row(bar, Text(f"{done}/{files} files, {moved}"))
                extra = grid
            table.add_row(
                Text(mark, style=style),
                Text(f"{line.name} ({line.type})", style=style),
                Text(format_duration(duration)),
                extra,
            )
        parts: list[Any] = [title, table]
        if self.inactive is not None:
            parts.append(Text(f"INACTIVE: {json.dumps(self.inactive)[:300]}", style="yellow"))
        if self.ended_code == "FlowSucceeded":
            parts.append(Text("Output:", style="bold green"))
            parts.append(Text(json.dumps(self.output, indent=2)))
        elif self.error is not None:
            parts += self._failure()
        elif self.ended_code == "FlowCanceled":
            parts.append(Text("Cancelled.", style="bold red"))
        return Group(*parts)

    def _failure(self) -> list[Any]:
        """The error, then its reason on one line, then where the rest is (or, with debug, the rest)."""
        from rich.text import Text

        failure = failure_of(self.error or {})
        if failure is None:  # pragma: no cover - FlowFailed always has details
            return [Text("Failed.", style="bold red")]
        where = f" (state {failure.state})" if failure.state else ""
        parts: list[Any] = [Text(f"Error: {failure.error}{where}", style="bold red")]
        if failure.reason:
            parts.append(Text(f"Cause: {failure.reason}"))
        if failure.has_more:
            if self.debug:
                parts.append(Text("The whole cause:", style="dim"))
                parts.append(Text(json.dumps(failure.cause, indent=2, ensure_ascii=False)))
            else:
                parts.append(
                    Text(
                        f"The whole cause: openflows runs show {self.run_id} --format json (or --debug here)",
                        style="dim",
                    )
                )
        return parts


_OUTCOMES = {
    "running": ("…", "yellow"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "retrying": ("↻", "yellow"),
    "caught": ("✗", "magenta"),
    "cancelled": ("■", "red"),
}


def _status_text(status: str) -> Any:
    from rich.text import Text

    style = {
        "SUCCEEDED": "bold green",
        "FAILED": "bold red",
        CANCELLED: "bold red",
        "INACTIVE": "bold yellow",
    }.get(status, "bold")
    return Text(status, style=style)


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def exit_status(view: RunView) -> int:
    """0 when the run succeeded, 1 when it failed or ended otherwise."""
    return 0 if view.status == "SUCCEEDED" else 1


def watch_run(
    client: Any,
    run_id: str,
    *,
    console: Any,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    on_frame: Callable[[RunView], None] | None = None,
    live: bool | None = None,
    debug: bool = False,
) -> RunView:
    """Poll the run until it ends, showing it on `console`; return the view. `on_frame` sees each frame
    (tests record them). KeyboardInterrupt propagates to the caller, which detaches. `debug` shows a
    failure's whole cause."""
    view = RunView(run_id, debug=debug)
    live = console.is_terminal if live is None else live

    def poll() -> list[str]:
        view.update_run(client.get_run(run_id).data)
        entries = list(client.paginated.get_run_logs(run_id, limit=100).items())
        events = view.ingest(entries)
        if on_frame is not None:
            on_frame(view)
        return events

    if live:
        from rich.live import Live

        with Live(view.render(), console=console, refresh_per_second=4, transient=False) as screen:
            while True:
                poll()
                screen.update(view.render())
                if view.finished:
                    break
                sleep(interval)
        return view
    while True:
        for event in poll():
            console.print(event, markup=False, highlight=False)
        if view.finished:
            break
        sleep(interval)
    console.print(view.render(), soft_wrap=True)  # long lines (a cause, JSON) are not cut into pieces
    return view


def watch_command_run(opts: Any, run_id: str, *, interval: float = 1.0) -> int:
    """Watch from a command: the exit status, or DETACHED after Ctrl-C (the run is not canceled)."""
    from .output import make_console

    console = make_console(stderr=opts.format == "json")  # stdout stays the JSON document
    try:
        view = watch_run(opts.flows_client(), run_id, console=console, interval=interval, debug=opts.debug)
    except KeyboardInterrupt:
        console.print(f"Detached; the run goes on. Follow it again with: openflows runs watch {run_id}")
        return DETACHED
    if opts.format == "json":
        from .output import print_json

        print_json(view.run)
    return exit_status(view)
