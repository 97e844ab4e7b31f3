"""Choice rules (spec §3.3): comparisons, `And`/`Or`/`Not`, parsed once into small classes.

Semantics, following the Amazon States Language:
- A comparison reads the value at `Variable`. If the value is not of the operator's type, the comparison is
  false (not an error). Numeric operators reject booleans (`true` is not a number).
- `IsPresent` tests whether `Variable` exists. Every other operator on a missing `Variable` raises
  `States.Runtime`, as in ASL (Gladier guards with `And[IsPresent, ...]` for this reason).
- `...Path` operators compare against the value at a second path; if that path is missing: `States.Runtime`.
- `StringMatches`: `*` matches any run of characters (including none), `\\*` is a literal star and `\\\\` a
  literal backslash. Everything else is literal, including `?` and `[` (this is not fnmatch).
- `Timestamp*` operators compare instants of RFC 3339 strings (see timestamps.py); a string that is not a
  valid timestamp is a type mismatch.
- `Is*` tests take `true` or `false`; `false` negates the test.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PathNotFound, StatesError
from .paths import CompiledPath, compile_path
from .timestamps import parse_timestamp

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_string(value: object) -> Any:
    return value if isinstance(value, str) else None


def _as_number(value: object) -> Any:
    return value if _is_number(value) else None


def _as_boolean(value: object) -> Any:
    return value if isinstance(value, bool) else None


#: family name -> converter returning the comparable value, or None for a type mismatch
_FAMILIES: dict[str, Callable[[object], Any]] = {
    "String": _as_string,
    "Numeric": _as_number,
    "Boolean": _as_boolean,
    "Timestamp": parse_timestamp,
}

#: every comparison operator name (with and without `Path`) -> (family, comparison)
COMPARISON_OPERATORS: dict[str, tuple[str, str]] = {}
for _family in ("String", "Numeric", "Timestamp"):
    for _cmp in _COMPARE:
        COMPARISON_OPERATORS[_family + _cmp] = (_family, _cmp)
        COMPARISON_OPERATORS[_family + _cmp + "Path"] = (_family, _cmp)
COMPARISON_OPERATORS["BooleanEquals"] = ("Boolean", "Equals")
COMPARISON_OPERATORS["BooleanEqualsPath"] = ("Boolean", "Equals")

_TYPE_TESTS: dict[str, Callable[[object], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}

OPERATORS: frozenset[str] = frozenset([*COMPARISON_OPERATORS, *_TYPE_TESTS, "IsPresent", "StringMatches"])


@dataclass(frozen=True, slots=True)
class StringPattern:
    """A compiled `StringMatches` pattern: the literal pieces between its unescaped `*` wildcards.

    `fullmatch(text)` runs in O(len(text) * len(pattern)) at worst: the first piece must be a prefix, the
    last a suffix, and each middle piece is found with `str.find` after the previous one (taking the leftmost
    occurrence is always right when the only wildcard is `*`). No regular expression is involved, so no
    pattern can backtrack (a Python regex took seconds for `*a*a*a*a*a*a*b` on 84 `a`s).
    """

    pieces: tuple[str, ...]  # one more than the number of wildcards

    def fullmatch(self, text: str) -> bool:
        pieces = self.pieces
        first, last = pieces[0], pieces[-1]
        if len(pieces) == 1:
            return text == first
        if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
            return False
        pos, end = len(first), len(text) - len(last)
        for piece in pieces[1:-1]:
            found = text.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True


def compile_string_pattern(pattern: str) -> StringPattern:
    """The matcher of an ASL `StringMatches` pattern: `*` wildcard, `\\*` and `\\\\` escapes."""
    pieces: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            current.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    pieces.append("".join(current))
    return StringPattern(tuple(pieces))


def _missing_variable(path: str) -> StatesError:
    return StatesError(
        "States.Runtime",
        f"The path '{path}' specified for the field 'Variable' could not be found in the state input.",
    )


class Rule:
    """A Choice rule: `evaluate(run_state, context)` is True or False, or raises StatesError."""

    __slots__ = ()

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Comparison(Rule):
    """`{"Variable": path, "<Operator>": value}`: compare the value at Variable with a literal (or, for a
    `...Path` operator, with the value at a second path)."""

    variable: str
    operator: str
    operand: Any
    _variable: CompiledPath
    _operand_path: CompiledPath | None
    _family: str
    _compare: Callable[[Any, Any], bool]
    _literal: Any  # the operand converted once (for literal operands)

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        try:
            value = self._variable.read(doc, context)
        except PathNotFound:
            raise _missing_variable(self.variable) from None
        convert = _FAMILIES[self._family]
        left = convert(value)
        if left is None:
            return False
        if self._operand_path is not None:
            try:
                other = self._operand_path.read(doc, context)
            except PathNotFound:
                raise StatesError(
                    "States.Runtime",
                    f"The path '{self.operand}' specified for the field '{self.operator}' could not be found "
                    "in the state input.",
                ) from None
            right = convert(other)
            if right is None:
                return False
        else:
            right = self._literal
            if right is None:
                return False
        return self._compare(left, right)


@dataclass(frozen=True, slots=True)
class StringMatch(Rule):
    """`{"Variable": path, "StringMatches": pattern}` with `*` wildcards."""

    variable: str
    pattern: str
    _variable: CompiledPath
    _matcher: StringPattern

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        try:
            value = self._variable.read(doc, context)
        except PathNotFound:
            raise _missing_variable(self.variable) from None
        return isinstance(value, str) and self._matcher.fullmatch(value)


@dataclass(frozen=True, slots=True)
class TypeTest(Rule):
    """`IsNull`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp` with `true` (`false` negates)."""

    variable: str
    operator: str
    expected: bool
    _variable: CompiledPath

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        try:
            value = self._variable.read(doc, context)
        except PathNotFound:
            raise _missing_variable(self.variable) from None
        return _TYPE_TESTS[self.operator](value) == self.expected


@dataclass(frozen=True, slots=True)
class PresenceTest(Rule):
    """`IsPresent`: whether the Variable path exists (`false` negates)."""

    variable: str
    expected: bool
    _variable: CompiledPath

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        try:
            value = self._variable.read(doc, context)
        except PathNotFound:
            return not self.expected
        if not self._variable.definite and isinstance(value, list) and not value:
            return not self.expected  # a non-definite path that selects nothing is not present
        return self.expected


@dataclass(frozen=True, slots=True)
class And(Rule):
    """`And`: true when every nested rule is true (evaluated in order, stopping at the first false)."""

    rules: tuple[Rule, ...]

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        return all(rule.evaluate(doc, context) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class Or(Rule):
    """`Or`: true when any nested rule is true (evaluated in order, stopping at the first true)."""

    rules: tuple[Rule, ...]

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        return any(rule.evaluate(doc, context) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class Not(Rule):
    """`Not`: the negation of one nested rule."""

    rule: Rule

    def evaluate(self, doc: Any, context: dict[str, Any] | None) -> bool:
        return not self.rule.evaluate(doc, context)


@dataclass(frozen=True, slots=True)
class ChoiceRule:
    """A top-level rule of a Choice state: when `rule` is true, the run continues at `next`."""

    rule: Rule
    next: str


class RuleError(ValueError):
    """A Choice rule that cannot be parsed (validation should have caught it)."""


def parse_rule(data: dict[str, Any]) -> Rule:
    """Parse one (nested or top-level, without its `Next`) Choice rule."""
    if not isinstance(data, dict):
        raise RuleError("a Choice rule must be an object")
    if "And" in data:
        return And(tuple(parse_rule(r) for r in data["And"]))
    if "Or" in data:
        return Or(tuple(parse_rule(r) for r in data["Or"]))
    if "Not" in data:
        return Not(parse_rule(data["Not"]))
    variable = data.get("Variable")
    if not isinstance(variable, str):
        raise RuleError("a Choice comparison needs a Variable path")
    ops = [k for k in data if k in OPERATORS]
    if len(ops) != 1:
        raise RuleError(f"a Choice comparison needs exactly one operator, found {ops or 'none'}")
    op = ops[0]
    operand = data[op]
    var_path = compile_path(variable)
    if op == "IsPresent":
        return PresenceTest(variable, bool(operand), var_path)
    if op in _TYPE_TESTS:
        if not isinstance(operand, bool):
            raise RuleError(f"{op} takes true or false")
        return TypeTest(variable, op, operand, var_path)
    if op == "StringMatches":
        if not isinstance(operand, str):
            raise RuleError("StringMatches takes a string pattern")
        return StringMatch(variable, operand, var_path, compile_string_pattern(operand))
    family, cmp = COMPARISON_OPERATORS[op]
    if op.endswith("Path"):
        if not isinstance(operand, str):
            raise RuleError(f"{op} takes a path")
        return Comparison(variable, op, operand, var_path, compile_path(operand), family, _COMPARE[cmp], None)
    literal = _FAMILIES[family](operand)
    if literal is None:
        raise RuleError(f"{op} takes a {family.lower()} operand, not {operand!r}")
    return Comparison(variable, op, operand, var_path, None, family, _COMPARE[cmp], literal)


def parse_choice_rule(data: dict[str, Any]) -> ChoiceRule:
    """Parse a top-level Choice rule (with its `Next`)."""
    rule_data = {k: v for k, v in data.items() if k not in ("Next", "Comment")}
    return ChoiceRule(parse_rule(rule_data), data["Next"])


def choose_next(rules: tuple[ChoiceRule, ...], default: str | None, doc: Any, context: dict[str, Any] | None):
    """The `Next` of the first true rule, else `default`, else raise `States.NoChoiceMatched`."""
    for rule in rules:
        if rule.rule.evaluate(doc, context):
            return rule.next
    if default is not None:
        return default
    raise StatesError("States.NoChoiceMatched", "No Choice rule matched and there is no Default.")
