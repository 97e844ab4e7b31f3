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
  meter bounds the total effort of one evaluation, charging integer arithmetic and conversions what they cost
  (quadratic in the number of digits for `*`, `//`, `%`, `**`, `int()`, `str()`; see expression_costs.py);
  the result must be a JSON value within the run-state limit.

Every failure raises `ExpressionError` (a subclass for compile-time failures) whose message names the
expression; its `reason` attribute holds just what went wrong. docs/expressions.md is the user reference.

This module is the compile time; the run time is `expression_evaluator.py` (`CompiledExpression`,
`WorkBudget`, the evaluator), the limits, errors, value sizes and callables are `expression_values.py`.
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from collections.abc import Iterator
from typing import Any

from .errors import ExpressionSyntaxError, PathSyntaxError
from .expression_evaluator import CompiledExpression, WorkBudget
from .expression_values import MAX_AST_DEPTH, MAX_NESTING, _expression_error, _Refused, _type_name, _words
from .model import DEFAULT_LIMITS, Limits
from .paths import CompiledPath, compile_path

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
    budget: WorkBudget | None = None,
) -> Any:
    """`compile_expression(source, limits=limits).evaluate(names, context=context, budget=budget)`."""
    return compile_expression(source, limits=limits).evaluate(names, context=context, budget=budget)
