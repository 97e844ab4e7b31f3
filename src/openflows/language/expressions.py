"""`.=` expressions: compile, check and evaluate them safely (spec/flows-language.md §5, ecosystem.md §4).

The language is the Python-like expression syntax of Globus Flows, evaluated on simpleeval's
`EvalWithCompoundTypes`, hardened for a multi-tenant server:

- Compile time (`compile_expression`, cached by source): the source length is capped before parsing;
  bracket nesting and runs of unary operators are capped before `ast.parse` (CPython's parser can blow up on
  them); backtick JSONPaths are checked with `compile_path`; the AST is checked against an allow-list of node
  types and a depth cap. Anything else (lambda, `:=`, f-strings, `*`/`**` in calls, dunder names, bytes ...)
  is an `ExpressionSyntaxError`.
- Run time (`CompiledExpression.evaluate`): names resolve to *copies* of the run state's top-level values, so
  nothing the expression does can reach the caller's objects; attribute access reads object members first
  and otherwise only allow-listed read-only methods of `str`, `list`, `dict`, `tuple` and `set`; every
  operator, method and function that can grow a value checks the size of what it will build *before*
  building it (integers by bit length, strings and arrays by length, `%` formatting by its widths); a work
  meter bounds the total effort of one evaluation; the result must be a JSON value within the run-state limit.

Every failure raises `ExpressionError` (a subclass for compile-time failures) whose message names the
expression; its `reason` attribute holds just what went wrong. docs/expressions.md is the user reference.
"""

from __future__ import annotations

import ast
import functools
import io
import marshal
import math
import posixpath
import re
import threading
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simpleeval import EvalWithCompoundTypes

from .errors import ExpressionError, ExpressionSyntaxError, PathNotFound, PathSyntaxError
from .model import DEFAULT_LIMITS, Limits
from .paths import CompiledPath, compile_path

#: total iterations of all comprehensions in one evaluation
MAX_COMPREHENSION_LENGTH = 10_000
#: largest integer an operator may produce, in bits (about 19,700 decimal digits)
MAX_INT_BITS = 65_536
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
#: longest expression text quoted in an error message
MESSAGE_SOURCE_LENGTH = 200

_UNSET: Any = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})
_MISSING: Any = object()

# ----------------------------------------------------------------------------------------------------
# Errors


class _Refused(Exception):
    """Internal: evaluation stopped for `reason` (becomes an ExpressionError naming the expression)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def _estimate_text_length(value: Any, budget: int) -> int:
    """Roughly how long `str(value)` would be; stops counting once past `budget`."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
        elif isinstance(v, float):
            total += 24
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 64
        if total > budget:
            return total
    return total


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
    else:
        return 1
    if memo is None:
        memo = {}
    known = memo.get(id(value))
    if known is not None:
        return known
    kinds = set(map(type, items))  # C-speed fast paths for flat containers
    if kinds <= _NUMBER_TYPES:
        pass
    elif kinds == _STR_ONLY:
        total += sum(map(len, items)) >> 5
    else:
        for x in items:
            tx = type(x)
            if tx is str:
                total += len(x) >> 5
            elif tx is dict or tx in _CONTAINERS:
                total += _deep_size(x, limit - total, memo)
                if total > limit:
                    break
    memo[id(value)] = total
    return total


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


# ----------------------------------------------------------------------------------------------------
# Compile time


def _substitute_backticks(source: str) -> tuple[str, dict[str, CompiledPath]]:
    """Replace each backtick span outside string literals with a generated name; return the new source and
    the generated names with their compiled paths."""
    prefix = "__bt"
    while prefix in source:
        prefix += "_"
    out: list[str] = []
    paths: dict[str, CompiledPath] = {}
    i, n = 0, len(source)
    quote: str | None = None
    while i < n:
        ch = source[i]
        if quote is not None:
            if ch == "\\":
                out.append(source[i : i + 2])
                i += 2
                continue
            if source.startswith(quote, i):
                out.append(quote)
                i += len(quote)
                quote = None
                continue
            out.append(ch)
            i += 1
            continue
        if ch in "'\"":
            quote = ch * 3 if source.startswith(ch * 3, i) else ch
            out.append(quote)
            i += len(quote)
            continue
        if ch == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise _Refused(f"unterminated backtick at position {i}")
            text = source[i + 1 : end]
            try:
                path = compile_path(text)
            except PathSyntaxError as exc:
                raise _Refused(f"invalid JSONPath in backticks: {exc}") from None
            name = f"{prefix}{len(paths)}"
            paths[name] = path
            out.append(f" {name} ")
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out), paths


_UNARY_TOKENS = frozenset({"-", "+", "~", "not"})


def _check_nesting(source: str) -> None:
    """Refuse sources whose bracket nesting or unary-operator runs could blow up CPython's parser."""
    depth = 0
    run = 0
    for tok in _tokens(source):
        s = tok.string
        if tok.type == tokenize.OP and s in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise _Refused(f"brackets are nested more than {MAX_NESTING} deep")
        elif tok.type == tokenize.OP and s in ")]}":
            depth -= 1
        if s in _UNARY_TOKENS and tok.type in (tokenize.OP, tokenize.NAME):
            run += 1
            if run > MAX_NESTING:
                raise _Refused(f"more than {MAX_NESTING} operators in a row")
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            run = 0


def _tokens(source: str) -> Iterator[tokenize.TokenInfo]:
    """Tokens of `source` up to the first tokenizer error (ast.parse then reports that error better)."""
    try:
        yield from tokenize.generate_tokens(io.StringIO(source).readline)
    except (tokenize.TokenError, SyntaxError):
        return


def _words(text: str) -> list[str]:
    return text.split()


_ALLOWED_NODES: frozenset[type] = frozenset(
    getattr(ast, name)
    for name in _words(
        "Expression Constant Name Load Store UnaryOp BinOp BoolOp Compare IfExp Call keyword Subscript Slice "
        "Attribute List Tuple Dict Set ListComp DictComp GeneratorExp comprehension Starred "
        # operators
        "UAdd USub Not Invert Add Sub Mult Div FloorDiv Mod Pow LShift RShift BitOr BitXor BitAnd And Or "
        "Eq NotEq Lt LtE Gt GtE In NotIn Is IsNot"
    )
)

_NODE_REASONS = {
    ast.Lambda: "lambda is not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not allowed (use + or % to build strings)",
    ast.FormattedValue: "f-strings are not allowed (use + or % to build strings)",
    ast.SetComp: "set comprehensions are not allowed (use set([...]))",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.MatMult: "the @ operator is not allowed",
}


def _check_tree(tree: ast.Expression, generated: dict[str, CompiledPath]) -> None:
    """Check the parsed expression against the allow-list; raise _Refused naming the first problem."""
    stack: list[tuple[ast.AST, int, ast.AST | None]] = [(tree, 0, None)]
    while stack:
        node, depth, parent = stack.pop()
        if depth > MAX_AST_DEPTH:
            raise _Refused(f"the expression is nested more than {MAX_AST_DEPTH} levels deep")
        kind = type(node)
        if kind not in _ALLOWED_NODES:
            raise _Refused(_NODE_REASONS.get(kind, f"{kind.__name__} is not allowed"))
        if kind is ast.Constant:
            value = node.value  # type: ignore[attr-defined]
            if value is not None and type(value) not in (str, int, float, bool):
                raise _Refused(f"{type(value).__name__} literals are not allowed")
        elif kind is ast.Name:
            name = node.id  # type: ignore[attr-defined]
            if name.startswith("__") and name not in generated:
                raise _Refused(f"the name {name!r} is not allowed (names may not start with '__')")
            if isinstance(node.ctx, ast.Store) and not isinstance(
                parent, (ast.comprehension, ast.Tuple, ast.List)
            ):  # type: ignore[attr-defined]
                raise _Refused("assignment is not allowed")
        elif kind is ast.Attribute:
            attr = node.attr  # type: ignore[attr-defined]
            if attr.startswith("__"):
                raise _Refused(f"access to {attr!r} is not allowed")
        elif kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            if not isinstance(func, (ast.Name, ast.Attribute)):
                raise _Refused("only named functions and methods can be called")
            for kw in node.keywords:  # type: ignore[attr-defined]
                if kw.arg is None:
                    raise _Refused("'**' in function calls is not allowed")
        elif kind is ast.Starred:
            if not isinstance(parent, ast.List) or isinstance(node.ctx, ast.Store):  # type: ignore[attr-defined]
                raise _Refused("'*' unpacking is only allowed inside list literals")
        elif kind is ast.comprehension:
            if node.is_async:  # type: ignore[attr-defined]
                raise _Refused("async comprehensions are not allowed")
            _check_target(node.target)  # type: ignore[attr-defined]
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, node))


def _check_target(target: ast.AST) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            _check_target(elt)
        return
    raise _Refused("a comprehension variable must be a name or a tuple of names")


@dataclass(frozen=True, slots=True, eq=False)
class CompiledExpression:
    """A checked, parsed `.=` expression. Build with `compile_expression`; run with `.evaluate`."""

    source: str
    tree: ast.expr
    #: generated name -> compiled backtick JSONPath
    paths: dict[str, CompiledPath]
    limits: Limits

    def evaluate(
        self, names: dict[str, Any], *, context: dict[str, Any] | None = None, state: Any = _UNSET
    ) -> Any:
        """Evaluate with `names` (the run state's top-level keys) and `_context` bound to `context`.

        Backtick paths, `is_present` and `getattr` read from `state`, which defaults to `names`. Returns a
        fresh JSON value; raises `ExpressionError` (whose message names the expression) on any failure.
        """
        if state is _UNSET:
            state = names
        if not isinstance(names, dict):
            names = {}
        evaluator = _acquire_evaluator()
        try:
            result = evaluator.run(self, names, context, state)
            return _to_json(result, self.limits.max_run_state_bytes)
        except Exception as exc:  # every failure becomes an ExpressionError naming the expression
            raise _expression_error(ExpressionError, self.source, _describe_exception(exc)) from None
        finally:
            evaluator.release()


def compile_expression(source: str, *, limits: Limits = DEFAULT_LIMITS) -> CompiledExpression:
    """Check and parse a `.=` expression (cached by source and limits); raises `ExpressionSyntaxError`."""
    if not isinstance(source, str):
        raise _expression_error(
            ExpressionSyntaxError, repr(source), f"an expression must be a string, not {_type_name(source)}"
        )
    return _compile_cached(source, limits)


@functools.lru_cache(maxsize=2048)
def _compile_cached(source: str, limits: Limits) -> CompiledExpression:
    if len(source) > limits.max_expression_length:
        raise _expression_error(
            ExpressionSyntaxError,
            source,
            f"the expression is {len(source)} characters long; the limit is {limits.max_expression_length}",
        )
    try:
        text, paths = _substitute_backticks(source)
        text = text.strip()
        if not text:
            raise _Refused("the expression is empty")
        if "\x00" in text:
            raise _Refused("the expression contains a NUL character")
        _check_nesting(text)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            where = f" at column {exc.offset}" if exc.offset else ""
            raise _Refused(f"{exc.msg}{where}") from None
        except (MemoryError, RecursionError, ValueError):
            raise _Refused("the expression is too complex to parse") from None
        _check_tree(tree, paths)
    except _Refused as exc:
        raise _expression_error(ExpressionSyntaxError, source, exc.reason) from None
    return CompiledExpression(source, tree.body, paths, limits)


def evaluate_expression(
    source: str,
    names: dict[str, Any],
    *,
    context: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """`compile_expression(source, limits=limits).evaluate(names, context=context)`."""
    return compile_expression(source, limits=limits).evaluate(names, context=context)


# ----------------------------------------------------------------------------------------------------
# Run time: callables handed to expressions


class _Function:
    """A function callable from expressions; charges the meter and checks its result."""

    __slots__ = ("name", "impl", "evaluator")

    def __init__(self, name: str, impl: Any, evaluator: _Evaluator) -> None:
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

    def __init__(self, obj: Any, name: str, evaluator: _Evaluator) -> None:
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


# ----------------------------------------------------------------------------------------------------
# Run time: the evaluator


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval's `EvalWithCompoundTypes` with OpenFlows' name resolution, attribute rules and guards.

    One instance per thread is reused (see `_acquire_evaluator`); `run` resets its per-evaluation state.
    """

    def __init__(self) -> None:
        super().__init__(names={})
        self.operators = {
            ast.Add: self._op_add,
            ast.Sub: self._op_plain(lambda a, b: a - b),
            ast.Mult: self._op_mult,
            ast.Div: self._op_plain(lambda a, b: a / b),
            ast.FloorDiv: self._op_plain(lambda a, b: a // b),
            ast.Mod: self._op_mod,
            ast.Pow: self._op_pow,
            ast.LShift: self._op_lshift,
            ast.RShift: self._op_plain(lambda a, b: a >> b),
            ast.BitOr: self._op_plain(lambda a, b: a | b),
            ast.BitXor: self._op_plain(lambda a, b: a ^ b),
            ast.BitAnd: self._op_plain(lambda a, b: a & b),
            ast.Eq: self._op_compare(lambda a, b: a == b),
            ast.NotEq: self._op_compare(lambda a, b: a != b),
            ast.Lt: self._op_compare(lambda a, b: a < b),
            ast.LtE: self._op_compare(lambda a, b: a <= b),
            ast.Gt: self._op_compare(lambda a, b: a > b),
            ast.GtE: self._op_compare(lambda a, b: a >= b),
            ast.In: self._op_contains(False),
            ast.NotIn: self._op_contains(True),
            ast.Is: lambda a, b: a is b,
            ast.IsNot: lambda a, b: a is not b,
            ast.Not: lambda a: not a,
            ast.USub: lambda a: -a,
            ast.UAdd: lambda a: +a,
            ast.Invert: lambda a: ~a,
        }
        fns = {
            "len": len,
            "str": self._fn_str,
            "int": int,
            "float": float,
            "bool": bool,
            "list": list,
            "dict": self._deep_args(dict),
            "tuple": tuple,
            "set": self._deep_args(set),
            "sorted": self._fn_sorted,
            "min": self._deep_args(min),
            "max": self._deep_args(max),
            "sum": _fn_sum,
            "abs": abs,
            "round": _fn_round,
            "pathsplit": _fn_pathsplit,
            "is_present": self._fn_is_present,
            "getattr": self._fn_getattr,
        }
        self.functions = {name: _Function(name, impl, self) for name, impl in fns.items()}
        for kind in (ast.Assign, ast.AugAssign, ast.Import, ast.JoinedStr, ast.FormattedValue):
            self.nodes.pop(kind, None)
        self.nodes[ast.ListComp] = self._eval_comprehension
        self.nodes[ast.GeneratorExp] = self._eval_comprehension
        self.nodes[ast.DictComp] = self._eval_comprehension
        self.busy = False
        self._reset(None, {}, None, _UNSET)

    # -- per-evaluation state -------------------------------------------------------------------------------

    def _reset(self, compiled: CompiledExpression | None, names: dict, context: Any, state: Any) -> None:
        self.compiled = compiled
        self.names = names
        self.context = context
        self.state = state
        self.copies: dict[str, Any] = {}
        self.scopes: list[dict[str, Any]] = []
        self.work = 0
        self.iterations = 0
        #: deep sizes by object id; values never change during an evaluation, so sizes stay valid
        self.deep_sizes: dict[int, int] = {}
        self.deep_keep: list[Any] = []
        limits = compiled.limits if compiled is not None else DEFAULT_LIMITS
        self.max_length = limits.max_run_state_bytes

    def run(self, compiled: CompiledExpression, names: dict, context: Any, state: Any) -> Any:
        self._reset(compiled, names, context, state)
        self.expr = compiled.source
        return self._eval(compiled.tree)

    def release(self) -> None:
        self._reset(None, {}, None, _UNSET)
        self.busy = False

    # -- metering -------------------------------------------------------------------------------------------

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise _Refused("the expression needs too much work (evaluation budget exceeded)")

    def charge_value(self, value: Any) -> None:
        t = type(value)
        if t is str:
            self.work += len(value) >> 5
        elif t is list or t is dict or t is tuple or t is set:
            self.work += len(value)
        else:
            return
        if self.work > MAX_WORK:
            raise _Refused("the expression needs too much work (evaluation budget exceeded)")

    def charge_deep(self, value: Any) -> None:
        """Charge for work that walks all of `value` (deep comparison, hashing, searching)."""
        t = type(value)
        if t is str:
            self.work += len(value) >> 5
        elif t in _CONTAINERS or t is dict:
            size = self.deep_sizes.get(id(value))
            if size is None:
                size = _deep_size(value, MAX_WORK - self.work, self.deep_sizes)
                self.deep_keep.append(value)  # keeps the ids in deep_sizes valid
            self.work += size
        else:
            return
        if self.work > MAX_WORK:
            raise _Refused("the expression needs too much work (evaluation budget exceeded)")

    def check_size(self, value: Any, what: str) -> None:
        """Refuse a string or collection longer than the run-state size limit; charge for it."""
        if isinstance(value, (str, list, tuple, dict, set)):
            if len(value) > self.max_length:
                raise _Refused(f"{what} built a value longer than {self.max_length}")
            self.charge_value(value)

    def _eval(self, node: Any) -> Any:
        self.work += NODE_COST
        if self.work > MAX_WORK:
            raise _Refused("the expression needs too much work (evaluation budget exceeded)")
        return self.nodes[type(node)](node)

    def _eval_constant(self, node: ast.Constant) -> Any:
        return node.value  # literals are checked at compile time and bounded by the source length

    def _check_disallowed_items(self, item: Any) -> None:
        """Not needed: only JSON copies and our own callables can ever be values."""

    # -- names, attributes, items ---------------------------------------------------------------------------

    def _eval_name(self, node: ast.Name) -> Any:
        name = node.id
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        copies = self.copies
        if name in copies:
            return copies[name]
        compiled = self.compiled
        path = compiled.paths.get(name) if compiled is not None else None
        if path is not None:
            try:
                value = path.read(self.state, self.context)
            except PathNotFound:
                raise _Refused(f"the path {path.text!r} could not be found in the state input") from None
        elif name == "_context" and self.context is not None:
            value = self.context
        else:
            value = self.names.get(name, _MISSING)
            if value is _MISSING:
                if name in self.functions:
                    return self.functions[name]
                raise _Refused(f"the name {name!r} is not defined")
        value = _copy_value(value)
        self.charge_value(value)
        copies[name] = value
        return value

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        obj = self._eval(node.value)
        if isinstance(obj, dict):
            value = obj.get(attr, _MISSING)
            if value is not _MISSING:
                return value
        allowed = _METHODS.get(type(obj))
        if allowed is not None and attr in allowed:
            return _Method(obj, attr, self)
        method = hasattr(type(obj), attr) and not attr.startswith("_")
        note = f" ({attr!r} is not an allowed method: expressions cannot change data)" if method else ""
        if isinstance(obj, dict):
            raise _Refused(f"the object has no key {attr!r}{note}")
        raise _Refused(f"cannot read {attr!r} of {_type_name(obj)}{note}")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        if isinstance(key, slice):
            if not isinstance(container, (list, tuple, str)):
                raise _Refused(f"cannot slice {_type_name(container)}")
            result = container[key]
            self.charge_value(result)
            return result
        if isinstance(container, dict):
            value = container.get(key, _MISSING) if isinstance(key, (str, int, float, bool)) else _MISSING
            if value is _MISSING:
                raise _Refused(f"the object has no key {key!r}")
            return value
        if isinstance(container, (list, tuple, str)):
            if not isinstance(key, int):
                raise _Refused(f"an index must be an integer, not {_type_name(key)}")
            if not -len(container) <= key < len(container):
                raise _Refused(f"index {key} is out of range (length {len(container)})")
            return container[key]
        raise _Refused(f"cannot index {_type_name(container)}")

    def _eval_call(self, node: ast.Call) -> Any:
        func_node = node.func
        if isinstance(func_node, ast.Name):
            func = self.functions.get(func_node.id)
            if func is None:
                raise _Refused(f"the function {func_node.id!r} is not defined")
        else:
            func = self._eval(func_node)
            if not isinstance(func, (_Method, _Function)):
                raise _Refused(f"{_type_name(func)} is not callable")
        args = [self._eval(a) for a in node.args]
        if node.keywords:
            return func(*args, **{k.arg: self._eval(k.value) for k in node.keywords})
        return func(*args)

    # -- literals and comprehensions ------------------------------------------------------------------------

    def _eval_list(self, node: ast.List) -> list:
        result: list = []
        for item in node.elts:
            if isinstance(item, ast.Starred):
                value = self._eval(item.value)
                if not isinstance(value, (list, tuple, str, dict, set)):
                    raise _Refused(f"cannot unpack {_type_name(value)} with '*'")
                result.extend(value)
            else:
                result.append(self._eval(item))
        self.check_size(result, "a list literal")
        return result

    def _eval_dict(self, node: ast.Dict) -> dict:
        result: dict = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                other = self._eval(value)
                if not isinstance(other, dict):
                    raise _Refused(f"cannot unpack {_type_name(other)} with '**'")
                result.update(other)
            else:
                result[self._eval(key)] = self._eval(value)
        self.check_size(result, "an object literal")
        return result

    def _eval_comprehension(self, node: Any) -> Any:
        result: Any = {} if isinstance(node, ast.DictComp) else []
        scope: dict[str, Any] = {}
        self.scopes.append(scope)
        try:
            self._run_generator(node, 0, scope, result)
        finally:
            self.scopes.pop()
        self.check_size(result, "a comprehension")
        return result

    def _run_generator(self, node: Any, index: int, scope: dict, result: Any) -> None:
        gen = node.generators[index]
        iterable = self._eval(gen.iter)
        if not isinstance(iterable, (list, tuple, str, dict, set)) and not type(iterable).__name__.startswith(
            "dict_"
        ):
            raise _Refused(f"cannot iterate over {_type_name(iterable)}")
        last = index + 1 == len(node.generators)
        target = gen.target
        conditions = gen.ifs
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_COMPREHENSION_LENGTH:
                raise _Refused(f"comprehensions ran more than {MAX_COMPREHENSION_LENGTH} iterations")
            self.work += NODE_COST
            if type(target) is ast.Name:
                scope[target.id] = item
            else:
                _bind_target(target, item, scope)
            if not conditions or all(self._eval(cond) for cond in conditions):
                if not last:
                    self._run_generator(node, index + 1, scope, result)
                elif isinstance(node, ast.DictComp):
                    result[self._eval(node.key)] = self._eval(node.value)
                else:
                    result.append(self._eval(node.elt))

    # -- operators ------------------------------------------------------------------------------------------

    def _op_plain(self, fn: Any) -> Any:
        def op(a: Any, b: Any) -> Any:
            result = fn(a, b)
            self.check_size(result, "an operator")
            return result

        return op

    def _op_compare(self, fn: Any) -> Any:
        def op(a: Any, b: Any) -> Any:
            self.charge_deep(a)
            self.charge_deep(b)
            return fn(a, b)

        return op

    def _op_contains(self, negate: bool) -> Any:
        def op(a: Any, b: Any) -> Any:
            self.charge_deep(a)
            if type(b) is not dict and type(b) is not set:  # hashed lookups do not walk the container
                self.charge_deep(b)
            return (a not in b) if negate else (a in b)

        return op

    def _op_add(self, a: Any, b: Any) -> Any:
        t = type(a)
        if (t is str or t is list or t is tuple) and type(b) is t:
            n = len(a) + len(b)
            if n > self.max_length:
                raise _Refused(f"'+' would build a value longer than {self.max_length}")
            self.work += n >> 5 if t is str else n
        return a + b

    def _op_mult(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise _Refused(f"'*' would build an integer larger than {MAX_INT_BITS} bits")
            return a * b
        seq, times = (a, b) if isinstance(b, int) else (b, a)
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            if times > 0 and len(seq) * times > self.max_length:
                raise _Refused(f"'*' would build a value longer than {self.max_length}")
            result = seq * times
            self.charge_value(result)
            return result
        return a * b

    def _op_pow(self, a: Any, b: Any) -> Any:
        big = isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1
        if big and math.log2(abs(a)) * b > MAX_INT_BITS:
            raise _Refused(f"'**' would build an integer larger than {MAX_INT_BITS} bits")
        return a**b

    def _op_lshift(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and a and b > 0 and a.bit_length() + b > MAX_INT_BITS:
            raise _Refused(f"'<<' would build an integer larger than {MAX_INT_BITS} bits")
        return a << b

    def _op_mod(self, a: Any, b: Any) -> Any:
        if isinstance(a, str):
            _precheck_percent_format(a, b, self.max_length)
        result = a % b
        self.check_size(result, "'%' formatting")
        return result

    # -- functions that need the evaluator ------------------------------------------------------------------

    def _fn_str(self, *args: Any) -> str:
        if (
            args
            and type(args[0]) not in _SCALARS
            and _estimate_text_length(args[0], self.max_length) > self.max_length
        ):
            raise _Refused(f"str() would build a string longer than {self.max_length} characters")
        return str(*args)

    def _deep_args(self, fn: Any) -> Any:
        """`fn`, charging for walking all of its arguments (it compares or hashes them)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            for a in args:
                self.charge_deep(a)
            return fn(*args, **kwargs)

        return call

    def _fn_sorted(self, iterable: Any, *, key: Any = None, reverse: bool = False) -> list:
        if hasattr(iterable, "__len__"):
            n = len(iterable)
            rounds = max(n.bit_length(), 1)
            self.charge(n * rounds)
            if key is None:  # elements are compared with each other, about log2(n) times each
                for _ in range(min(rounds, 4)):
                    self.charge_deep(iterable)
        return sorted(iterable, key=key, reverse=reverse)

    def _resolve_dotted(self, path: Any, fn: str) -> CompiledPath:
        if not isinstance(path, str):
            raise _Refused(f"{fn}() takes a path string such as 'a.b[0]', not {_type_name(path)}")
        text = path if path.startswith("$") else ("$" + path if path.startswith("[") else "$." + path)
        try:
            return compile_path(text)
        except PathSyntaxError as exc:
            raise _Refused(f"{fn}(): invalid path {path!r} ({exc})") from None

    def _fn_is_present(self, path: Any) -> bool:
        return self._resolve_dotted(path, "is_present").exists(self.state, self.context)

    def _fn_getattr(self, path: Any, default: Any = None) -> Any:
        compiled = self._resolve_dotted(path, "getattr")
        try:
            value = compiled.read(self.state, self.context)
        except PathNotFound:
            return default
        value = _copy_value(value)
        self.charge_value(value)
        return value


def _bind_target(target: ast.AST, value: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = value
        return
    elts = target.elts  # type: ignore[attr-defined]
    if not isinstance(value, (list, tuple, str)) or len(value) != len(elts):
        raise _Refused(f"cannot unpack {_type_name(value)} into {len(elts)} names")
    for t, v in zip(elts, value, strict=True):
        _bind_target(t, v, scope)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def _precheck_percent_format(fmt: str, args: Any, cap: int) -> None:
    """Refuse `fmt % args` when its widths, precisions or arguments would build more than `cap` characters."""
    total = len(fmt)
    for match in _PERCENT_SPEC.finditer(fmt):
        width, precision, conv = match.groups()
        if width == "*" or precision == "*":
            raise _Refused("'*' widths in '%' formatting are not allowed")
        if width:
            total += int(width) if len(width) < 10 else cap + 1
        if precision and conv not in ("s", "r", "a"):
            total += int(precision) if len(precision) < 10 else cap + 1
        if total > cap:
            raise _Refused(f"'%' formatting would build a string longer than {cap} characters")
    total += _estimate_text_length(args, cap)
    if total > cap:
        raise _Refused(f"'%' formatting would build a string longer than {cap} characters")


def _fn_sum(iterable: Any, start: Any = 0) -> Any:
    items = list(iterable)
    for x in (start, *items):
        if not isinstance(x, (int, float)):
            raise _Refused(f"sum() adds numbers only, not {_type_name(x)} (use + to join strings or lists)")
    return sum(items, start)


def _fn_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > 1000:
        raise _Refused("round(): ndigits must be between -1000 and 1000")
    return round(number, ndigits)


def _fn_pathsplit(path: Any) -> list[str]:
    """Globus `pathsplit`: `[head, tail]` of a `/`-separated path; the `/~/` root is never split."""
    if not isinstance(path, str):
        raise _Refused(f"pathsplit() takes a string, not {_type_name(path)}")
    head, tail = posixpath.split(path)
    if head == "/~":
        head = "/~/"
    return [head, tail]


_local = threading.local()


def _acquire_evaluator() -> _Evaluator:
    """This thread's evaluator (a fresh one if it is already in use, e.g. re-entrantly)."""
    ev = getattr(_local, "evaluator", None)
    if ev is None or ev.busy:
        ev = _Evaluator()
        if getattr(_local, "evaluator", None) is None:
            _local.evaluator = ev
    ev.busy = True
    return ev
