"""What a definition uses that a flow on the hosted Globus Flows service could not: the OpenFlows extensions.

`portability_notes(definition)` lists each place, sub-machines included, as a `Problem` of type
`not_portable` with the feature's name in `FEATURES`:

- `Succeed`, `Map`, `Parallel`: state types the hosted service does not have (at `(..., "Type")`);
- `Retry`: on any state (at `(..., "Retry")`);
- `AwaitWebInput.WaitTime`: a deadline on an AwaitWebInput state (at `(..., "WaitTime")`);
- `http`: an action provider URL that is not `https://` (at `ActionUrl`, `Handler` or `Handler.Url`).

The same features make `validate_definition(strict=True)` fail; this list is informational (the definition
is valid for OpenFlows) and also walks inside Map and Parallel states, which strict mode refuses as a whole.
`openflows flows validate --portable` prints it and `POST /flows/validate` returns it as
`analysis.portability`. Never raises, whatever the definition.
"""

from __future__ import annotations

from typing import Any

from .model import Problem
from .nested import iter_states

#: every feature name `portability_notes` may report
FEATURES = ("Succeed", "Map", "Parallel", "Retry", "AwaitWebInput.WaitTime", "http")

_TYPE_NOTES = {
    "Succeed": "State type 'Succeed' is an OpenFlows extension; on Globus, end with \"End\": true instead",
    "Map": "State type 'Map' is an OpenFlows extension; a hosted Globus flow cannot use it",
    "Parallel": "State type 'Parallel' is an OpenFlows extension; a hosted Globus flow cannot use it",
}


def portability_notes(definition: Any) -> list[Problem]:
    """Each use of an OpenFlows extension in `definition`, in definition order (depth first)."""
    return [note for note, _ in _notes(definition)]


def portability_entries(definition: Any, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """`portability_notes` as JSON entries `{"loc", "msg", "type": "not_portable", "feature"}`."""
    return [{**note.as_dict(prefix), "feature": feature} for note, feature in _notes(definition)]


def _notes(definition: Any) -> list[tuple[Problem, str]]:
    notes: list[tuple[Problem, str]] = []

    def note(loc: tuple[str | int, ...], msg: str, feature: str) -> None:
        notes.append((Problem(loc, msg, "not_portable"), feature))

    for loc, _name, state in iter_states(definition):
        if not isinstance(state, dict):
            continue
        type_ = state.get("Type")
        if isinstance(type_, str) and type_ in _TYPE_NOTES:
            note((*loc, "Type"), _TYPE_NOTES[type_], type_)
        if "Retry" in state:
            note(
                (*loc, "Retry"),
                "'Retry' is an OpenFlows extension; a hosted Globus flow cannot use it",
                "Retry",
            )
        if type_ == "AwaitWebInput" and "WaitTime" in state:
            note(
                (*loc, "WaitTime"),
                "'WaitTime' on an AwaitWebInput state is an OpenFlows extension",
                "AwaitWebInput.WaitTime",
            )
        for url_loc, url in _urls(state):
            if isinstance(url, str) and url.startswith("http://"):
                note(
                    (*loc, *url_loc), "A hosted Globus flow calls action providers over https:// only", "http"
                )
    return notes


def _urls(state: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    if "ActionUrl" in state:
        found.append((("ActionUrl",), state["ActionUrl"]))
    handler = state.get("Handler")
    if isinstance(handler, str):
        found.append((("Handler",), handler))
    elif isinstance(handler, dict) and "Url" in handler:
        found.append((("Handler", "Url"), handler["Url"]))
    return found
