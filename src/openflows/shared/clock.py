"""Injectable time: the executor and the built-in providers read `now()` from a clock, never from `datetime`.

`SystemClock` is the real UTC clock. `FakeClock` is set and advanced by tests, so Wait states, poll back-offs
and `sleep_time` are tested without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock (timezone-aware UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FakeClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> dt.datetime:
        """Move forward by `seconds`; return the new time."""
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to `when` (must be aware UTC and not in the past of this clock)."""
        with self._lock:
            if when < self._now:
                raise ValueError("a FakeClock never goes backwards")
            self._now = when
