"""Errors raised inside the language library.

Definition problems are reported as data (`Problem`), runtime failures of a run as data (`Failure`, inside a
`Decision`). Exceptions are for the library's own internal signalling and for bugs; `StatesError` carries a
`Failure` from deep inside parameter/path/expression evaluation up to `step()`, which makes it a decision.
"""

from __future__ import annotations

from .model import Failure


class LanguageError(Exception):
    """Base class of every error raised by `openflows.language`."""


class PathSyntaxError(LanguageError, ValueError):
    """A JSONPath string is not a valid reference path."""


class PathNotFound(LanguageError, LookupError):
    """A JSONPath names a location that does not exist in the document."""


class PathWriteError(LanguageError):
    """A value cannot be written at a ResultPath (e.g. under `$._context`, or through a non-object)."""


class ExpressionError(LanguageError):
    """A `.=` expression failed to evaluate. The message names the expression."""


class ExpressionSyntaxError(ExpressionError):
    """A `.=` expression does not parse, or uses a construct that is not allowed."""


class InvalidDefinition(LanguageError, ValueError):
    """A definition that did not pass `validate_definition` was given to the interpreter."""

    def __init__(self, problems: list) -> None:  # list[Problem]
        self.problems = problems
        first = problems[0] if problems else None
        super().__init__(f"invalid definition: {first.msg if first else 'unknown problem'}")


class StatesError(LanguageError):
    """A run-time failure with a Flows/ASL error name (e.g. `States.Runtime`); becomes a `Failure`."""

    def __init__(self, error: str, cause: object) -> None:
        self.failure = Failure(error=error, cause=cause)
        super().__init__(f"{error}: {cause}")
