"""Timer schedules, pure: parsing the SDK's and the CLI's documents, the occurrence grid, and what a firing
at a given instant does (late firings, ends by count and by time, resuming)."""

from __future__ import annotations

import datetime as dt

import pytest

from openflows.engine.schedules import (
    Firing,
    Schedule,
    ScheduleError,
    first_occurrence,
    from_document,
    parse_schedule,
    plan_firing,
    resume_occurrence,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def recurring(interval: int = 60, **end: object) -> Schedule:
    document: dict[str, object] = {"type": "recurring", "interval_seconds": interval, "start": T0.isoformat()}
    if end:
        document["end"] = end
    return parse_schedule(document, now=T0, min_interval_seconds=1)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        ({"condition": "iterations", "count": 3}, {"condition": "iterations", "count": 3}),  # the CLI
        ({"condition": "iterations", "iterations": 3}, {"condition": "iterations", "count": 3}),  # SDK docs
        ({"count": 3}, {"condition": "iterations", "count": 3}),  # the SDK's fixture
        (
            {"condition": "time", "datetime": "2026-03-02T00:00:00Z"},
            {"condition": "time", "datetime": "2026-03-02T00:00:00+00:00"},
        ),
    ],
)
def test_end_conditions_in_every_spelling(end: dict[str, object], expected: dict[str, object]) -> None:
    schedule = parse_schedule(
        {"type": "recurring", "interval_seconds": 60, "end": end}, now=T0, min_interval_seconds=60
    )
    assert schedule.document() == {
        "type": "recurring",
        "interval_seconds": 60,
        "start": T0.isoformat(),
        "end": expected,
    }
    assert from_document(schedule.document()) == schedule


def test_defaults_and_time_zones() -> None:
    assert parse_schedule({"type": "once"}, now=T0, min_interval_seconds=60).document() == {
        "type": "once",
        "datetime": T0.isoformat(),
    }
    local = parse_schedule(
        {"type": "once", "datetime": "2026-03-01T14:00:00+02:00"}, now=T0, min_interval_seconds=60
    )
    assert local.start == T0  # shown in UTC
    naive = parse_schedule(
        {"type": "once", "datetime": "2026-03-01T12:00:00"}, now=T0, min_interval_seconds=60
    )
    assert naive.start == T0  # no zone: UTC


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ([], ()),
        ({"type": "cron"}, ("type",)),
        ({"type": "recurring"}, ("interval_seconds",)),
        ({"type": "recurring", "interval_seconds": 59}, ("interval_seconds",)),
        ({"type": "recurring", "interval_seconds": True}, ("interval_seconds",)),
        ({"type": "recurring", "interval_seconds": 60.5}, ("interval_seconds",)),
        ({"type": "recurring", "interval_seconds": 60, "start": 5}, ("start",)),
        ({"type": "recurring", "interval_seconds": 60, "end": []}, ("end",)),
        ({"type": "recurring", "interval_seconds": 60, "end": {"condition": "iterations"}}, ("end", "count")),
        ({"type": "once", "datetime": "9999-12-31T23:59:59-05:00"}, ("datetime",)),
        ({"type": "once", "datetime": "9999-12-31T00:00:00Z"}, ("datetime",)),
    ],
)
def test_refusals_name_the_field(document: object, loc: tuple[str, ...]) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(document, now=T0, min_interval_seconds=60)
    assert refused.value.loc == loc


def test_firings_on_time() -> None:
    schedule = recurring(60, condition="iterations", count=3)
    assert first_occurrence(schedule, now=T0) == 0
    assert plan_firing(schedule, next_occurrence=0, runs=0, now=at(-1)) is None
    assert plan_firing(schedule, next_occurrence=0, runs=0, now=T0) == Firing(
        occurrence=0, due_at=T0, missed=0, next_occurrence=1, next_run=at(60)
    )
    assert plan_firing(schedule, next_occurrence=1, runs=1, now=at(60.3)) == Firing(
        occurrence=1, due_at=at(60), missed=0, next_occurrence=2, next_run=at(120)
    )
    last = plan_firing(schedule, next_occurrence=2, runs=2, now=at(120))
    assert last is not None and (last.next_occurrence, last.next_run) == (None, None)


def test_a_late_firing_fires_once_for_the_latest_occurrence() -> None:
    schedule = recurring(60, condition="iterations", count=3)
    late = plan_firing(schedule, next_occurrence=1, runs=1, now=at(60 * 7 + 10))
    assert late == Firing(occurrence=7, due_at=at(420), missed=6, next_occurrence=8, next_run=at(480))
    # an occurrence that starts nothing does not count towards the end
    failed = plan_firing(schedule, next_occurrence=1, runs=2, now=at(60), started=False)
    assert failed is not None and failed.next_occurrence == 2


def test_the_end_time_caps_a_late_firing() -> None:
    schedule = recurring(60, condition="time", datetime=at(150).isoformat())
    assert schedule.last_by_time == 2
    late = plan_firing(schedule, next_occurrence=0, runs=0, now=at(1000))
    assert late == Firing(occurrence=2, due_at=at(120), missed=2, next_occurrence=None, next_run=None)
    assert first_occurrence(schedule, now=at(1000)) == 2
    assert first_occurrence(recurring(60, condition="time", datetime=T0.isoformat()), now=at(5)) == 0


def test_creating_with_a_past_start() -> None:
    assert first_occurrence(recurring(60), now=at(150)) == 2  # due at once, then on the grid
    once = parse_schedule({"type": "once", "datetime": at(-30).isoformat()}, now=T0, min_interval_seconds=60)
    assert first_occurrence(once, now=T0) == 0


def test_resuming_waits_for_the_next_occurrence() -> None:
    assert resume_occurrence(recurring(60), now=at(150), runs=1) == 3
    assert resume_occurrence(recurring(60, condition="iterations", count=2), now=at(150), runs=2) is None
    assert (
        resume_occurrence(recurring(60, condition="time", datetime=at(150).isoformat()), now=at(130), runs=1)
        is None
    )
    once = parse_schedule({"type": "once", "datetime": at(-30).isoformat()}, now=T0, min_interval_seconds=60)
    assert resume_occurrence(once, now=T0, runs=0) == 0  # a once timer that never ran fires at once
    assert resume_occurrence(once, now=T0, runs=1) is None
