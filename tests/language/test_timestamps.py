"""RFC 3339 timestamps: the strict parser and exact instants."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from openflows.language.timestamps import instant_to_datetime, is_timestamp, parse_timestamp


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00Z",
        "2024-02-29T23:59:59Z",
        "2024-01-01T00:00:00.5Z",
        "2024-01-01T00:00:00.123456789+05:30",
        "1999-12-31T23:59:59-00:00",
    ],
)
def test_valid_timestamps(text: str) -> None:
    assert is_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01",
        "2024-01-01T00:00:00",  # no time zone
        "2024-01-01 00:00:00Z",
        "2024-01-01t00:00:00z",  # ASL wants an uppercase T and Z
        "2023-02-29T00:00:00Z",  # not a leap year
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0100",
        " 2024-01-01T00:00:00Z",
        20240101,
        None,
    ],
)
def test_invalid_timestamps(text: object) -> None:
    assert parse_timestamp(text) is None
    assert not is_timestamp(text)


def test_offsets_name_the_same_instant() -> None:
    assert parse_timestamp("2024-01-01T00:00:00Z") == parse_timestamp("2024-01-01T01:00:00+01:00")
    assert parse_timestamp("2024-01-01T00:00:00Z") == parse_timestamp("2023-12-31T19:00:00-05:00")
    assert parse_timestamp("2024-01-01T00:00:00Z") == Fraction(1704067200)


def test_fractions_are_exact() -> None:
    a = parse_timestamp("2024-01-01T00:00:00.1234567Z")
    b = parse_timestamp("2024-01-01T00:00:00.1234568Z")
    assert a is not None and b is not None and a < b
    assert parse_timestamp("2024-01-01T00:00:00.50Z") == parse_timestamp("2024-01-01T00:00:00.5Z")


def test_instant_to_datetime() -> None:
    instant = parse_timestamp("2024-01-01T01:02:03.25+01:00")
    assert instant is not None
    assert instant_to_datetime(instant) == dt.datetime(2024, 1, 1, 0, 2, 3, 250000, tzinfo=dt.UTC)
