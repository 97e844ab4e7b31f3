"""What a built-in action came to: `Outcome` (status and `details`) and the `details` of a failure; shared by
the stored providers (`stored.py`) and the runner that works on their actions (`runner.py`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..language.storable import find_unstorable


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What an action came to: its status, `details`, and optionally a display status."""

    status: str
    details: Any
    display_status: str | None = None

    @classmethod
    def succeeded(cls, details: Any) -> Outcome:
        return cls("SUCCEEDED", details)

    @classmethod
    def failed(cls, details: Any, display_status: str | None = None) -> Outcome:
        return cls("FAILED", details, display_status)


def failure(code: str, description: str, **more: Any) -> dict[str, Any]:
    """A FAILED action's `details`: `{"code", "description", ...}`."""
    return {"code": code, "description": description, **more}


def storable_outcome(outcome: Outcome) -> Outcome:
    """`outcome`, or a FAILED one saying why when its `details` hold text that cannot be stored
    (`language/storable.py`: an expression's `chr(0)`, a file name that is not UTF-8, ...)."""
    bad = find_unstorable(outcome.details)
    if bad is None:
        return outcome
    return Outcome.failed(failure("UnstorableResult", bad.describe("The result of the action")))
