"""Catch (spec §6): which catcher handles an error, and the value it writes into the run state.

Catchers are tried in order; the first whose `ErrorEquals` contains the error name, or the wildcard
`States.ALL` (any case, so Gladier's `States.All` works), wins. The caught value is written at the catcher's
`ResultPath` into the state's raw input (the run state before InputPath); without a `ResultPath` the whole run
state is replaced by it. `States.DataLimitExceeded` is terminal and is never caught.

Caught values ("the output of the exception"):
- `ActionFailedException`, `ActionTimeout`: the (latest) action status document, with `state_name`;
- `ActionUnableToRun`: the provider's error body, e.g. `{"code", "description"}`;
- every other error (`States.Runtime`, `States.NoChoiceMatched`, ...): `{"Error": name, "Cause": cause}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Failure
from .retry import error_matches


@dataclass(frozen=True, slots=True)
class Catcher:
    """One element of `Catch`: "ErrorEquals (Required): the error names this catcher handles; Next (Required):
    the state to continue at; ResultPath (Optional): where the caught value goes (default: it replaces the
    whole run state)"."""

    error_equals: tuple[str, ...]
    next: str
    result_path: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catcher:
        return cls(tuple(data["ErrorEquals"]), data["Next"], data.get("ResultPath"))

    def matches(self, error: str) -> bool:
        return error_matches(self.error_equals, error)


def find_catcher(catchers: tuple[Catcher, ...], error: str) -> Catcher | None:
    """The first catcher handling `error`, or None."""
    for catcher in catchers:
        if catcher.matches(error):
            return catcher
    return None


def error_value(failure: Failure) -> dict[str, Any]:
    """The caught value of an error that carries no document of its own."""
    return {"Error": failure.error, "Cause": failure.cause}
