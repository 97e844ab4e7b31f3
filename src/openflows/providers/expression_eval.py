"""The built-in `expression_eval` provider (spec/flows-language.md §5 "Expression AP form", §12): evaluates
expressions of the flow language with `openflows.language.expressions`, names taken from `arguments` only.

Body: `{expression, arguments?, result_path?}` or `{expressions: [{expression, arguments?, result_path?},
...]}`.
Output `details`: each result at its `result_path` (default `result`); later expressions overwrite earlier
ones. An expression that does not evaluate makes the action FAILED with the evaluator's message. The
expressions of one request share one work budget (`expression_values.SHARED_WORK`).
Synchronous.
"""

from __future__ import annotations

from typing import Any

from ..auth.scopes import PROVIDER_SCOPES
from ..language.errors import LanguageError
from ..language.expression_evaluator import WorkBudget
from ..language.expressions import evaluate_expression
from ..language.paths import write_path
from .base import BadActionRequest, Caller
from .outcomes import Outcome, failure
from .stored import StoredProvider

#: the scope of the hosted expression_eval provider
EXPRESSION_EVAL_SCOPE = PROVIDER_SCOPES["expression_eval"]
#: `result_path` when an expression has none
DEFAULT_RESULT_PATH = "result"


def _check_one(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise BadActionRequest("each expression must be an object with an expression string")
    expression = spec.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise BadActionRequest("expression must be a non-empty string")
    arguments = spec.get("arguments", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise BadActionRequest("arguments must be an object")
    result_path = spec.get("result_path", DEFAULT_RESULT_PATH) or DEFAULT_RESULT_PATH
    if not isinstance(result_path, str):
        raise BadActionRequest("result_path must be a string")
    return {"expression": expression, "arguments": arguments, "result_path": result_path}


class ExpressionEvalProvider(StoredProvider):
    """Evaluate flow-language expressions."""

    name = "expression_eval"
    hosted_urls = (
        "https://actions.globus.org/expression_eval",
        "https://actions.automate.globus.org/expression_eval",
    )
    title = "Expression evaluation"
    description = "Evaluates expressions of the flow language with names from `arguments`."
    keywords = ("expression", "evaluate")
    globus_auth_scope = EXPRESSION_EVAL_SCOPE
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "expression": {"type": "string"},
            "arguments": {"type": "object"},
            "result_path": {"type": "string"},
            "expressions": {"type": "array", "items": {"type": "object"}},
        },
    }

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        if "expressions" in body:
            specs = body["expressions"]
            if not isinstance(specs, list) or not specs:
                raise BadActionRequest("expressions must be a non-empty list")
            return {"expressions": [_check_one(spec) for spec in specs]}
        return {"expressions": [_check_one(body)]}

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        details: Any = {}
        budget = WorkBudget()  # shared by the request's expressions: a list of thousands cannot hold the CPU
        for spec in state["expressions"]:
            try:
                value = evaluate_expression(spec["expression"], spec["arguments"], budget=budget)
                path = spec["result_path"]
                details = write_path(details, path if path.startswith("$") else f"$.{path}", value)
            except LanguageError as exc:
                return Outcome.failed(
                    failure("ExpressionEvaluationError", str(exc), expression=spec["expression"])
                )
        return Outcome.succeeded(details)
