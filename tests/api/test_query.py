"""The query and body grammars of `/openapi.json` are the ones the server applies (issue 12 §6): for every
documented pattern, the parser accepts a value exactly when the pattern matches it, as Python reads the
pattern and as the JSON Schema validator schemathesis uses (jsonschema-rs, ECMA-262 semantics) does."""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openflows.api import bodies, registered_apis
from openflows.api import query as q
from openflows.api.errors import Unprocessable
from openflows.api.flows import FILTER_ROLES, FLOW_ORDER_FIELDS
from openflows.api.runs import RUN_ORDER_FIELDS
from openflows.store import runs as store_runs

RUN_ROLES = ("run_owner", "run_manager", "run_monitor", "flow_run_manager", "flow_run_monitor")


def accepts(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            parse(value)
        except Unprocessable:
            return False
        return True

    return check


GRAMMARS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "filter_roles (flows)": (
        q.comma_list(q.role_item(FILTER_ROLES)),
        accepts(lambda v: q.parse_roles(v, name="r", allowed=FILTER_ROLES)),
    ),
    "filter_roles (runs)": (
        q.comma_list(q.role_item(RUN_ROLES)),
        accepts(lambda v: q.parse_roles(v, name="r", allowed=RUN_ROLES)),
    ),
    "orderby (flows)": (
        q.comma_list(q.orderby_item(FLOW_ORDER_FIELDS)),
        accepts(lambda v: q.parse_orderby(v, allowed=FLOW_ORDER_FIELDS)),
    ),
    "orderby (runs)": (
        q.comma_list(q.orderby_item(RUN_ORDER_FIELDS)),
        accepts(lambda v: q.parse_orderby(v, allowed=RUN_ORDER_FIELDS)),
    ),
    "filter_status": (
        q.comma_list(q.one_of(store_runs.STATUSES)),
        accepts(lambda v: q.parse_statuses(v, name="s", allowed=store_runs.STATUSES)),
    ),
    "filter_flow_id": (
        q.comma_list(q.UUID_ITEM),
        accepts(lambda v: q.parse_uuids(v, name="f", maximum=10**6)),
    ),
    "filter_start_time": (q.TIME_RANGE_PATTERN, accepts(lambda v: q.parse_time_range(v, name="t"))),
    "filter_roles (registered APIs)": (
        q.comma_list(registered_apis._ROLE_ITEM),
        accepts(registered_apis._parse_roles),
    ),
    "orderby (registered APIs)": (
        q.comma_list(registered_apis._ORDER_ITEM),
        accepts(lambda v: q.parse_orderby(v, allowed=registered_apis.ORDER_FIELDS)),
    ),
}

#: characters that make near misses: the grammars' own letters and punctuation, blanks the engines disagree on
NEAR = st.sampled_from(
    list(string.ascii_letters + string.digits + " \t+:,-_.TZ")
    + ["\n", "\x1c", "\x85", "\u00a0", "\u3000", "\ufeff", "\u212a", "\u017f", "\u0131", "\u0660"]
)


def mutated(pattern: str) -> st.SearchStrategy[str]:
    """Valid values with a character inserted, dropped or replaced, and plain near-miss text."""
    valid = st.from_regex(pattern, fullmatch=True)

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        value = draw(valid)
        index = draw(st.integers(0, len(value)))
        kind = draw(st.sampled_from(["insert", "drop", "replace"]))
        char = draw(NEAR)
        if kind == "insert" or not value:
            return value[:index] + char + value[index:]
        index = min(index, len(value) - 1)
        return value[:index] + ("" if kind == "drop" else char) + value[index + 1 :]

    return st.one_of(valid, mutate(), st.text(NEAR, max_size=40))


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_the_parser_accepts_what_the_documented_pattern_matches(name: str) -> None:
    pattern, parser_accepts = GRAMMARS[name]
    python = re.compile(pattern)
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value=mutated(pattern))
    def check(value: str) -> None:
        documented = ecma.is_valid(value)
        assert (python.fullmatch(value) is not None) == documented, (
            f"{name}: Python and ECMA differ on {value!r}"
        )
        assert parser_accepts(value) == documented, f"{name}: parser and pattern differ on {value!r}"

    check()


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-02-29,2025-01-01T10:00:00.5Z", True),
        ("2023-02-29,", False),
        ("0001-01-01T00:00+01:00,9999-12-31T23:59-01:00", True),  # beyond UTC's range: clamped
        ("2024-01-01T24:00,", False),
        ("2024-01-01T10,", False),
        (" , ", True),
        ("yesterday,", False),
    ],
)
def test_time_ranges(value: str, valid: bool) -> None:
    assert accepts(lambda v: q.parse_time_range(v, name="t"))(value) is valid
    assert (re.fullmatch(q.TIME_RANGE_PATTERN, value) is not None) is valid


def test_tag_blanks_are_pythons_whitespace_and_the_bom() -> None:
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert spaces + "\ufeff" == bodies.TAG_BLANKS


@settings(max_examples=300, deadline=None, database=None)
@given(tag=st.text(st.sampled_from(list(bodies.TAG_BLANKS) + ["a", "\u200b", "\x00"]), max_size=8))
def test_a_tag_is_empty_exactly_when_the_documented_pattern_fails(tag: str) -> None:
    ecma = jsonschema_rs.validator_for(bodies._TAG_SCHEMA)
    assert ecma.is_valid(tag) == bool(tag and bodies.normalize_tag(tag)), repr(tag)


@pytest.mark.parametrize(
    "value", ["urn:globus:auth:identity:3cea1b9d-7014-5973-917f-07f59ac45fff\n", "public\n"]
)
def test_principals_are_matched_whole(value: str) -> None:
    """Python's `$` also matches before a final newline; ECMA's does not, and neither does the server."""
    with pytest.raises(ValueError, match="Unrecognized principal string"):
        bodies.FlowCreate(title="t", definition={}, flow_viewers=[value])


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_patterns_fit_a_registered_api_and_match_in_linear_time(name: str) -> None:
    """Issue 15: OpenFlows' own operations register as APIs (gra), whose input schemas allow patterns of at
    most 1000 characters; and a long near miss is refused quickly by a backtracking engine."""
    import time

    from openflows.language.schema_check import MAX_PATTERN_LENGTH

    pattern, _ = GRAMMARS[name]
    assert len(pattern) <= MAX_PATTERN_LENGTH, (name, len(pattern))
    python = re.compile(pattern)
    for near_miss in (", " * 20_000 + "!", "a," * 20_000 + "\n", " \t" * 20_000 + "x"):
        started = time.perf_counter()
        assert python.fullmatch(near_miss) is None
        assert time.perf_counter() - started < 0.5, name
