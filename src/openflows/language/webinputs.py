"""Web inputs in the language: what a `CreateWebInput` state's Parameters must hold, the web input document it
writes at its ResultPath, and the response an `AwaitWebInput` state writes. Pure: ids are derived from the
run, the state and the visit (so a replayed step builds the same web input), times come in as arguments.

The public sources fix the web input *document* (globus-sdk's fixtures, the Flows OpenAPI types) but not the
parameter names of `CreateWebInput`. OpenFlows' reading mirrors the document:

    {"input_type": "selection",                               # optional, the only type
     "context": {"title": str, "presentation_style": "text", "text": str}
              | {"title": str, "presentation_style": "table", "rows": [{"field": str, "value": str}]},
     "options": [{"label": str, "description": str?}],        # the service assigns each an option_id
     "roles": {"viewer_urns": [urn], "respondent_urns": [urn]}}

The result of `CreateWebInput` is the document (`id` included, `user_roles` left out: it depends on who
asks); the result of `AwaitWebInput` is the response (`response_document`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import StatesError

#: the namespace of web input ids: uuid5(NAMESPACE, "<run_id>/<state>/<visit>")
NAMESPACE = uuid.UUID("6b0f4f0e-2f5c-5d38-9a7e-0c8e4b1a9d21")
INPUT_TYPES = ("selection",)
PRESENTATION_STYLES = ("text", "table")

MAX_TITLE = 256  # characters
MAX_TEXT = 16_384  # characters
MAX_ROWS = 100  # rows of a table context
MAX_FIELD = 256  # characters of a row's field
MAX_VALUE = 4096  # characters of a row's value
MAX_OPTIONS = 50  # options
MAX_LABEL = 256  # characters of an option's label
MAX_DESCRIPTION = 4096  # characters of an option's description
MAX_URNS = 32  # principals per role list

#: identity and group URNs (the principal pattern of the Flows API)
URN_RE = re.compile(
    r"^urn:globus:(auth:identity|groups:id):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
#: the `input_schema` title, as the hosted service writes it (globus-sdk fixtures)
SCHEMA_TITLE = "Please select an option"

#: errors `AwaitWebInput` raises (Catch applies)
TIMEOUT_ERROR = "WebInputTimeout"
NOT_FOUND_ERROR = "WebInputNotFound"
CLOSED_ERROR = "WebInputClosed"
PARAMETERS_ERROR = "States.Runtime"


@dataclass(frozen=True, slots=True)
class WebInputSpec:
    """A checked `CreateWebInput` body."""

    input_type: str
    context: dict[str, Any]
    options: tuple[dict[str, str], ...]
    viewer_urns: tuple[str, ...]
    respondent_urns: tuple[str, ...]


def _invalid(state: str, where: str, msg: str) -> StatesError:
    return StatesError(PARAMETERS_ERROR, f"The web input of state {state} is invalid: {where} {msg}")


def _text(value: Any, state: str, where: str, *, limit: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, bool | int | float):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    if not isinstance(value, str):
        raise _invalid(state, where, "must be a string")
    if required and not value.strip():
        raise _invalid(state, where, "must not be empty")
    if len(value) > limit:
        raise _invalid(state, where, f"is longer than {limit} characters")
    return value


def _object(value: Any, state: str, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(state, where, "must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise _invalid(
            state, where, f"has unknown keys: {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )
    return value


def _context(value: Any, state: str) -> dict[str, Any]:
    style = value.get("presentation_style") if isinstance(value, dict) else None
    if style not in PRESENTATION_STYLES:
        raise _invalid(state, "context.presentation_style", "must be 'text' or 'table'")
    if style == "text":
        data = _object(value, state, "context", ("title", "presentation_style", "text"))
        return {
            "title": _text(data.get("title"), state, "context.title", limit=MAX_TITLE),
            "presentation_style": "text",
            "text": _text(data.get("text"), state, "context.text", limit=MAX_TEXT, required=False),
        }
    data = _object(value, state, "context", ("title", "presentation_style", "rows"))
    rows = data.get("rows")
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise _invalid(state, "context.rows", f"must be an array of at most {MAX_ROWS} rows")
    out = []
    for i, row in enumerate(rows):
        row = _object(row, state, f"context.rows[{i}]", ("field", "value"))
        out.append(
            {
                "field": _text(row.get("field"), state, f"context.rows[{i}].field", limit=MAX_FIELD),
                "value": _text(
                    row.get("value"), state, f"context.rows[{i}].value", limit=MAX_VALUE, required=False
                ),
            }
        )
    return {
        "title": _text(data.get("title"), state, "context.title", limit=MAX_TITLE),
        "presentation_style": "table",
        "rows": out,
    }


def _options(value: Any, state: str) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OPTIONS:
        raise _invalid(state, "options", f"must be an array of 1 to {MAX_OPTIONS} options")
    out = []
    for i, option in enumerate(value):
        option = _object(option, state, f"options[{i}]", ("label", "description"))
        out.append(
            {
                "label": _text(option.get("label"), state, f"options[{i}].label", limit=MAX_LABEL),
                "description": _text(
                    option.get("description"),
                    state,
                    f"options[{i}].description",
                    limit=MAX_DESCRIPTION,
                    required=False,
                ),
            }
        )
    return tuple(out)


def _urns(value: Any, state: str, where: str, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or len(value) > MAX_URNS:
        raise _invalid(state, where, f"must be an array of at most {MAX_URNS} identity or group URNs")
    for i, urn in enumerate(value):
        if not isinstance(urn, str) or not URN_RE.match(urn):
            raise _invalid(state, f"{where}[{i}]", "must be an identity or group URN")
    if required and not value:
        raise _invalid(state, where, "must name at least one identity or group (who may answer)")
    return tuple(dict.fromkeys(value))


def parse_spec(body: Any, state: str) -> WebInputSpec:
    """Check the evaluated Parameters of `CreateWebInput` state `state`; raise `StatesError` if invalid."""
    data = _object(body, state, "the body", ("input_type", "context", "options", "roles"))
    input_type = data.get("input_type", "selection")
    if input_type not in INPUT_TYPES:
        raise _invalid(state, "input_type", "must be 'selection'")
    for key in ("context", "options", "roles"):
        if key not in data:
            raise _invalid(state, key, "is required")
    roles = _object(data["roles"], state, "roles", ("viewer_urns", "respondent_urns"))
    return WebInputSpec(
        input_type=input_type,
        context=_context(data["context"], state),
        options=_options(data["options"], state),
        viewer_urns=_urns(roles.get("viewer_urns"), state, "roles.viewer_urns", required=False),
        respondent_urns=_urns(roles.get("respondent_urns"), state, "roles.respondent_urns", required=True),
    )


def web_input_id(run_id: str, state: str, visit: int | None) -> str:
    """The id of the web input a visit of a `CreateWebInput` state opens (the same on a replayed step)."""
    return str(uuid.uuid5(NAMESPACE, f"{run_id}/{state}/{visit if visit is not None else 0}"))


def option_id(web_input: str, index: int) -> str:
    return str(uuid.uuid5(uuid.UUID(web_input), f"option/{index}"))


def input_schema(options: list[dict[str, str]]) -> dict[str, Any]:
    """The JSON Schema every response must match: one of the option ids (as the hosted service builds it)."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema",
        "title": SCHEMA_TITLE,
        "type": "string",
        "oneOf": [
            {"const": option["option_id"], "title": option["label"], "description": option["description"]}
            for option in options
        ],
    }


def build_document(
    spec: WebInputSpec,
    *,
    web_input: str,
    creator_urn: str,
    flow_id: str,
    flow_title: str,
    run_id: str,
    run_label: str | None,
    time: str,
) -> dict[str, Any]:
    """The web input document of a new web input (without `user_roles`, which depends on the reader)."""
    options = [{"option_id": option_id(web_input, i), **option} for i, option in enumerate(spec.options)]
    return {
        "id": web_input,
        "status": "open",
        "input_type": spec.input_type,
        "input_schema": input_schema(options),
        "context": spec.context,
        "options": options,
        "roles": {"viewer_urns": list(spec.viewer_urns), "respondent_urns": list(spec.respondent_urns)},
        "creator_urn": creator_urn,
        "flow": {"id": flow_id, "title": flow_title},
        "run": {"id": run_id, "label": run_label},
        "created_timestamp": time,
        "edited_timestamp": time,
        "closed_timestamp": None,
    }


def response_document(
    *, web_input: str, option: dict[str, Any], respondent_urn: str | None, time: str
) -> dict[str, Any]:
    """What `AwaitWebInput` writes at its ResultPath once the web input was answered (OpenFlows' reading):
    the chosen `option_id` as `value` (what the respondent sent), the option itself, who answered (None: an
    anonymous choice at a weboption URL) and when."""
    return {
        "web_input_id": web_input,
        "value": option["option_id"],
        "option": {
            "option_id": option["option_id"],
            "label": option.get("label", ""),
            "description": option.get("description", ""),
        },
        "respondent_urn": respondent_urn,
        "response_timestamp": time,
    }


def awaited_id(body: Any, state: str) -> str:
    """The `WebInputId` an `AwaitWebInput` state waits for, from its evaluated Parameters."""
    value = body.get("WebInputId") if isinstance(body, dict) else None
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise StatesError(
        PARAMETERS_ERROR,
        f"The AwaitWebInput state {state} needs 'WebInputId', the id of a web input (a UUID), in its "
        f"Parameters; got {value!r:.200}",
    )
