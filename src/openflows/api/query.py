"""Query-string grammar of the Flows API (spec flows-api.md §1, §9, §10): each parameter is parsed here, and
the same grammar is what `/openapi.json` states, so the document describes exactly what the server accepts.

- list values arrive repeated (`orderby=a&orderby=b`) or comma-joined (`orderby=a DESC,b ASC`); both are
  split, blanks (space, tab) around an item are ignored, and empty items are dropped, so an empty value
  (`filter_roles=`) means "no filter";
- role names are accepted singular, plural or in their legacy spellings (`flow_viewer`, `flow_viewers`,
  `visible_to`), in any letter case;
- `orderby` items are `FIELD` or `FIELD ASC|DESC` (spaces, tabs, `+` or `:` between), in any letter case;
- statuses are in any letter case; flow ids are UUIDs (8-4-4-4-12 hex digits);
- time ranges are `"DT1,DT2"` with either side optional: a date (`2024-05-01`) or a date and time
  (`2024-05-01T10:00[:00[.ffffff]]`, `T`, `t` or a space between) with an optional `Z` or `±HH:MM` offset; a
  time without an offset is UTC;
- booleans are Python-style (`True`/`False`, also 1/0, yes/no, on/off, t/f, y/n; any letter case) and integers
  are plain decimal numbers (`QueryBool`, `QueryInt`: FastAPI checks them and documents their types).

Each grammar is a regular expression in the subset shared by Python and ECMA-262 (the dialect of OpenAPI
`pattern`): character classes instead of `\\s`, `\\d` or flags, which the two dialects read differently. The
patterns are unambiguous (linear to match even with backtracking), and the server matches only the item
patterns, on items of a bounded query string. Every problem raises `Unprocessable` with a `loc` of
`["query", name]`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from ..shared import roles
from .errors import Unprocessable, problem

#: blanks allowed around a list item (nothing else: Python's and ECMA's `\s` differ)
BLANKS = " \t"
_BLANK = "[ \\t]*"
#: separators between an `orderby` field and its direction
_ORDER_SEPARATORS = "[ \\t+:]"

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_INTEGER = re.compile("[+-]?[0-9]+")


def _bad(name: str, msg: str, type_: str = "value_error") -> Unprocessable:
    return Unprocessable([problem(["query", name], msg, type_)], where="query")


# --- building the grammars ----------------------------------------------------------------------------------


def case_insensitive(word: str) -> str:
    """A regex matching `word` (ASCII letters, digits, `_`, ` `) in any letter case."""
    out = []
    for char in word:
        if char.isascii() and char.isalpha():
            out.append(f"[{char.upper()}{char.lower()}]")
        elif char.isascii() and (char.isdigit() or char in "_ "):
            out.append(char)
        else:
            raise ValueError(f"unsupported character {char!r} in {word!r}")
    return "".join(out)


def one_of(words: Iterable[str]) -> str:
    """A regex group matching any of `words`, in any letter case.

    The words are merged into a trie (`flow_owner|flow_owners|flow_viewer` -> `flow_(?:owner(?:s)?|viewer)`):
    each branch starts with a different character, so the pattern is deterministic (linear to match) and
    short enough for the documents that embed it: a registered API's input schema accepts patterns of at most
    1000 characters (language/schema_check.py), and OpenFlows' own operations must fit (issue 15)."""
    trie: dict[str, Any] = {}
    for word in set(words):
        case_insensitive(word)  # refuses unsupported characters
        node = trie
        for char in word.lower():
            node = node.setdefault(char, {})
        node[""] = {}  # the end of a word
    return "(?:" + _trie_pattern(trie) + ")"


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [case_insensitive(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def comma_list(item: str) -> str:
    """The anchored pattern of one query value: `item`s separated by commas, blanks and empty items allowed.

    Each item is preceded by the start of the value or by a comma (`(?:^|,)`), so `item` is written once and
    the pattern stays short. `item` must neither start nor end with a blank: then every blank has exactly one
    place in a match, and a backtracking engine (a client's, or Python's) takes linear time on any input,
    matching or not (only a leading comma has two readings: an empty first item, or none)."""
    return f"^(?:(?:^|,){_BLANK}(?:(?:{item}){_BLANK})?)*$"


def list_items_schema(item: str, *, enum: Sequence[str] = ()) -> dict[str, Any]:
    """The `items` schema of an array query parameter whose values are comma lists of `item`. `enum` names
    the canonical single values (for people and client generators); the pattern is the whole rule."""
    pattern = {"pattern": comma_list(item)}
    if not enum:
        return {"type": "string", **pattern}
    return {"type": "string", "anyOf": [{"enum": list(enum)}, pattern]}


_HEX = "[0-9A-Fa-f]"
#: a UUID as the hosted service prints them (any letter case)
UUID_ITEM = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
# a calendar date 0001-01-01..9999-12-31 that exists (29 February only in leap years)
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_DAY = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29"
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_DAY})"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#: one side of a time range
DATETIME = f"{_DATE}(?:[Tt ]{_TIME}{_OFFSET}?)?"
#: a whole time range value (linear to match, as `comma_list`)
TIME_RANGE_PATTERN = f"^{_BLANK}(?:(?:{DATETIME}){_BLANK})?(?:,{_BLANK}(?:(?:{DATETIME}){_BLANK})?)?$"
_DATETIME_RE = re.compile(DATETIME)


def role_item(allowed: Sequence[str]) -> str:
    """The regex of one role name whose meaning is in `allowed` (singular, plural or legacy, any case)."""
    return one_of(role_names(allowed))


def role_names(allowed: Sequence[str]) -> list[str]:
    return [name for name in roles.role_spellings() if roles.normalize_role(name) in allowed]


def orderby_item(fields: Iterable[str]) -> str:
    """The regex of one `orderby` item over `fields`: `FIELD`, or `FIELD`, separators and `ASC` or `DESC`."""
    return f"{one_of(fields)}(?:{_ORDER_SEPARATORS}+{one_of(('ASC', 'DESC'))})?"


def orderby_enum(fields: Iterable[str]) -> list[str]:
    return [item for field in fields for item in (field, f"{field} ASC", f"{field} DESC")]


# --- scalar parameters --------------------------------------------------------------------------------------


def _query_bool(value: Any) -> Any:
    """Python-style booleans (what OpenAPI tools and the schemathesis wire rules expect of `boolean`)."""
    if isinstance(value, str):
        lowered = value.lower() if value.isascii() else value
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise PydanticCustomError(
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret {value}",
            {"value": value[:64]},
        )
    return value


def _query_int(value: Any) -> Any:
    """Plain decimal integers only (pydantic alone would also take ' 5', '5.0' and '1_0')."""
    if isinstance(value, str):
        if _INTEGER.fullmatch(value) is None:
            raise PydanticCustomError("int_parsing", "Input should be a valid integer")
        try:
            return int(value)
        except ValueError:  # more digits than Python converts
            raise PydanticCustomError("int_parsing", "Input should be a valid integer") from None
    return value


#: a boolean query parameter: `name: Annotated[QueryBool, Query(...)] = False`
QueryBool = Annotated[bool, BeforeValidator(_query_bool)]
#: the parser of an integer query parameter: `name: Annotated[int, Query(ge=1, le=100), QUERY_INT] = 20`
#: (after the `Query`, so that FastAPI documents its bounds as `minimum`/`maximum`)
QUERY_INT = BeforeValidator(_query_int)


# --- list parameters ----------------------------------------------------------------------------------------


def split_values(values: str | Iterable[str] | None) -> list[str]:
    """Flatten repeated and comma-joined values; strip blanks; drop empty items."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out.extend(item.strip(BLANKS) for item in value.split(",") if item.strip(BLANKS))
    return out


def parse_roles(values: str | Iterable[str] | None, *, name: str, allowed: Sequence[str]) -> list[str]:
    """Singular role names from singular/plural/legacy spellings; unknown names are a 422."""
    item_re = re.compile(role_item(allowed))
    out: list[str] = []
    for item in split_values(values):
        role = roles.normalize_role(item) if item_re.fullmatch(item) else None
        if role is None or role not in allowed:
            raise _bad(name, f"Unknown role {item[:64]!r}; expected one of: {', '.join(allowed)}", "enum")
        if role not in out:
            out.append(role)
    return out


def parse_enum(
    values: str | Iterable[str] | None, *, name: str, allowed: dict[str, str], what: str
) -> list[str]:
    """Canonical values (`allowed` maps accepted spellings, compared lower-case) of a list parameter; an
    unknown one is a 422 naming `what` is expected."""
    out: list[str] = []
    for item in split_values(values):
        value = allowed.get(item.lower())
        if value is None:
            raise _bad(name, f"Unknown value {item[:64]!r}; expected {what}", "enum")
        if value not in out:
            out.append(value)
    return out


_ORDER_SPLIT = re.compile(f"{_ORDER_SEPARATORS}+")


def parse_orderby(
    values: str | Iterable[str] | None, *, allowed: dict[str, str], name: str = "orderby"
) -> list[tuple[str, bool]]:
    """`[(column, descending)]` from `orderby` items; `allowed` maps accepted field names to columns."""
    item_re = re.compile(orderby_item(allowed))
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for item in split_values(values):
        if item_re.fullmatch(item) is None:
            raise _bad(
                name,
                f"Invalid orderby item {item[:64]!r}; use 'FIELD', 'FIELD ASC' or 'FIELD DESC' with FIELD "
                f"one of: {', '.join(sorted(allowed))}",
                "enum",
            )
        parts = _ORDER_SPLIT.split(item)
        column = allowed[parts[0].lower()]
        descending = len(parts) == 2 and parts[1].upper() == "DESC"
        if column not in seen:
            seen.add(column)
            out.append((column, descending))
    return out


def parse_uuids(values: str | Iterable[str] | None, *, name: str, maximum: int = 100) -> list[uuid.UUID]:
    item_re = re.compile(UUID_ITEM)
    out: list[uuid.UUID] = []
    for item in split_values(values):
        if item_re.fullmatch(item) is None:
            raise _bad(name, f"Invalid UUID {item[:64]!r}", "uuid_parsing")
        out.append(uuid.UUID(item))
    if len(out) > maximum:
        raise _bad(name, f"At most {maximum} values are allowed")
    return list(dict.fromkeys(out))


def parse_statuses(values: str | Iterable[str] | None, *, name: str, allowed: Sequence[str]) -> list[str]:
    item_re = re.compile(one_of(allowed))
    out: list[str] = []
    for item in split_values(values):
        if item_re.fullmatch(item) is None:
            raise _bad(name, f"Unknown status {item[:32]!r}; expected one of: {', '.join(allowed)}", "enum")
        status = item.upper()
        if status not in out:
            out.append(status)
    return out


# --- time ranges --------------------------------------------------------------------------------------------


def parse_datetime(value: str, *, name: str) -> dt.datetime:
    """One side of a time range, in UTC. A time beyond the range Python represents in UTC (0001-01-01T00:00
    at +01:00) is clamped to the first or last representable instant: no stored time lies beyond either."""
    if _DATETIME_RE.fullmatch(value) is None:
        raise _bad(name, f"Invalid ISO 8601 date-time {value[:64]!r}", "datetime_parsing")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.min if parsed.year == dt.MINYEAR else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)


def parse_time_range(value: str | None, *, name: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`"DT1,DT2"` -> (start, end): start inclusive, end exclusive; either side may be empty."""
    if value is None:
        return (None, None)
    parts = value.split(",")
    if len(parts) > 2:
        raise _bad(name, "Expected 'START,END' with at most one comma")
    start_text = parts[0].strip(BLANKS)
    end_text = parts[1].strip(BLANKS) if len(parts) == 2 else ""
    start = parse_datetime(start_text, name=name) if start_text else None
    end = parse_datetime(end_text, name=name) if end_text else None
    return (start, end)
