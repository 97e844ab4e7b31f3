"""The values `.=` expressions handle (see `expressions.py`): the limits, the errors and how they are worded,
the kinds, sizes and copies of values, the JSON result, and the functions and methods handed to expressions.
"""

from __future__ import annotations

import marshal
import math
from typing import Any, Protocol

from . import expression_costs as costs
from .errors import ExpressionError, ExpressionSyntaxError
from .expression_costs import Refused

#: largest integer an operator or conversion may produce, in bits (see expression_costs.py)
MAX_INT_BITS = costs.MAX_INT_BITS
#: total iterations of all comprehensions in one evaluation
MAX_COMPREHENSION_LENGTH = 10_000
#: deepest bracket nesting, and longest run of unary operators, accepted before parsing
MAX_NESTING = 50
#: deepest expression tree accepted after parsing
MAX_AST_DEPTH = 100
#: work units one evaluation may spend; one unit is roughly one list element touched, an expression node costs
#: NODE_COST units and a string costs one unit per 32 characters (about 80,000 expression steps; tens of ms)
MAX_WORK = 1_600_000
NODE_COST = 20
#: extra work units per function or method call (a call costs about five expression nodes)
CALL_COST = 100
#: work units shared by all the expressions of one Parameters document or one expression_eval request
#: (a definition or request can hold thousands of expressions; each alone is capped at MAX_WORK)
SHARED_WORK = 4 * MAX_WORK
#: longest expression text quoted in an error message
MESSAGE_SOURCE_LENGTH = 200

_UNSET: Any = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})
_MISSING: Any = object()

# ----------------------------------------------------------------------------------------------------
# Errors


#: evaluation stopped for `reason` (becomes an ExpressionError naming the expression)
_Refused = Refused


def _quote_source(source: str) -> str:
    if len(source) > MESSAGE_SOURCE_LENGTH:
        source = source[:MESSAGE_SOURCE_LENGTH] + "..."
    return repr(source)


def _expression_error(cls: type[ExpressionError], source: str, reason: str) -> ExpressionError:
    if cls is ExpressionSyntaxError:
        err = cls(f"Invalid expression {_quote_source(source)}: {reason}")
    else:
        err = cls(f"Error evaluating expression {_quote_source(source)}: {reason}")
    err.expression = source  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _describe_exception(exc: BaseException) -> str:
    """A short, user-facing reason for a Python exception raised while evaluating."""
    if isinstance(exc, _Refused):
        return exc.reason
    if isinstance(exc, RecursionError):
        return "the expression or its data is nested too deeply"
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return f"number too large ({exc})"
    if isinstance(exc, ExpressionError):
        return getattr(exc, "reason", str(exc))
    if isinstance(exc, (KeyError, IndexError)):
        return f"{type(exc).__name__}: {exc}"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TypeError):
        return f"type error: {text}"
    if isinstance(exc, ValueError):
        if "integer string conversion" in text:
            return "integer too large to convert to a string (more than 4300 digits)"
        return f"invalid value: {text}"
    return text


# ----------------------------------------------------------------------------------------------------
# Sizes and copies


def _type_name(value: Any) -> str:
    """The kind of a value, with its article, for messages: 'an array', 'a string', 'null' ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (_Function, _Method)):
        return "a function"
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


_CONTAINERS = (list, tuple, dict, set, frozenset)
_NUMBER_TYPES = frozenset({int, float, bool, type(None)})
_STR_ONLY = frozenset({str})


def _deep_size(value: Any, limit: int, memo: dict[int, int] | None = None) -> int:
    """Work units to compare, hash or search `value` in full: one per element at any depth (a string counts
    one per 32 characters). A sub-value reached several times counts every time, but is walked only once.
    Stops early once past `limit`."""
    t = type(value)
    if t is dict:
        total = 1 + 2 * len(value)
        items: Any = value.values()
    elif t in _CONTAINERS:
        total = 1 + len(value)
        items = value
    elif t is str:
        return 1 + (len(value) >> 5)
    elif t is int:
        return 1 + value.bit_length() // costs.LINEAR_BITS_PER_UNIT
    else:
        return 1
    if memo is None:
        memo = {}
    known = memo.get(id(value))
    if known is not None:
        return known
    kinds = set(map(type, items))  # C-speed fast paths for flat containers
    if kinds <= _NUMBER_TYPES:
        if int in kinds:  # large integers cost their size to compare and hash
            bits = sum(map(int.bit_length, items)) if len(kinds) == 1 else _int_bits(items)
            total += bits // costs.LINEAR_BITS_PER_UNIT
    elif kinds == _STR_ONLY:
        total += sum(map(len, items)) >> 5
    else:
        for x in items:
            tx = type(x)
            if tx is str:
                total += len(x) >> 5
            elif tx is int:
                total += x.bit_length() // costs.LINEAR_BITS_PER_UNIT
            elif tx is dict or tx in _CONTAINERS:
                total += _deep_size(x, limit - total, memo)
                if total > limit:
                    break
    memo[id(value)] = total
    return total


def _int_bits(items: Any) -> int:
    return sum(x.bit_length() for x in items if type(x) is int)


def _copy_value(value: Any) -> Any:
    """A deep copy of a JSON value (fast: marshal round trip; falls back to a Python walk)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:
        return _copy_walk(value)


def _copy_walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_walk(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_walk(v) for v in value]
    return value


def _to_json(value: Any, max_bytes: int) -> Any:
    """A fresh JSON copy of an evaluation result (tuples become arrays); refuses non-JSON or oversized ones.

    The size is the approximate length of the value's JSON text. Object keys that are numbers, booleans or
    null become strings, as `json.dumps` would write them.
    """
    budget = max_bytes

    def too_big() -> _Refused:
        return _Refused(f"the result is larger than the {max_bytes}-byte limit")

    def convert(v: Any) -> Any:
        nonlocal budget
        t = type(v)
        if t is str:
            budget -= len(v) + 2
            if budget < 0:
                raise too_big()
            return v
        if t is dict:
            budget -= 2 + len(v)
            out = {}
            for k, x in v.items():
                if type(k) is not str:
                    k = _json_key(k)
                budget -= len(k) + 3
                out[k] = convert(x)
            if budget < 0:
                raise too_big()
            return out
        if t is list or t is tuple:
            budget -= 2 + len(v)
            if budget < 0:
                raise too_big()
            return [convert(x) for x in v]
        if v is None or t is bool:
            budget -= 5
            return v
        if t is int:
            if v.bit_length() > 14_000:
                raise _Refused("the result is an integer too large for JSON")
            budget -= v.bit_length() // 3 + 2
            return v
        if t is float:
            if not math.isfinite(v):
                raise _Refused(f"the result contains {v}, which is not a JSON number")
            budget -= 24
            return v
        hint = " (use list(...))" if isinstance(v, (set, frozenset)) or t.__name__.startswith("dict_") else ""
        raise _Refused(f"the result contains {_type_name(v)}, which is not a JSON value{hint}")

    result = convert(value)
    if budget < 0:
        raise too_big()
    return result


def _json_key(key: Any) -> str:
    """An object key as `json.dumps` would write it."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float) and math.isfinite(key):
        return repr(key)
    raise _Refused(f"an object key of type {_type_name(key)} is not allowed in the result")


def _words(text: str) -> list[str]:
    return text.split()


# ----------------------------------------------------------------------------------------------------
# Run time: callables handed to expressions


class Meter(Protocol):
    """What a callable needs of the evaluator that hands it out (`expression_evaluator._Evaluator`)."""

    max_length: int

    def charge(self, units: int) -> None: ...

    def charge_value(self, value: Any) -> None: ...

    def charge_deep(self, value: Any) -> None: ...

    def check_size(self, value: Any, what: str) -> None: ...


class _Function:
    """A function callable from expressions; charges the meter and checks its result."""

    __slots__ = ("name", "impl", "evaluator")

    def __init__(self, name: str, impl: Any, evaluator: Meter) -> None:
        self.name = name
        self.impl = impl
        self.evaluator = evaluator

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ev = self.evaluator
        ev.charge(CALL_COST)  # also when called back, e.g. as a sort key
        for a in args:
            ev.charge_value(a)
        result = self.impl(*args, **kwargs)
        t = type(result)
        if t is str or t is list or t is dict or t is tuple or t is set:
            ev.check_size(result, self.name + "()")
        elif t is int:
            costs.check_int(result, self.name + "()")
        return result

    def __repr__(self) -> str:
        return f"<function {self.name}>"


_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        _words(
            "capitalize casefold center count endswith expandtabs find index isalnum isalpha isascii "
            "isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join "
            "ljust lower lstrip partition removeprefix removesuffix replace rfind rindex rjust rpartition "
            "rsplit rstrip split splitlines startswith strip swapcase title upper zfill"
        )
    ),
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "keys", "values", "items", "copy"}),
    set: frozenset(
        [
            "copy",
            "difference",
            "intersection",
            "isdisjoint",
            "issubset",
            "issuperset",
            "symmetric_difference",
            "union",
        ]
    ),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
}


#: methods of containers that compare or hash every element
_DEEP_METHODS = frozenset(
    {"count", "index", "difference", "intersection", "isdisjoint", "issubset", "issuperset", "union"}
    | {"symmetric_difference", "get"}
)


class _Method:
    """An allow-listed, read-only method bound to a value; pre-checks the size of what it will build."""

    __slots__ = ("obj", "name", "evaluator")

    def __init__(self, obj: Any, name: str, evaluator: Meter) -> None:
        self.obj = obj
        self.name = name
        self.evaluator = evaluator

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ev = self.evaluator
        obj, name = self.obj, self.name
        ev.charge(CALL_COST)
        if name in _DEEP_METHODS and type(obj) is not str:
            ev.charge_deep(obj)
            for a in args:
                ev.charge_deep(a)
        else:
            ev.charge_value(obj)
        if isinstance(obj, str):
            _precheck_str_method(obj, name, args, kwargs, ev.max_length)
        result = getattr(obj, name)(*args, **kwargs)
        ev.check_size(result, f".{name}()")
        return result

    def __repr__(self) -> str:
        return f"<method {self.name}>"


def _int_arg(value: Any, what: str) -> int:
    if not isinstance(value, int):
        raise _Refused(f"{what} must be an integer, not {_type_name(value)}")
    return value


def _precheck_str_method(s: str, name: str, args: tuple, kwargs: dict, cap: int) -> None:
    """Refuse string methods whose result would exceed `cap` characters, before building it."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        if _int_arg(width, f"the width of .{name}()") > cap:
            raise _Refused(f".{name}() would build a string longer than {cap} characters")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if len(s) + s.count("\t") * max(_int_arg(size, "the tab size"), 0) > cap:
            raise _Refused(f".expandtabs() would build a string longer than {cap} characters")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        if len(new) > len(old):
            hits = s.count(old) if old else len(s) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                hits = min(hits, args[2])
            if len(s) + hits * (len(new) - len(old)) > cap:
                raise _Refused(f".replace() would build a string longer than {cap} characters")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, (list, tuple, str, dict, set)):
            total = len(s) * max(len(items) - 1, 0)
            for item in items:
                if isinstance(item, str):
                    total += len(item)
                if total > cap:
                    raise _Refused(f".join() would build a string longer than {cap} characters")
