"""The role model of spec flows-api.md §9: who holds which role on a flow or a run, and what each role may do.

Pure functions over a caller's principal URNs (identity URN + group URNs) and the role lists stored on a flow
or a run; used by the API and the dashboard. Role names are the singular ones (`flow_viewer`,
`run_manager`...); `normalize_role` maps the plural spellings of the OpenAPI enums onto them.

Flow roles, strongest first: flow_owner ⊃ flow_administrator ⊃ flow_starter ⊃ flow_viewer. `"public"` in
`flow_viewers` makes everyone a viewer, `"all_authenticated_users"` in `flow_starters` makes every caller a
starter. The flow-level `run_managers` / `run_monitors` lists grant `flow_run_manager` / `flow_run_monitor` on
every run of the flow; flow administrators and the owner act as flow run managers.

Run roles: run_owner ⊃ run_manager ⊃ run_monitor, plus flow_run_manager ⊃ flow_run_monitor from the flow. A
caller with no role at all on a flow or run must not learn it exists (404); a caller with some role but not
the one an operation needs gets 403.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

PUBLIC = "public"
ALL_AUTHENTICATED_USERS = "all_authenticated_users"

FLOW_OWNER = "flow_owner"
FLOW_ADMINISTRATOR = "flow_administrator"
FLOW_STARTER = "flow_starter"
FLOW_VIEWER = "flow_viewer"
RUN_OWNER = "run_owner"
RUN_MANAGER = "run_manager"
RUN_MONITOR = "run_monitor"
FLOW_RUN_MANAGER = "flow_run_manager"
FLOW_RUN_MONITOR = "flow_run_monitor"

#: roles a caller can hold on a flow, strongest first (run_manager / run_monitor = the flow-level lists)
FLOW_ROLES = (FLOW_OWNER, FLOW_ADMINISTRATOR, FLOW_STARTER, FLOW_VIEWER, RUN_MANAGER, RUN_MONITOR)
#: roles a caller can hold on a run, strongest first
RUN_ROLES = (RUN_OWNER, RUN_MANAGER, FLOW_RUN_MANAGER, RUN_MONITOR, FLOW_RUN_MONITOR)

#: role -> the weaker roles it implies
_FLOW_IMPLIES = {
    FLOW_OWNER: (FLOW_ADMINISTRATOR, FLOW_STARTER, FLOW_VIEWER, RUN_MANAGER, RUN_MONITOR),
    FLOW_ADMINISTRATOR: (FLOW_STARTER, FLOW_VIEWER, RUN_MANAGER, RUN_MONITOR),
    FLOW_STARTER: (FLOW_VIEWER,),
    RUN_MANAGER: (RUN_MONITOR,),
}
_RUN_IMPLIES = {
    RUN_OWNER: (RUN_MANAGER, RUN_MONITOR),
    RUN_MANAGER: (RUN_MONITOR,),
    FLOW_RUN_MANAGER: (FLOW_RUN_MONITOR,),
}

#: the flow list column holding each flow role's principals
FLOW_ROLE_COLUMNS = {
    FLOW_ADMINISTRATOR: "flow_administrators",
    FLOW_STARTER: "flow_starters",
    FLOW_VIEWER: "flow_viewers",
    RUN_MANAGER: "run_managers",
    RUN_MONITOR: "run_monitors",
}

#: plural and legacy spellings accepted in `filter_roles` / `filter_role`
_ALIASES = {
    "flow_owners": FLOW_OWNER,
    "flow_administrators": FLOW_ADMINISTRATOR,
    "flow_starters": FLOW_STARTER,
    "flow_viewers": FLOW_VIEWER,
    "run_managers": RUN_MANAGER,
    "run_monitors": RUN_MONITOR,
    "run_owners": RUN_OWNER,
    "flow_run_managers": FLOW_RUN_MANAGER,
    "flow_run_monitors": FLOW_RUN_MONITOR,
    # legacy action-provider names
    "visible_to": FLOW_VIEWER,
    "runnable_by": FLOW_STARTER,
    "administered_by": FLOW_ADMINISTRATOR,
    "created_by": FLOW_OWNER,
    "monitor_by": RUN_MONITOR,
    "manage_by": RUN_MANAGER,
}


class Permission(enum.StrEnum):
    """An operation on a flow or a run; the value is the word the 403 message names."""

    VIEW = "VIEW"
    RUN = "RUN"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    VIEW_ROLES = "VIEW_ROLES"
    VIEW_PRIVATE = "VIEW_PRIVATE"
    MONITOR = "MONITOR"
    MANAGE = "MANAGE"
    CANCEL = "CANCEL"
    RELEASE = "RELEASE"
    RESUME = "RESUME"


#: which effective roles grant each permission
_FLOW_GRANTS: dict[Permission, frozenset[str]] = {
    Permission.VIEW: frozenset({FLOW_VIEWER}),
    Permission.RUN: frozenset({FLOW_STARTER}),
    Permission.UPDATE: frozenset({FLOW_ADMINISTRATOR}),
    Permission.DELETE: frozenset({FLOW_ADMINISTRATOR}),
    Permission.VIEW_ROLES: frozenset({FLOW_ADMINISTRATOR}),
    Permission.VIEW_PRIVATE: frozenset({FLOW_ADMINISTRATOR}),
}
_RUN_GRANTS: dict[Permission, frozenset[str]] = {
    Permission.VIEW: frozenset({RUN_MONITOR, FLOW_RUN_MONITOR}),
    Permission.MONITOR: frozenset({RUN_MONITOR, FLOW_RUN_MONITOR}),
    Permission.VIEW_ROLES: frozenset({RUN_MANAGER, FLOW_RUN_MANAGER}),
    Permission.MANAGE: frozenset({RUN_MANAGER, FLOW_RUN_MANAGER}),
    Permission.UPDATE: frozenset({RUN_MANAGER, FLOW_RUN_MANAGER}),
    Permission.CANCEL: frozenset({RUN_MANAGER, FLOW_RUN_MANAGER}),
    Permission.RELEASE: frozenset({RUN_MANAGER, FLOW_RUN_MANAGER}),
    # flow-level run managers get every run-manager right except resume (§9)
    Permission.RESUME: frozenset({RUN_MANAGER}),
}


def role_spellings() -> tuple[str, ...]:
    """Every name `normalize_role` understands (singular, plural and legacy spellings), lowercase."""
    return (*FLOW_ROLES, *(r for r in RUN_ROLES if r not in FLOW_ROLES), *_ALIASES)


def normalize_role(name: str) -> str | None:
    """The singular role name for `name` (singular, plural or legacy spelling), or None if unknown."""
    name = name.strip().lower()
    if name in FLOW_ROLES or name in RUN_ROLES:
        return name
    return _ALIASES.get(name)


def _closure(direct: Iterable[str], implies: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    roles = set(direct)
    for role in list(roles):
        roles.update(implies.get(role, ()))
    return frozenset(roles)


def direct_flow_roles(urns: Iterable[str], flow: Mapping[str, Any]) -> frozenset[str]:
    """Roles granted to `urns` on `flow` by name (no implied roles); `flow` has the flow role list keys."""
    urns = frozenset(urns)
    roles = set()
    if flow["flow_owner"] in urns:
        roles.add(FLOW_OWNER)
    for role, column in FLOW_ROLE_COLUMNS.items():
        members = set(flow.get(column) or ())
        if members & urns:
            roles.add(role)
    if PUBLIC in (flow.get("flow_viewers") or ()):
        roles.add(FLOW_VIEWER)
    if urns and ALL_AUTHENTICATED_USERS in (flow.get("flow_starters") or ()):
        roles.add(FLOW_STARTER)
    return frozenset(roles)


def effective_flow_roles(urns: Iterable[str], flow: Mapping[str, Any]) -> frozenset[str]:
    """Every role `urns` hold on `flow`, implied ones included."""
    return _closure(direct_flow_roles(urns, flow), _FLOW_IMPLIES)


def direct_run_roles(urns: Iterable[str], run: Mapping[str, Any], flow: Mapping[str, Any]) -> frozenset[str]:
    """Roles granted to `urns` on `run` by name: run lists plus the flow-level run roles of its flow."""
    urns = frozenset(urns)
    roles = set()
    if run["run_owner"] in urns:
        roles.add(RUN_OWNER)
    if set(run.get("run_managers") or ()) & urns:
        roles.add(RUN_MANAGER)
    if set(run.get("run_monitors") or ()) & urns:
        roles.add(RUN_MONITOR)
    flow_roles = effective_flow_roles(urns, flow)
    if RUN_MANAGER in flow_roles:  # flow-level run manager; administrators and the owner imply it
        roles.add(FLOW_RUN_MANAGER)
    if RUN_MONITOR in flow_roles:
        roles.add(FLOW_RUN_MONITOR)
    return frozenset(roles)


def effective_run_roles(
    urns: Iterable[str], run: Mapping[str, Any], flow: Mapping[str, Any]
) -> frozenset[str]:
    return _closure(direct_run_roles(urns, run, flow), _RUN_IMPLIES)


def flow_allows(roles: Iterable[str], permission: Permission) -> bool:
    return bool(_FLOW_GRANTS[permission] & set(roles))


def run_allows(roles: Iterable[str], permission: Permission) -> bool:
    return bool(_RUN_GRANTS[permission] & set(roles))


def strongest(roles: Iterable[str], order: tuple[str, ...]) -> str | None:
    """The first role of `order` that is in `roles` (the document's `user_role`)."""
    held = set(roles)
    return next((role for role in order if role in held), None)


def ordered(roles: Iterable[str], order: tuple[str, ...]) -> list[str]:
    """`roles` sorted strongest first (the document's `user_roles`)."""
    held = set(roles)
    return [role for role in order if role in held]


def flow_filter_principals(role: str, urns: Iterable[str]) -> list[str]:
    """Principals whose presence in a flow's `role` rows means `urns` hold that role directly (role filters):
    the caller's URNs, plus "public" for viewers and "all_authenticated_users" for starters."""
    principals = list(urns)
    authenticated = bool(principals)
    if role == FLOW_VIEWER:
        principals.append(PUBLIC)
    if role == FLOW_STARTER and authenticated:
        principals.append(ALL_AUTHENTICATED_USERS)
    return principals


#: role filter -> the stored flow role rows that satisfy it. Filters match roles held directly (by identity or
#: group URN, "public" or "all_authenticated_users"), not implied ones: `flow_viewer` does not list flows the
#: caller owns (the hosted behaviour the SDK tests show).
FLOW_ROLE_HOLDERS: dict[str, tuple[str, ...]] = {
    FLOW_OWNER: (FLOW_OWNER,),
    FLOW_ADMINISTRATOR: (FLOW_ADMINISTRATOR,),
    FLOW_STARTER: (FLOW_STARTER,),
    FLOW_VIEWER: (FLOW_VIEWER,),
    RUN_MANAGER: (RUN_MANAGER,),
    RUN_MONITOR: (RUN_MONITOR,),
}

#: run role filter -> (stored run roles, stored flow roles) that satisfy it. Direct, like the flow filters,
# except
#: that a flow's owner and administrators are flow run managers by definition (§9).
RUN_ROLE_HOLDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RUN_OWNER: ((RUN_OWNER,), ()),
    RUN_MANAGER: ((RUN_MANAGER,), ()),
    RUN_MONITOR: ((RUN_MONITOR,), ()),
    FLOW_RUN_MANAGER: ((), (FLOW_OWNER, FLOW_ADMINISTRATOR, RUN_MANAGER)),
    FLOW_RUN_MONITOR: ((), (RUN_MONITOR,)),
}


# --- registered APIs (issue 15) -----------------------------------------------------------------------------
# Roles on a registered API, strongest first: owner ⊃ administrator ⊃ viewer (globus-registered-api's
# "What is a role?"). Viewers see it; administrators also update it and its viewers; owners also change its
# administrators and owners, and delete it. As for flows: no role at all -> 404, a weaker role -> 403.

API_OWNER = "owner"
API_ADMINISTRATOR = "administrator"
API_VIEWER = "viewer"
#: registered API roles, strongest first
API_ROLES = (API_OWNER, API_ADMINISTRATOR, API_VIEWER)
#: the registered API column holding each role's principals
API_ROLE_COLUMNS = {API_OWNER: "owners", API_ADMINISTRATOR: "administrators", API_VIEWER: "viewers"}
_API_IMPLIES = {API_OWNER: (API_ADMINISTRATOR, API_VIEWER), API_ADMINISTRATOR: (API_VIEWER,)}


def direct_api_roles(urns: Iterable[str], api: Mapping[str, Any]) -> frozenset[str]:
    """Roles granted to `urns` on a registered API by name (no implied roles)."""
    urns = frozenset(urns)
    return frozenset(role for role, column in API_ROLE_COLUMNS.items() if set(api.get(column) or ()) & urns)


def effective_api_roles(urns: Iterable[str], api: Mapping[str, Any]) -> frozenset[str]:
    """Every role `urns` hold on a registered API, implied ones included."""
    return _closure(direct_api_roles(urns, api), _API_IMPLIES)
