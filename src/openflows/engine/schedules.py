"""Timer schedules (the Globus Timers documents, docs/timers.md): parsing, the occurrence grid, and what a
firing does. Pure: the current time comes in as an argument.

A schedule is either `{"type": "once", "datetime"}` or `{"type": "recurring", "interval_seconds", "start",
"end"?}` with `end` `{"condition": "time", "datetime"}` or `{"condition": "iterations", "count"}` (the SDK's
docstring spells the count `iterations`, the CLI and the service `count`; both are read). Occurrence `k` of a
recurring schedule is due at `start + k * interval_seconds`; a once schedule has occurrence 0 only.

When an occurrence fires late, by more than one interval (every worker was down), the timer fires **once**,
for the latest occurrence already due, and skips the ones before it (they are counted as missed, and do not
count towards an `iterations` end): a backlog is never replayed. A timer created with a start in the past
fires once at once for the latest occurrence due, then follows the grid; a resumed timer waits for the next
occurrence (a once timer that never fired fires at once).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from ..language.model import isoformat

ONCE = "once"
RECURRING = "recurring"
#: longest interval accepted (ten years): keeps every time computed here far from datetime's limits
MAX_INTERVAL_SECONDS = 10 * 366 * 86400  # seconds
#: most occurrences an `iterations` end may ask for
MAX_COUNT = 1_000_000_000
#: latest time a schedule may name (occurrences computed from it stay far from datetime's limits)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


class ScheduleError(ValueError):
    """A schedule document that cannot be used; `loc` names the field (under `schedule`)."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A parsed schedule (see the module docstring)."""

    kind: str
    #: the once time, or the first occurrence of a recurring schedule
    start: dt.datetime
    interval_seconds: int | None = None
    end_time: dt.datetime | None = None
    end_count: int | None = None

    def due(self, occurrence: int) -> dt.datetime:
        """When occurrence `occurrence` is due."""
        if self.interval_seconds is None:
            return self.start
        return self.start + dt.timedelta(seconds=self.interval_seconds * occurrence)

    @property
    def last_by_time(self) -> int | None:
        """The last occurrence the schedule has by its times (None: unbounded)."""
        if self.kind == ONCE:
            return 0
        if self.end_time is None:
            return None
        assert self.interval_seconds is not None
        return math.floor((self.end_time - self.start).total_seconds() / self.interval_seconds)

    def latest_due(self, now: dt.datetime) -> int | None:
        """The latest occurrence due at `now` (None before the first)."""
        if now < self.start:
            return None
        if self.interval_seconds is None:
            return 0
        return math.floor((now - self.start).total_seconds() / self.interval_seconds)

    def first_after(self, now: dt.datetime) -> int:
        """The first occurrence due strictly after `now`."""
        latest = self.latest_due(now)
        return 0 if latest is None else latest + 1

    def exists(self, occurrence: int) -> bool:
        """Whether the schedule's times have occurrence `occurrence` at all (an `iterations` end is counted
        by runs, elsewhere)."""
        last = self.last_by_time
        return occurrence >= 0 and (last is None or occurrence <= last)

    def document(self) -> dict[str, Any]:
        """The schedule as the API shows it."""
        if self.kind == ONCE:
            return {"type": ONCE, "datetime": isoformat(self.start)}
        doc: dict[str, Any] = {
            "type": RECURRING,
            "interval_seconds": self.interval_seconds,
            "start": isoformat(self.start),
        }
        if self.end_time is not None:
            doc["end"] = {"condition": "time", "datetime": isoformat(self.end_time)}
        elif self.end_count is not None:
            doc["end"] = {"condition": "iterations", "count": self.end_count}
        return doc


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Firing:
    """What firing a timer now does: which occurrence fires, how many it skips, and what comes next."""

    occurrence: int
    due_at: dt.datetime
    #: occurrences skipped just before this one (due while no worker ran)
    missed: int
    #: the occurrence after this one, and when it is due (None: the timer fires no more)
    next_occurrence: int | None
    next_run: dt.datetime | None


# --- parsing ------------------------------------------------------------------------------------------------


def parse_time(value: Any, loc: tuple[str, ...]) -> dt.datetime:
    """An ISO 8601 date-time (a `Z` suffix accepted; no zone means UTC), as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(loc, "must be an ISO 8601 date-time string")
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ScheduleError(loc, f"is not an ISO 8601 date-time: {text[:64]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ScheduleError(loc, "is out of range") from None
    if parsed >= LATEST:
        raise ScheduleError(loc, f"must be before {LATEST.year}")
    return parsed


def _int(value: Any, loc: tuple[str, ...], *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ScheduleError(loc, "must be a whole number")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ScheduleError(loc, f"must be between {minimum} and {maximum}")
    return number


def parse_schedule(document: Any, *, now: dt.datetime, min_interval_seconds: float) -> Schedule:
    """A schedule from a request (`now` is the default start); raises `ScheduleError` naming the field."""
    if not isinstance(document, dict):
        raise ScheduleError((), "must be an object with a type of once or recurring")
    kind = document.get("type")
    if kind == ONCE:
        when = document.get("datetime")
        start = now if when is None else parse_time(when, ("datetime",))
        return Schedule(kind=ONCE, start=start)
    if kind != RECURRING:
        raise ScheduleError(("type",), "must be once or recurring")
    minimum = max(1, math.ceil(min_interval_seconds))
    interval = _int(
        document.get("interval_seconds"), ("interval_seconds",), minimum=1, maximum=MAX_INTERVAL_SECONDS
    )
    if interval < minimum:
        raise ScheduleError(
            ("interval_seconds",),
            f"must be at least {minimum} seconds (this server's minimum timer interval)",
        )
    start_value = document.get("start")
    start = now if start_value is None else parse_time(start_value, ("start",))
    end = document.get("end")
    if end is None or end == {}:
        return Schedule(kind=RECURRING, start=start, interval_seconds=interval)
    if not isinstance(end, dict):
        raise ScheduleError(("end",), "must be an object")
    condition = end.get("condition")
    count = end.get("count", end.get("iterations"))
    if condition == "time" or (condition is None and "datetime" in end):
        end_time = parse_time(end.get("datetime"), ("end", "datetime"))
        if end_time < start:
            raise ScheduleError(("end", "datetime"), "must not be before the start")
        return Schedule(kind=RECURRING, start=start, interval_seconds=interval, end_time=end_time)
    if condition == "iterations" or (condition is None and count is not None):
        number = _int(count, ("end", "count"), minimum=1, maximum=MAX_COUNT)
        return Schedule(kind=RECURRING, start=start, interval_seconds=interval, end_count=number)
    raise ScheduleError(("end", "condition"), "must be time or iterations")


def from_document(document: dict[str, Any]) -> Schedule:
    """A stored schedule document (made by `Schedule.document`) back as a `Schedule`."""
    return parse_schedule(document, now=dt.datetime.now(dt.UTC), min_interval_seconds=0)


# --- the grid -----------------------------------------------------------------------------------------------


def first_occurrence(schedule: Schedule, *, now: dt.datetime) -> int | None:
    """The occurrence a new timer starts at: the latest one already due (it fires at once), else the first
    one; None when the schedule's end is already past."""
    latest = schedule.latest_due(now)
    occurrence = 0 if latest is None else latest
    last = schedule.last_by_time
    if last is not None and occurrence > last:
        return None if last < 0 else last
    return occurrence


def resume_occurrence(schedule: Schedule, *, now: dt.datetime, runs: int) -> int | None:
    """The occurrence a resumed timer waits for: the next one after `now` (a once timer that never started
    anything fires at once); None when there is none left."""
    if schedule.kind == ONCE:
        return 0 if runs == 0 else None
    if schedule.end_count is not None and runs >= schedule.end_count:
        return None
    occurrence = schedule.first_after(now)
    return occurrence if schedule.exists(occurrence) else None


def plan_firing(
    schedule: Schedule, *, next_occurrence: int, runs: int, now: dt.datetime, started: bool = True
) -> Firing | None:
    """What firing the timer at `now` does, or None when its next occurrence is not due yet. `runs` is how
    many occurrences started something so far; `started` says whether this firing will (an occurrence that
    starts nothing does not count towards an `iterations` end)."""
    if schedule.due(next_occurrence) > now:
        return None
    occurrence = max(next_occurrence, schedule.latest_due(now) or 0)
    last = schedule.last_by_time
    if last is not None:
        occurrence = min(occurrence, last)
    following: int | None = occurrence + 1
    total = runs + (1 if started else 0)
    if (
        schedule.kind == ONCE
        or (schedule.end_count is not None and total >= schedule.end_count)
        or not schedule.exists(occurrence + 1)
    ):
        following = None
    return Firing(
        occurrence=occurrence,
        due_at=schedule.due(occurrence),
        missed=occurrence - next_occurrence,
        next_occurrence=following,
        next_run=schedule.due(following) if following is not None else None,
    )
