"""The run time of `.=` expressions (see `expressions.py`): `CompiledExpression.evaluate` runs a checked tree
on simpleeval's `EvalWithCompoundTypes`, hardened by `_Evaluator`: name resolution on copies, attribute
rules, size checks before building and the work meter.
"""

from __future__ import annotations

import ast
import operator
import posixpath
import threading
from dataclasses import dataclass
from typing import Any

from simpleeval import EvalWithCompoundTypes

from . import expression_costs as costs
from .errors import ExpressionError, PathNotFound, PathSyntaxError
from .expression_values import (
    _CONTAINERS,
    _METHODS,
    _MISSING,
    _UNSET,
    MAX_COMPREHENSION_LENGTH,
    MAX_WORK,
    NODE_COST,
    SHARED_WORK,
    _copy_value,
    _deep_size,
    _describe_exception,
    _expression_error,
    _Function,
    _Method,
    _Refused,
    _to_json,
    _type_name,
)
from .model import DEFAULT_LIMITS, Limits
from .paths import CompiledPath, compile_path


class WorkBudget:
    """Work units shared by several evaluations: pass the same budget to each `evaluate`."""

    __slots__ = ("remaining",)

    def __init__(self, units: int = SHARED_WORK) -> None:
        self.remaining = units


@dataclass(frozen=True, slots=True, eq=False)
class CompiledExpression:
    """A checked, parsed `.=` expression. Build with `compile_expression`; run with `.evaluate`."""

    source: str
    tree: ast.expr
    #: generated name -> compiled backtick JSONPath
    paths: dict[str, CompiledPath]
    limits: Limits

    def evaluate(
        self,
        names: dict[str, Any],
        *,
        context: dict[str, Any] | None = None,
        state: Any = _UNSET,
        budget: WorkBudget | None = None,
    ) -> Any:
        """Evaluate with `names` (the run state's top-level keys) and `_context` bound to `context`.

        Backtick paths, `is_present` and `getattr` read from `state`, which defaults to `names`. With
        `budget`, the evaluation may spend at most what is left of it (and at most MAX_WORK), and what it
        spends is taken from it. Returns a fresh JSON value; raises `ExpressionError` (whose message names
        the expression) on any failure.
        """
        if state is _UNSET:
            state = names
        if not isinstance(names, dict):
            names = {}
        evaluator = _acquire_evaluator()
        if budget is not None:
            evaluator.max_work = min(MAX_WORK, budget.remaining)
            evaluator.shared = budget.remaining < MAX_WORK
        try:
            result = evaluator.run(self, names, context, state)
            return _to_json(result, self.limits.max_run_state_bytes)
        except Exception as exc:  # every failure becomes an ExpressionError naming the expression
            raise _expression_error(ExpressionError, self.source, _describe_exception(exc)) from None
        finally:
            if budget is not None:
                budget.remaining = max(budget.remaining - evaluator.work, 0)
            evaluator.release()


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval's `EvalWithCompoundTypes` with OpenFlows' name resolution, attribute rules and guards.

    One instance per thread is reused (see `_acquire_evaluator`); `run` resets its per-evaluation state.
    """

    def __init__(self) -> None:
        super().__init__(names={})
        self.operators = {
            ast.Add: self._op_add,
            ast.Sub: self._op_linear(operator.sub, "'-'"),
            ast.Mult: self._op_mult,
            ast.Div: self._op_divide(operator.truediv),
            ast.FloorDiv: self._op_divide(operator.floordiv),
            ast.Mod: self._op_mod,
            ast.Pow: self._op_pow,
            ast.LShift: self._op_lshift,
            ast.RShift: self._op_linear(operator.rshift, "'>>'"),
            ast.BitOr: self._op_linear(operator.or_, "'|'"),
            ast.BitXor: self._op_linear(operator.xor, "'^'"),
            ast.BitAnd: self._op_linear(operator.and_, "'&'"),
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
            ast.USub: self._op_unary(operator.neg, "'-'"),
            ast.UAdd: self._op_unary(operator.pos, "'+'"),
            ast.Invert: self._op_unary(operator.invert, "'~'"),
        }
        fns = {
            "len": len,
            "str": self._fn_str,
            "int": self._fn_int,
            "float": float,
            "bool": bool,
            "list": list,
            "dict": self._deep_args(dict),
            "tuple": tuple,
            "set": self._deep_args(set),
            "sorted": self._fn_sorted,
            "min": self._deep_args(min),
            "max": self._deep_args(max),
            "sum": self._deep_args(_fn_sum),
            "abs": abs,
            "round": self._fn_round,
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
        self.nodes[ast.Set] = self._eval_set
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
        self.max_work = MAX_WORK
        self.shared = False  # whether max_work is what other evaluations left of a shared budget
        self.iterations = 0
        #: deep sizes by object id; values never change during an evaluation, so sizes stay valid
        self.deep_sizes: dict[int, int] = {}
        self.deep_keep: list[Any] = []
        limits = compiled.limits if compiled is not None else DEFAULT_LIMITS
        self.max_length = limits.max_run_state_bytes

    def run(self, compiled: CompiledExpression, names: dict, context: Any, state: Any) -> Any:
        max_work, shared = self.max_work, self.shared
        self._reset(compiled, names, context, state)
        self.max_work, self.shared = max_work, shared
        self.expr = compiled.source
        return self._eval(compiled.tree)

    def release(self) -> None:
        self._reset(None, {}, None, _UNSET)
        self.busy = False

    # -- metering -------------------------------------------------------------------------------------------

    def over_budget(self) -> Exception:
        if self.shared:
            return _Refused(
                "the expression needs too much work (evaluation budget exceeded, shared with the expressions "
                "evaluated before it in the same state or request)"
            )
        return _Refused("the expression needs too much work (evaluation budget exceeded)")

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.max_work:
            raise self.over_budget()

    def charge_value(self, value: Any) -> None:
        t = type(value)
        if t is str:
            self.work += len(value) >> 5
        elif t is list or t is dict or t is tuple or t is set:
            self.work += len(value)
        elif t is int:
            self.work += value.bit_length() // costs.LINEAR_BITS_PER_UNIT
        else:
            return
        if self.work > self.max_work:
            raise self.over_budget()

    def charge_deep(self, value: Any) -> None:
        """Charge for work that walks all of `value` (deep comparison, hashing, searching)."""
        t = type(value)
        if t is str:
            self.work += len(value) >> 5
        elif t is int:
            self.work += value.bit_length() // costs.LINEAR_BITS_PER_UNIT
        elif t in _CONTAINERS or t is dict:
            size = self.deep_sizes.get(id(value))
            if size is None:
                size = _deep_size(value, self.max_work - self.work, self.deep_sizes)
                self.deep_keep.append(value)  # keeps the ids in deep_sizes valid
            self.work += size
        else:
            return
        if self.work > self.max_work:
            raise self.over_budget()

    def check_size(self, value: Any, what: str) -> None:
        """Refuse a string or collection longer than the run-state size limit; charge for it."""
        if isinstance(value, (str, list, tuple, dict, set)):
            if len(value) > self.max_length:
                raise _Refused(f"{what} built a value longer than {self.max_length}")
            self.charge_value(value)

    def _eval(self, node: Any) -> Any:
        self.work += NODE_COST
        if self.work > self.max_work:
            raise self.over_budget()
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
            self.charge_value(key)  # hashing a large integer costs its size
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
                k = self._eval(key)
                self.charge_value(k)
                result[k] = self._eval(value)
        self.check_size(result, "an object literal")
        return result

    def _eval_set(self, node: ast.Set) -> set:
        items = [self._eval(x) for x in node.elts]
        for item in items:
            self.charge_value(item)  # hashing
        return set(items)

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
                    key = self._eval(node.key)
                    self.charge_value(key)
                    result[key] = self._eval(node.value)
                else:
                    result.append(self._eval(node.elt))

    # -- operators ------------------------------------------------------------------------------------------

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
        return self._int_result(a + b, a, b, "'+'")

    def _op_linear(self, fn: Any, symbol: str) -> Any:
        """A binary operator whose cost is linear in its operands (`-`, `>>`, `|`, `^`, `&`)."""

        def op(a: Any, b: Any) -> Any:
            result = fn(a, b)
            if type(result) is int:
                return self._int_result(result, a, b, symbol)
            self.check_size(result, "an operator")
            return result

        return op

    def _op_unary(self, fn: Any, symbol: str) -> Any:
        """`-x`, `+x`, `~x`: linear in the size of an integer operand."""

        def op(a: Any) -> Any:
            result = fn(a)
            return self._int_result(result, a, 0, symbol) if type(result) is int else result

        return op

    def _int_result(self, result: Any, a: Any, b: Any, symbol: str) -> Any:
        """Charge a linear-time integer operation and refuse an integer result over MAX_INT_BITS."""
        if type(result) is int:
            self.charge(costs.linear_work(a, b))
            costs.check_int(result, symbol)
        return result

    def _op_divide(self, fn: Any) -> Any:
        """`/` and `//`: quadratic in the operands' sizes for integers."""

        def op(a: Any, b: Any) -> Any:
            if isinstance(a, int) and isinstance(b, int):
                self.charge(costs.division_work(a, b))
            return fn(a, b)

        return op

    def _op_mult(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            self.charge(costs.multiply_work(a, b))
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
        if isinstance(a, int) and isinstance(b, int):
            self.charge(costs.power_work(a, b))
        return a**b

    def _op_lshift(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            self.charge(costs.shift_work(a, b))
        return a << b

    def _op_mod(self, a: Any, b: Any) -> Any:
        if isinstance(a, str):
            self.charge(costs.percent_scan_work(a))
            self.charge(costs.precheck_percent_format(a, b, self.max_length))
        elif isinstance(a, int) and isinstance(b, int):
            self.charge(costs.division_work(a, b))
        result = a % b
        self.check_size(result, "'%' formatting")
        return result

    # -- functions that need the evaluator ------------------------------------------------------------------

    def _fn_str(self, *args: Any) -> str:
        if args:
            length, work = costs.estimate_text(args[0], self.max_length)
            if length > self.max_length:
                raise _Refused(f"str() would build a string longer than {self.max_length} characters")
            self.charge(work)
        return str(*args)

    def _fn_int(self, *args: Any, **kwargs: Any) -> int:
        if args and isinstance(args[0], str):
            base = args[1] if len(args) > 1 else kwargs.get("base", 10)
            self.charge(costs.int_parse_work(args[0], base))
        result = int(*args, **kwargs)
        costs.check_int(result, "int()")
        return result

    def _fn_round(self, number: Any, ndigits: Any = None) -> Any:
        if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > 1000:
            raise _Refused("round(): ndigits must be between -1000 and 1000")
        if isinstance(number, int) and isinstance(ndigits, int) and ndigits < 0:
            self.charge(costs.division_work(number, 10 ** (-ndigits)))
        return round(number, ndigits)

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


def _fn_sum(iterable: Any, start: Any = 0) -> Any:
    items = list(iterable)
    for x in (start, *items):
        if not isinstance(x, (int, float)):
            raise _Refused(f"sum() adds numbers only, not {_type_name(x)} (use + to join strings or lists)")
    return sum(items, start)


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
