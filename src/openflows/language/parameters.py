"""`Parameters` templates: build the value a state sends or passes on (spec/flows-language.md §4).

`evaluate_parameters` walks a template's objects and arrays and builds a new JSON value:

- `"name": value` copies the constant (objects and arrays inside are processed recursively);
- `"name.$": "$.path"` becomes `"name"` with the value at the path in the state input (`$._context...` reads
  the run context); a non-definite path gives the list of matches;
- `"name.=": "expression"` becomes `"name"` with the expression's result (see `expressions.py`); all the
  expressions of one template share one work budget (`expression_values.SHARED_WORK`), so a template with
  thousands of expressions cannot spend thousands of budgets;
- `"__Private_Parameters": [...]` is metadata for redaction (`redact.py`) and is dropped from the output.

The result never shares mutable objects with the state or the template. Failures raise
`StatesError("States.Runtime", ...)` with a message naming the field.
"""

from __future__ import annotations

import marshal
from typing import Any

from .errors import ExpressionError, PathNotFound, PathSyntaxError, StatesError
from .expression_evaluator import WorkBudget
from .expressions import compile_expression
from .model import DEFAULT_LIMITS, Limits
from .paths import compile_path

PRIVATE_PARAMETERS_KEY = "__Private_Parameters"
RUNTIME_ERROR = "States.Runtime"


def evaluate_parameters(
    template: Any,
    state: Any,
    *,
    context: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Build the value described by the `Parameters` template `template` from the state input `state`.

    When the same output key is produced twice (e.g. both `a` and `a.$`), the later key in the template wins.
    Raises `StatesError` (`States.Runtime`) when a path is missing or invalid, or an expression fails.
    """
    names = state if isinstance(state, dict) else {}
    return _Builder(state, names, context, limits, WorkBudget()).build(template)


class _Builder:
    """One template evaluation: the state, the names, and the work budget its expressions share."""

    def __init__(self, state: Any, names: dict, context: dict | None, limits: Limits, budget: WorkBudget):
        self.state, self.names, self.context, self.limits, self.budget = state, names, context, limits, budget

    def build(self, template: Any) -> Any:
        if isinstance(template, dict):
            out: dict[str, Any] = {}
            for key, value in template.items():
                if key == PRIVATE_PARAMETERS_KEY:
                    continue
                if not isinstance(key, str):
                    out[key] = self.build(value)
                elif key.endswith(".$"):
                    out[key[:-2]] = _read_reference(key, value, self.state, self.context)
                elif key.endswith(".="):
                    out[key[:-2]] = self.expression(key, value)
                else:
                    out[key] = self.build(value)
            return out
        if isinstance(template, list):
            return [self.build(item) for item in template]
        return template

    def expression(self, key: str, source: Any) -> Any:
        if not isinstance(source, str):
            raise StatesError(
                RUNTIME_ERROR, f"The value of the field '{key}' must be an expression string, not {source!r}."
            )
        try:
            return compile_expression(source, limits=self.limits).evaluate(
                self.names, context=self.context, state=self.state, budget=self.budget
            )
        except ExpressionError as exc:
            reason = getattr(exc, "reason", str(exc))
            raise StatesError(
                RUNTIME_ERROR,
                f"The expression '{_shorten(source)}' specified for the field '{key}' could not be "
                f"evaluated: {reason}",
            ) from None


def _read_reference(key: str, path: Any, state: Any, context: dict | None) -> Any:
    if not isinstance(path, str) or not path.startswith("$"):
        raise StatesError(
            RUNTIME_ERROR,
            f"The value of the field '{key}' must be a JSONPath string starting with '$', not {path!r}.",
        )
    try:
        value = compile_path(path).read(state, context)
    except PathSyntaxError as exc:
        raise StatesError(
            RUNTIME_ERROR, f"The path '{path}' specified for the field '{key}' is not a valid JSONPath: {exc}"
        ) from None
    except PathNotFound:
        raise StatesError(
            RUNTIME_ERROR,
            f"The path '{path}' specified for the field '{key}' could not be found in the state input.",
        ) from None
    return copy_json(value)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (objects and arrays are new; strings and numbers are immutable)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    try:
        return marshal.loads(marshal.dumps(value))  # fast C-level copy of plain JSON data
    except ValueError:
        return _copy_walk(value)


def _copy_walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_walk(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_walk(v) for v in value]
    return value


def private_parameter_names(template: Any) -> frozenset[str]:
    """The names listed in the template's top-level `__Private_Parameters` (without `.$`/`.=` suffixes)."""
    if not isinstance(template, dict):
        return frozenset()
    names = template.get(PRIVATE_PARAMETERS_KEY)
    if not isinstance(names, list):
        return frozenset()
    return frozenset(_base_name(n) for n in names if isinstance(n, str))


def _base_name(name: str) -> str:
    return name[:-2] if name.endswith((".$", ".=")) else name
