"""Choice rules: every operator true/false/mismatch, Path variants, And/Or/Not, missing variables."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openflows.language.choice import OPERATORS, RuleError, compile_string_pattern, parse_rule
from openflows.language.errors import StatesError

DOC = {
    "s": "banana",
    "n": 5,
    "f": 2.5,
    "b": True,
    "z": None,
    "t": "2024-06-01T12:00:00Z",
    "t_plus": "2024-06-01T14:00:00+02:00",
    "later": "2024-06-02T00:00:00Z",
    "other_s": "cherry",
    "other_n": 5.0,
    "list": [1, 2],
    "obj": {"k": "v"},
    "star": "a*b",
    "bs": "a\\b",
}


def check(rule: dict[str, Any], doc: Any = DOC) -> bool:
    return parse_rule(rule).evaluate(doc, {"run_id": "r-1"})


@pytest.mark.parametrize(
    ("op", "var", "operand", "expected"),
    [
        ("StringEquals", "$.s", "banana", True),
        ("StringEquals", "$.s", "Banana", False),
        ("StringEquals", "$.n", "5", False),  # mismatch
        ("StringLessThan", "$.s", "cherry", True),
        ("StringLessThan", "$.s", "apple", False),
        ("StringLessThan", "$.n", "z", False),
        ("StringGreaterThan", "$.s", "apple", True),
        ("StringGreaterThan", "$.s", "banana", False),
        ("StringLessThanEquals", "$.s", "banana", True),
        ("StringLessThanEquals", "$.s", "b", False),
        ("StringGreaterThanEquals", "$.s", "banana", True),
        ("StringGreaterThanEquals", "$.s", "c", False),
        ("NumericEquals", "$.n", 5, True),
        ("NumericEquals", "$.n", 5.0, True),
        ("NumericEquals", "$.n", 6, False),
        ("NumericEquals", "$.s", 5, False),
        ("NumericEquals", "$.b", 1, False),  # a boolean is not a number
        ("NumericLessThan", "$.f", 3, True),
        ("NumericLessThan", "$.f", 2, False),
        ("NumericGreaterThan", "$.n", 4.5, True),
        ("NumericGreaterThan", "$.n", 5, False),
        ("NumericLessThanEquals", "$.n", 5, True),
        ("NumericLessThanEquals", "$.n", 4, False),
        ("NumericGreaterThanEquals", "$.n", 5, True),
        ("NumericGreaterThanEquals", "$.n", 6, False),
        ("BooleanEquals", "$.b", True, True),
        ("BooleanEquals", "$.b", False, False),
        ("BooleanEquals", "$.n", True, False),
        ("TimestampEquals", "$.t", "2024-06-01T12:00:00Z", True),
        ("TimestampEquals", "$.t_plus", "2024-06-01T12:00:00Z", True),  # same instant
        ("TimestampEquals", "$.later", "2024-06-01T12:00:00Z", False),
        ("TimestampEquals", "$.s", "2024-06-01T12:00:00Z", False),  # not a timestamp
        ("TimestampLessThan", "$.t", "2024-06-01T12:00:00.001Z", True),
        ("TimestampLessThan", "$.later", "2024-06-01T12:00:00Z", False),
        ("TimestampGreaterThan", "$.later", "2024-06-01T12:00:00Z", True),
        ("TimestampGreaterThan", "$.t", "2024-06-01T12:00:00Z", False),
        ("TimestampLessThanEquals", "$.t", "2024-06-01T12:00:00Z", True),
        ("TimestampLessThanEquals", "$.later", "2024-06-01T12:00:00Z", False),
        ("TimestampGreaterThanEquals", "$.t", "2024-06-01T12:00:00Z", True),
        ("TimestampGreaterThanEquals", "$.t", "2024-06-02T12:00:00Z", False),
    ],
)
def test_comparison(op: str, var: str, operand: Any, expected: bool) -> None:
    assert check({"Variable": var, op: operand}) is expected


@pytest.mark.parametrize(
    ("op", "var", "other", "expected"),
    [
        ("StringEqualsPath", "$.s", "$.s", True),
        ("StringEqualsPath", "$.s", "$.other_s", False),
        ("StringEqualsPath", "$.s", "$.n", False),  # operand of the wrong type
        ("StringLessThanPath", "$.s", "$.other_s", True),
        ("StringGreaterThanPath", "$.other_s", "$.s", True),
        ("StringLessThanEqualsPath", "$.other_s", "$.s", False),
        ("StringGreaterThanEqualsPath", "$.s", "$.s", True),
        ("NumericEqualsPath", "$.n", "$.other_n", True),
        ("NumericEqualsPath", "$.n", "$.b", False),
        ("NumericLessThanPath", "$.f", "$.n", True),
        ("NumericGreaterThanPath", "$.f", "$.n", False),
        ("NumericLessThanEqualsPath", "$.n", "$.other_n", True),
        ("NumericGreaterThanEqualsPath", "$.f", "$.n", False),
        ("BooleanEqualsPath", "$.b", "$.b", True),
        ("BooleanEqualsPath", "$.b", "$.n", False),
        ("TimestampEqualsPath", "$.t", "$.t_plus", True),
        ("TimestampLessThanPath", "$.t", "$.later", True),
        ("TimestampGreaterThanPath", "$.t", "$.later", False),
        ("TimestampLessThanEqualsPath", "$.t", "$.t_plus", True),
        ("TimestampGreaterThanEqualsPath", "$.later", "$.t", True),
        ("TimestampEqualsPath", "$.t", "$.s", False),
    ],
)
def test_path_comparison(op: str, var: str, other: str, expected: bool) -> None:
    assert check({"Variable": var, op: other}) is expected


def test_every_operator_has_a_case() -> None:
    import inspect

    source = inspect.getsource(inspect.getmodule(test_comparison))  # type: ignore[arg-type]
    missing = [op for op in OPERATORS if f'"{op}"' not in source]
    assert missing == []


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("banana", "banana", True),
        ("ban*", "banana", True),
        ("*ana", "banana", True),
        ("b*n*a", "banana", True),
        ("*", "", True),
        ("ban", "banana", False),
        ("*x*", "banana", False),
        ("a\\*b", "a*b", True),  # \* is a literal star
        ("a\\*b", "axb", False),
        ("a?b", "axb", False),  # ? is literal (not fnmatch)
        ("a?b", "a?b", True),
        ("[ab]", "a", False),  # [ is literal
        ("[ab]", "[ab]", True),
        ("a\\\\b", "a\\b", True),  # \\ is a literal backslash
        ("line*", "line1\nline2", True),
        ("a.c", "abc", False),
    ],
)
def test_string_matches(pattern: str, value: str, expected: bool) -> None:
    assert check({"Variable": "$.v", "StringMatches": pattern}, {"v": value}) is expected


def test_string_matches_mismatch() -> None:
    assert check({"Variable": "$.n", "StringMatches": "*"}) is False
    assert compile_string_pattern("a*").fullmatch("abc")


def _reference_regex(pattern: str) -> re.Pattern[str]:
    """The previous implementation (a Python regex): right, but it backtracks; used here as the oracle."""
    parts, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if pattern[i] == "*" else re.escape(pattern[i]))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet="ab*\\?\n", max_size=12),
    st.text(alphabet="ab*\\?\n", max_size=16),
)
def test_string_matches_agrees_with_the_regex_semantics(pattern: str, value: str) -> None:
    expected = _reference_regex(pattern).fullmatch(value) is not None
    assert compile_string_pattern(pattern).fullmatch(value) is expected, (pattern, value)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("*a*a*a*a*a*a*b", "a" * 84),  # 5.5 s with the regex (grows ~n^7)
        ("*a*a*a*a*a*a*b", "a" * 200_000),
        ("*" + "a*" * 500 + "b*", "a" * 200_000),
        ("*" + ("a" * 50 + "b*") * 3, "a" * 200_000),
        ("*" + "ab*" * 300 + "c", "ab" * 100_000),
    ],
    ids=["issue-84", "200k", "500-stars", "long-pieces", "300-pieces"],
)
def test_string_matches_is_fast_on_hostile_patterns(pattern: str, value: str) -> None:
    rule = parse_rule({"Variable": "$.v", "StringMatches": pattern})
    start = time.thread_time()  # CPU time: a loaded CI machine may pause the thread, it cannot add work
    assert rule.evaluate({"v": value}, None) is False
    elapsed = time.thread_time() - start
    assert elapsed < 0.05, f"StringMatches {pattern[:20]!r} on {len(value)} characters took {elapsed:.3f}s"


@pytest.mark.parametrize(
    ("op", "var", "true_for"),
    [
        ("IsNull", "$.z", True),
        ("IsNull", "$.s", False),
        ("IsNumeric", "$.n", True),
        ("IsNumeric", "$.f", True),
        ("IsNumeric", "$.b", False),
        ("IsNumeric", "$.s", False),
        ("IsString", "$.s", True),
        ("IsString", "$.n", False),
        ("IsBoolean", "$.b", True),
        ("IsBoolean", "$.n", False),
        ("IsTimestamp", "$.t", True),
        ("IsTimestamp", "$.s", False),
        ("IsTimestamp", "$.n", False),
        ("IsPresent", "$.z", True),
        ("IsPresent", "$.missing", False),
        ("IsPresent", "$.obj.k", True),
        ("IsPresent", "$.obj.nope", False),
        ("IsPresent", "$.list[5]", False),
    ],
)
def test_type_tests(op: str, var: str, true_for: bool) -> None:
    assert check({"Variable": var, op: True}) is true_for
    assert check({"Variable": var, op: False}) is (not true_for)


@pytest.mark.parametrize("op", ["StringEquals", "NumericEquals", "IsNull", "IsString", "StringMatches"])
def test_missing_variable_is_a_runtime_error(op: str) -> None:
    operand = True if op.startswith("Is") else ("x" if op.startswith("String") else 1)
    with pytest.raises(StatesError) as info:
        check({"Variable": "$.missing", op: operand})
    assert info.value.failure.error == "States.Runtime"
    assert "'$.missing'" in info.value.failure.cause


def test_missing_operand_path_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as info:
        check({"Variable": "$.s", "StringEqualsPath": "$.nope"})
    assert info.value.failure.error == "States.Runtime"
    assert "StringEqualsPath" in info.value.failure.cause


def test_boolean_combinators() -> None:
    yes = {"Variable": "$.n", "NumericEquals": 5}
    no = {"Variable": "$.n", "NumericEquals": 6}
    assert check({"And": [yes, yes]}) is True
    assert check({"And": [yes, no]}) is False
    assert check({"Or": [no, yes]}) is True
    assert check({"Or": [no, no]}) is False
    assert check({"Not": no}) is True
    assert check({"Not": yes}) is False
    assert check({"And": [{"Not": no}, {"Or": [no, yes]}]}) is True


def test_and_short_circuits_like_gladier_guards() -> None:
    guarded = {
        "And": [
            {"Variable": "$.input.flag", "IsPresent": True},
            {"Variable": "$.input.flag", "BooleanEquals": True},
        ]
    }
    assert check(guarded, {"input": {}}) is False
    assert check(guarded, {"input": {"flag": True}}) is True


def test_context_variable() -> None:
    assert check({"Variable": "$._context.run_id", "StringEquals": "r-1"}) is True


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.n"},
        {"Variable": "$.n", "NumericEquals": 1, "StringEquals": "x"},
        {"NumericEquals": 1},
        {"Variable": "$.n", "NumericEquals": "1"},
        {"Variable": "$.t", "TimestampEquals": "yesterday"},
        {"Variable": "$.b", "IsNull": "yes"},
    ],
)
def test_malformed_rules(rule: dict[str, Any]) -> None:
    with pytest.raises(RuleError):
        parse_rule(rule)
