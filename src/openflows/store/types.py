"""Portable column types: timezone-aware UTC timestamps and JSON (JSONB on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: JSON everywhere, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC instants; always returns timezone-aware UTC datetimes (SQLite drops the zone).

    Naive datetimes are rejected on the way in: every time in OpenFlows is aware UTC (DESIGN invariant 7).
    On SQLite the value is stored as naive UTC text, so lexicographic order equals time order.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def dumps_json(value: Any) -> str:
    """JSON text of a column value: orjson (compact, UTF-8; several times faster than `json.dumps` on the run
    states and log details the executor writes), or `json.dumps` for what orjson refuses (integers beyond
    64 bits, which expressions may produce; non-string keys). Reading stays with `json.loads`, which keeps
    big integers exact. NaN and Infinity, which JSON cannot spell and the API refuses, are written as null."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
