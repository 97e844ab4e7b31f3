"""Checks of the registered APIs a flow definition uses (issue 15), run when a flow is created, updated or
validated: every `{"Type": "RegisteredAPI", "Id"}` handler names a registered API that exists, is not marked
for deletion, and on which the flow's owner holds a role; and the state's `Parameters`, where they are static,
fit the API's `state_input_schema`.

Static means: no `.$` key and no `=` expression at that place. Fully static values are validated against
their subschema; keys given dynamically count as present (their values are checked at run time, by the
engine, before the call); a missing required key or an unknown key where the schema forbids others is a
problem. Problems are located at `definition.States.<name>.Handler.Id` or `...Parameters.<key>...`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jsonschema
import sqlalchemy as sa

from ..language.analysis import registered_api_states
from ..shared import roles
from ..store import registered_apis as store

Loc = tuple[str | int, ...]
#: most problems reported about one definition's registered API states
MAX_PROBLEMS = 50

__all__ = ["check_registered_api_states", "check_static_parameters", "registered_api_states"]


def _dynamic(key: str, value: Any) -> bool:
    return key.endswith(".$") or (isinstance(value, str) and value.startswith("="))


def check_registered_api_states(
    conn: sa.Connection, definition: Any, *, owner_urns: frozenset[str], now: dt.datetime
) -> list[dict[str, Any]]:
    """The problems (422 `detail` entries) of a definition's registered API states."""
    wanted = registered_api_states(definition)
    if not wanted:
        return []
    ids: dict[str, uuid.UUID] = {}
    for name, text in wanted.items():
        try:
            ids[name] = uuid.UUID(text)
        except ValueError:
            continue  # the definition validator reports it
    found = store.get_registered_apis(conn, api_ids=list(ids.values()), now=now)
    problems: list[dict[str, Any]] = []
    for name, api_id in ids.items():
        loc: Loc = ("definition", "States", name)
        api = found.get(api_id)
        if api is None or not roles.effective_api_roles(owner_urns, api):
            problems.append(
                _problem((*loc, "Handler", "Id"), f"No Registered API exists with id value {api_id}")
            )
            continue
        if api["status"] != store.ACTIVE:
            problems.append(
                _problem((*loc, "Handler", "Id"), f"The registered API {api_id} ({api['name']}) was deleted")
            )
            continue
        state = definition["States"][name]
        if "Parameters" in state:
            problems += check_static_parameters(
                state["Parameters"], api["state_input_schema"], (*loc, "Parameters")
            )
    return problems[:MAX_PROBLEMS]


def _problem(loc: Loc, msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


def check_static_parameters(parameters: Any, schema: Any, loc: Loc) -> list[dict[str, Any]]:
    """Problems of the static parts of `parameters` against `schema` (see the module docstring)."""
    if not isinstance(schema, dict):
        return []
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    root = validator_cls(schema)
    problems: list[dict[str, Any]] = []
    _walk(parameters, schema, loc, root, problems)
    return problems


def _resolve(subschema: dict[str, Any], root: Any) -> dict[str, Any]:
    """Follow a local `$ref` (`#/$defs/...`) of a subschema, a few hops at most."""
    for _ in range(8):
        ref = subschema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return subschema
        target: Any = root.schema
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            )
        if not isinstance(target, dict):
            return subschema
        subschema = target
    return subschema


def _has_dynamic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_dynamic(str(k), v) or _has_dynamic(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_dynamic(v) for v in value)
    return isinstance(value, str) and value.startswith("=")


def _walk(value: Any, schema: Any, loc: Loc, root: Any, problems: list[dict[str, Any]]) -> None:
    if not isinstance(schema, dict) or len(problems) >= MAX_PROBLEMS:
        return
    schema = _resolve(schema, root)
    if not _has_dynamic(value):
        for error in root.evolve(schema=schema).iter_errors(value):
            where = [*loc, *error.absolute_path]
            problems.append({"loc": where, "msg": error.message[:500], "type": "value_error"})
            if len(problems) >= MAX_PROBLEMS:
                return
        return
    if not isinstance(value, dict):
        return  # a list or expression with dynamic parts: checked at run time
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    present = {str(k)[:-2] if str(k).endswith(".$") else str(k) for k in value}
    for name in schema.get("required") or []:
        if name not in present:
            problems.append(_problem(loc, f"'{name}' is a required property"))
    for key, item in value.items():
        name = str(key)[:-2] if str(key).endswith(".$") else str(key)
        if name in properties:
            if not _dynamic(str(key), item):
                _walk(item, properties[name], (*loc, str(key)), root, problems)
        elif schema.get("additionalProperties") is False:
            problems.append(_problem((*loc, str(key)), f"'{name}' is not a parameter of this registered API"))
