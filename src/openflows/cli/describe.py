"""What people read about a run, derived from the API's run document without changing it.

- `status_text`: the status as shown in tables and the live view. A cancelled run is FAILED with
  `details.code` `FlowCanceled` in the API (as in the hosted service); people read CANCELLED.
- `failure_of`: why a FAILED run failed, led by the provider's own words. A failed action's cause is its
  whole action status document (~15 lines for a transfer); the sentence a person needs is inside it, at
  `details.fatal_error.description` (Transfer), `details.description` (most providers) or `description`
  (a provider's error body, ActionUnableToRun). `reason` is that sentence on one line; the whole cause stays
  available (`runs show --format json`, or `--debug`).
- `format_size`: byte counts in IEC units (`585.9 KiB`), the one convention of the CLI and the dashboard.

The dashboard has the same rules in `ui/static/present.js`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

#: what a cancelled run shows instead of FAILED
CANCELLED = "CANCELLED"
#: longest reason shown on one line; the whole cause is a command away
MAX_REASON_CHARS = 500  # characters
#: 1 KiB
KIB = 1024  # bytes


def is_cancelled(run: dict[str, Any]) -> bool:
    details = run.get("details")
    return (
        run.get("status") == "FAILED" and isinstance(details, dict) and details.get("code") == "FlowCanceled"
    )


def status_text(run: dict[str, Any]) -> str:
    """The run's status for people: CANCELLED for a cancelled run, else the API's status."""
    return CANCELLED if is_cancelled(run) else str(run.get("status") or "")


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a run failed, for people."""

    #: the error name (`ActionFailedException`, `States.Runtime`, a Fail state's Error)
    error: str
    #: the state it failed in, if known
    state: str | None
    #: one line: the provider's description (with its code), or the cause when it is plain text
    reason: str
    #: whether the cause holds more than `reason` shows (an action status document, an error body)
    has_more: bool
    #: the cause as the API gives it
    cause: Any


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` with its whitespace runs (newlines too) made single spaces, cut at `limit` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _described(node: Any) -> str | None:
    """`description (code)` of a `{"code", "description"}` object, or None."""
    if not isinstance(node, dict):
        return None
    description = node.get("description")
    if not isinstance(description, str) or not description.strip():
        return None
    code = node.get("code")
    suffix = f" ({code})" if isinstance(code, str) and code and code not in description else ""
    return one_line(description) + suffix


def cause_reason(cause: Any) -> str:
    """The sentence that explains `cause` (see the module docstring)."""
    if isinstance(cause, str):
        return one_line(cause)
    if isinstance(cause, dict):
        details = cause.get("details")
        if isinstance(details, dict):
            found = _described(details.get("fatal_error")) or _described(details)
            if found:
                return found
        elif isinstance(details, str) and details.strip():
            return one_line(details)
        found = _described(cause)
        if found:
            return found
        for key in ("Cause", "cause", "message", "detail"):
            if isinstance(cause.get(key), str) and cause[key].strip():
                return one_line(cause[key])
    if cause is None:
        return ""
    return one_line(json.dumps(cause, ensure_ascii=False, separators=(",", ":")))


def failure_of(run_or_details: dict[str, Any]) -> Failure | None:
    """The failure of a FAILED run (its document, or a `FlowFailed` log entry's details), else None."""
    if "status" in run_or_details:
        if run_or_details.get("status") != "FAILED" or is_cancelled(run_or_details):
            return None
        details = run_or_details.get("details")
        inner = details.get("details") if isinstance(details, dict) else None
    else:
        inner = run_or_details
    if not isinstance(inner, dict):
        return None
    cause = inner.get("cause")
    reason = cause_reason(cause)
    return Failure(
        error=str(inner.get("error") or "Failed"),
        state=inner.get("state_name") if isinstance(inner.get("state_name"), str) else None,
        reason=reason,
        has_more=isinstance(cause, dict | list),
        cause=cause,
    )


def format_size(value: Any) -> str:
    """`0 B`, `512 B`, `585.9 KiB`, `91.6 MiB`, `1.0 GiB`, ... (IEC, one decimal above bytes)."""
    try:
        size = float(value or 0)
    except (TypeError, ValueError):
        return str(value)
    if abs(size) < KIB:
        return f"{size:.0f} B"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    for unit in units:
        size /= KIB
        if round(abs(size), 1) < KIB or unit == units[-1]:
            break
    return f"{size:.1f} {unit}"
