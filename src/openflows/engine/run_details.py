"""The `details` documents of a run that ends or goes INACTIVE (the Flows API's shapes: FlowSucceeded,
FlowFailed, a GARE-style inactive document): used by a step that ends a run, by the run endings and by a Map
or Parallel gathering its iterations (fanout.py), below all three."""

from __future__ import annotations

from typing import Any

from ..language.redact import redact


def succeeded_details(output: Any) -> dict[str, Any]:
    return {
        "code": "FlowSucceeded",
        "description": "The Flow run reached a successful completion state",
        "output": redact(output),
    }


def failed_details(error: str, cause: Any, state_name: str | None) -> dict[str, Any]:
    where = f" at state {state_name}" if state_name else ""
    return {
        "code": "FlowFailed",
        "description": f"The Flow run failed{where} with error {error}",
        "details": {"error": error, "cause": redact(cause), "state_name": state_name},
    }


def inactive_details(action_details: dict[str, Any], state_name: str) -> dict[str, Any]:
    """A GARE-style run `details` from an INACTIVE action's details (spec §8 "Inactive")."""
    code = action_details.get("code") if isinstance(action_details.get("code"), str) else "ActionInactive"
    description = action_details.get("description")
    if not isinstance(description, str) or not description:
        description = f"The action of state {state_name} is inactive and needs user intervention"
    params = action_details.get("authorization_parameters")
    params = dict(params) if isinstance(params, dict) else {}
    required_scope = action_details.get("required_scope")
    if isinstance(required_scope, str) and required_scope:
        scopes = params.get("required_scopes")
        if not isinstance(scopes, list):
            params["required_scopes"] = [required_scope]
        elif required_scope not in scopes:
            params["required_scopes"] = [*scopes, required_scope]
    params.setdefault("required_scopes", [])
    details: dict[str, Any] = {"code": code, "description": description, "state_name": state_name}
    if isinstance(required_scope, str) and required_scope:
        details["required_scope"] = required_scope
    resolution_url = action_details.get("resolution_url")
    if isinstance(resolution_url, str):
        details["resolution_url"] = resolution_url
    details["authorization_parameters"] = params
    return redact(details)
