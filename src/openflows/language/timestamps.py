"""RFC 3339 timestamps for Choice `Timestamp*` rules and Wait `Timestamp`/`TimestampPath` (spec §3.3, §3.4).

The parser is strict, following the ASL profile of RFC 3339:
`YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`, with an uppercase `T` and `Z`, and a time zone that is
always present. Comparisons are on instants, with every fractional digit kept (`Instant` is an exact rational
number of seconds since the epoch), so `2024-01-01T00:00:00Z` equals `2024-01-01T01:00:00+01:00`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from fractions import Fraction

#: An exact instant: seconds since 1970-01-01T00:00:00Z.
Instant = Fraction

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_timestamp(text: object) -> Instant | None:
    """Return the instant `text` names, or None when it is not a string or not a valid RFC 3339 timestamp."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        # the constructor checks the ranges (month 1-12, day within the month, hour < 24, second < 60)
        dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    offset = 0
    if m.group(8) is None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * 60 * (1 if m.group(9) == "+" else -1)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    fraction = m.group(7)
    return Fraction(seconds) + (Fraction(int(fraction), 10 ** len(fraction)) if fraction else 0)


def is_timestamp(value: object) -> bool:
    """True when `value` is a string holding a valid RFC 3339 timestamp."""
    return parse_timestamp(value) is not None


def instant_to_datetime(instant: Instant) -> dt.datetime:
    """The UTC datetime of an instant (sub-microsecond digits are truncated)."""
    whole = instant.numerator // instant.denominator
    micros = int((instant - whole) * 1_000_000)
    return _EPOCH + dt.timedelta(seconds=whole, microseconds=micros)
