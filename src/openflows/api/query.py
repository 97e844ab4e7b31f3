"""Query-string quirks of the Flows API (spec flows-api.md §1, §9, §10), parsed once here.

- list values arrive repeated (`orderby=a&orderby=b`) or comma-joined (`orderby=a DESC,b ASC`); both
  are split;
- an empty value (`filter_roles=`) means "no filter";
- booleans are Python-style (`True`/`False`) and parsed case-insensitively (also 1/0, yes/no);
- role names are accepted singular or plural (`flow_viewer` / `flow_viewers`);
- `orderby` items are `FIELD`, `FIELD ASC|DESC` (space, `+` or `:` between);
- time ranges are `"DT1,DT2"` with either side optional (ISO 8601; a naive time is UTC).

Every problem raises `Unprocessable` with a `loc` of `["query", name]`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence

from ..auth import roles
from .errors import Unprocessable, problem

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _bad(name: str, msg: str, type_: str = "value_error") -> Unprocessable:
    return Unprocessable([problem(["query", name], msg, type_)], where="query")


def split_values(values: str | Iterable[str] | None) -> list[str]:
    """Flatten repeated and comma-joined values; drop empty items."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out.extend(item.strip() for item in value.split(",") if item.strip())
    return out


def parse_bool(value: str | None, *, name: str, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _bad(name, f"Input should be a valid boolean, unable to interpret {value[:64]!r}", "bool_parsing")


def parse_int(value: str | None, *, name: str, default: int, minimum: int, maximum: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise _bad(name, "Input should be a valid integer", "int_parsing") from None
    if not minimum <= number <= maximum:
        raise _bad(name, f"Input should be between {minimum} and {maximum}", "value_error")
    return number


def parse_roles(values: str | Iterable[str] | None, *, name: str, allowed: Sequence[str]) -> list[str]:
    """Singular role names from singular/plural spellings; unknown names are a 422."""
    out: list[str] = []
    for item in split_values(values):
        role = roles.normalize_role(item)
        if role is None or role not in allowed:
            raise _bad(name, f"Unknown role {item[:64]!r}; expected one of: {', '.join(allowed)}", "enum")
        if role not in out:
            out.append(role)
    return out


_ORDER_SPLIT = re.compile(r"[\s+:]+")


def parse_orderby(
    values: str | Iterable[str] | None, *, allowed: dict[str, str], name: str = "orderby"
) -> list[tuple[str, bool]]:
    """`[(column, descending)]` from `orderby` items; `allowed` maps accepted field names to columns."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for item in split_values(values):
        parts = [p for p in _ORDER_SPLIT.split(item.strip()) if p]
        if not parts or len(parts) > 2:
            raise _bad(name, f"Invalid orderby item {item[:64]!r}; use 'FIELD ASC' or 'FIELD DESC'")
        field = parts[0].lower()
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if field not in allowed:
            raise _bad(
                name, f"Cannot order by {parts[0][:64]!r}; fields: {', '.join(sorted(allowed))}", "enum"
            )
        if direction not in ("ASC", "DESC"):
            raise _bad(name, f"Invalid ordering {parts[1][:16]!r}; use ASC or DESC", "enum")
        column = allowed[field]
        if column not in seen:
            seen.add(column)
            out.append((column, direction == "DESC"))
    return out


def parse_datetime(value: str, *, name: str) -> dt.datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _bad(name, f"Invalid ISO 8601 date-time {value[:64]!r}", "datetime_parsing") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_time_range(value: str | None, *, name: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`"DT1,DT2"` -> (start, end): start inclusive, end exclusive; either side may be empty."""
    if value is None or value.strip() in ("", ","):
        return (None, None)
    parts = value.split(",")
    if len(parts) > 2:
        raise _bad(name, "Expected 'START,END' with at most one comma")
    start_text = parts[0].strip()
    end_text = parts[1].strip() if len(parts) == 2 else ""
    start = parse_datetime(start_text, name=name) if start_text else None
    end = parse_datetime(end_text, name=name) if end_text else None
    return (start, end)


def parse_uuids(values: str | Iterable[str] | None, *, name: str, maximum: int = 100) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for item in split_values(values):
        try:
            out.append(uuid.UUID(item))
        except ValueError:
            raise _bad(name, f"Invalid UUID {item[:64]!r}", "uuid_parsing") from None
    if len(out) > maximum:
        raise _bad(name, f"At most {maximum} values are allowed")
    return list(dict.fromkeys(out))


def parse_statuses(values: str | Iterable[str] | None, *, name: str, allowed: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in split_values(values):
        status = item.upper()
        if status not in allowed:
            raise _bad(name, f"Unknown status {item[:32]!r}; expected one of: {', '.join(allowed)}", "enum")
        if status not in out:
            out.append(status)
    return out
