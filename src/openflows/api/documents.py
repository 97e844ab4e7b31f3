"""Flow, run and run-log documents as the hosted service returns them (spec flows-api.md §7), for one caller.

What a caller sees depends on their roles (spec §9): role lists of a flow only for its administrators (the
owner is always shown), `__Private_Parameters` values only for administrators, a run's manager/monitor lists
only for those who may manage it. Private data (`_private*` keys) is always redacted (DESIGN invariant 6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ..auth.scopes import flow_scope
from ..language.model import isoformat
from ..language.redact import redact, redact_definition
from ..shared import roles
from ..store.runs import flow_view

_FLOW_ROLE_LISTS = ("flow_viewers", "flow_starters", "flow_administrators", "run_managers", "run_monitors")


def _time(value: dt.datetime | None) -> str | None:
    return isoformat(value) if value is not None else None


def run_as_scopes(flow_id: Any, definition: Any) -> list[str]:
    """`globus_auth_scopes_by_RunAs` (a list in the OpenAPI schema): one scope per RunAs role of the
    definition's Action states, sorted by role; "User" is the flow's own scope, another role R gets
    `.../flow_<id>_<r>`."""
    base = flow_scope(flow_id)
    names = {"User"}
    states = definition.get("States") if isinstance(definition, dict) else None
    if isinstance(states, dict):
        for state in states.values():
            if (
                isinstance(state, dict)
                and state.get("Type") == "Action"
                and isinstance(state.get("RunAs"), str)
            ):
                names.add(state["RunAs"])
    return [
        base if name == "User" else base.removesuffix("_user") + "_" + name.lower() for name in sorted(names)
    ]


def flow_document(flow: Mapping[str, Any], *, urns: Iterable[str], base_url: str) -> dict[str, Any]:
    """The flow document for a caller holding `urns` (identity + groups)."""
    urns = frozenset(urns)
    held = roles.effective_flow_roles(urns, flow)
    admin = roles.flow_allows(held, roles.Permission.VIEW_ROLES)
    flow_id = str(flow["id"])
    url = f"{base_url.rstrip('/')}/flows/{flow_id}"
    deleted = flow.get("deleted_at") is not None
    doc: dict[str, Any] = {
        "id": flow_id,
        "definition": flow["definition"] if admin else redact_definition(flow["definition"]),
        "input_schema": flow["input_schema"],
        "globus_auth_scope": flow_scope(flow_id),
        "globus_auth_scopes_by_RunAs": run_as_scopes(flow_id, flow["definition"]),
        "synchronous": False,
        "log_supported": True,
        "types": ["Action"],
        "api_version": "1.0",
        "title": flow["title"],
        "subtitle": flow["subtitle"] or "",
        "description": flow["description"] or "",
        "keywords": list(flow["keywords"] or []),
        "principal_urn": f"urn:globus:auth:identity:{flow_id}",
        "globus_auth_username": f"{flow_id}@clients.auth.globus.org",
        "created_at": _time(flow["created_at"]),
        "updated_at": _time(flow["updated_at"]),
        "user_role": roles.strongest(held, roles.FLOW_ROLES),
        "user_roles": roles.ordered(roles.direct_flow_roles(urns, flow), roles.FLOW_ROLES),
        "created_by": flow["created_by"],
        "visible_to": [],
        "runnable_by": [],
        "administered_by": [],
        "action_url": url,
        "flow_url": url,
        "flow_owner": flow["flow_owner"],
        "subscription_id": flow.get("subscription_id"),
        "authentication_policy_id": flow.get("authentication_policy_id"),
        "is_high_assurance": False,
    }
    for key in _FLOW_ROLE_LISTS:
        doc[key] = list(flow[key] or []) if admin and not deleted else []
    if deleted:
        doc["DELETED"] = True
        doc["deleted_at"] = _time(flow["deleted_at"])
        if roles.FLOW_OWNER in held:
            doc["user_role"] = roles.FLOW_OWNER
    return doc


def run_document(
    run: Mapping[str, Any], *, urns: Iterable[str], include_flow_description: bool = False
) -> dict:
    """The run document for a caller; `run` is a run row joined with its flow's columns (`store.runs`)."""
    urns = frozenset(urns)
    held = roles.effective_run_roles(urns, run, flow_view(run))
    see_roles = roles.run_allows(held, roles.Permission.VIEW_ROLES)
    managers = list(run["run_managers"] or []) if see_roles else []
    monitors = list(run["run_monitors"] or []) if see_roles else []
    run_id = str(run["id"])
    doc: dict[str, Any] = {
        "run_id": run_id,
        "action_id": run_id,
        "flow_id": str(run["flow_id"]),
        "flow_title": run["flow_title"],
        "flow_last_updated": _time(run["flow_last_updated"]),
        "start_time": _time(run["start_time"]),
        "status": run["status"],
        "display_status": run["status"],
        "details": redact(run["details"]),
        "run_owner": run["run_owner"],
        "created_by": run["created_by"],
        "run_managers": managers,
        "run_monitors": monitors,
        "manage_by": list(managers),
        "monitor_by": list(monitors),
        "user_role": roles.strongest(held, roles.RUN_ROLES),
        "user_roles": roles.ordered(roles.direct_run_roles(urns, run, flow_view(run)), roles.RUN_ROLES),
        "label": run["label"] or "",
        "tags": list(run["tags"] or []),
        "activity_notification_policy": run["activity_notification_policy"] or {"status": ["INACTIVE"]},
        "blocking_web_input_id": blocking_web_input_id(run),
    }
    if run["completion_time"] is not None:
        doc["completion_time"] = _time(run["completion_time"])
    if include_flow_description:
        doc["flow_description"] = {
            "id": str(run["flow_id"]),
            "title": run["flow_title"],
            "subtitle": run["flow_subtitle"] or "",
            "description": run["flow_description"] or "",
            "keywords": list(run["flow_keywords"] or []),
            "flow_owner": run["flow_owner"],
            "created_by": run["flow_created_by"],
            "created_at": _time(run["flow_created_at"]),
            "updated_at": _time(run["flow_last_updated"]),
            "globus_auth_scope": flow_scope(run["flow_id"]),
        }
    return doc


def blocking_web_input_id(run: Mapping[str, Any]) -> str | None:
    """The web input an unfinished run waits for in an AwaitWebInput state (from its cursor), else None."""
    if run["status"] not in ("ACTIVE", "INACTIVE"):
        return None
    wait = (run.get("cursor") or {}).get("web_input")
    return str(wait["id"]) if isinstance(wait, Mapping) and wait.get("id") else None


def log_entry_document(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "time": _time(row["time"]),
        "code": row["code"],
        "description": row["description"],
        "details": redact(row["details"]),
    }


def run_definition_document(run: Mapping[str, Any], version: Mapping[str, Any], *, admin: bool) -> dict:
    """`GET /runs/{id}/definition`: the definition and input schema the run started with."""
    definition = version["definition"]
    return {
        "flow_id": str(run["flow_id"]),
        "definition": definition if admin else redact_definition(definition),
        "input_schema": version["input_schema"],
    }
