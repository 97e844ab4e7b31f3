"""Scope strings of the Flows service (spec flows-api.md §5) and what each one grants.

Rules (used by `Principal.has_scope`):
- `ALL` (`…/all`) implies the five service scopes (`MANAGE_FLOWS`, `VIEW_FLOWS`, `RUN`, `RUN_STATUS`,
  `RUN_MANAGE`). It does NOT imply a per-flow scope (`flow_scope(flow_id)`): as on the hosted service,
  starting or resuming a flow needs a token for that flow's own scope.
- `WILDCARD` (`"*"`) means every scope, including every per-flow scope. Tokens made by `openflows tokens
  create` without `--scope` hold it (stored as the list `["*"]`), so a default token works with both
  `FlowsClient` and `SpecificFlowClient`.
"""

from __future__ import annotations

import re
import uuid

#: client id of the Globus Flows service (the scopes' namespace)
FLOWS_CLIENT_ID = "eec9b274-0c81-4334-bdc2-54e90e689b9a"
#: resource server name of the Flows service
FLOWS_RESOURCE_SERVER = "flows.globus.org"

_PREFIX = f"https://auth.globus.org/scopes/{FLOWS_CLIENT_ID}/"

ALL = _PREFIX + "all"
MANAGE_FLOWS = _PREFIX + "manage_flows"
VIEW_FLOWS = _PREFIX + "view_flows"
RUN = _PREFIX + "run"
RUN_STATUS = _PREFIX + "run_status"
RUN_MANAGE = _PREFIX + "run_manage"

#: the five scopes `ALL` implies
SERVICE_SCOPES = frozenset({MANAGE_FLOWS, VIEW_FLOWS, RUN, RUN_STATUS, RUN_MANAGE})
#: every named scope of the Flows service
ALL_SCOPES = frozenset({ALL, *SERVICE_SCOPES})
#: marker scope: every scope, including every per-flow scope
WILDCARD = "*"

#: short names accepted by `openflows tokens create --scope` (`all`, `run`, ...)
SHORT_NAMES = {scope.removeprefix(_PREFIX): scope for scope in ALL_SCOPES}

_FLOW_SCOPE_RE = re.compile(
    r"^https://auth\.globus\.org/scopes/(?P<id>[0-9a-fA-F-]{36})/flow_(?P<underscored>[0-9a-fA-F_]{36})_user$"
)


def flow_scope(flow_id: uuid.UUID | str) -> str:
    """The per-flow user scope, `https://auth.globus.org/scopes/{id}/flow_{id with _}_user`."""
    text = str(flow_id).lower()
    return f"https://auth.globus.org/scopes/{text}/flow_{text.replace('-', '_')}_user"


def parse_flow_scope(scope: str) -> uuid.UUID | None:
    """The flow id of a per-flow scope string, or None if `scope` is not one."""
    match = _FLOW_SCOPE_RE.match(scope)
    if match is None or match.group("id").replace("-", "_").lower() != match.group("underscored").lower():
        return None
    try:
        return uuid.UUID(match.group("id"))
    except ValueError:
        return None


def normalize_scope(scope: str) -> str:
    """A full scope string for `scope`, which may be a short name (`all`, `run`, ...), `*` or a full
    string.

    Raises ValueError for anything that is neither a Flows service scope, a per-flow scope nor `*`.
    """
    text = scope.strip()
    if text == WILDCARD or text in ALL_SCOPES:
        return text
    if text in SHORT_NAMES:
        return SHORT_NAMES[text]
    if parse_flow_scope(text) is not None:
        return text.lower()
    try:
        return flow_scope(uuid.UUID(text))  # a bare flow id means that flow's scope
    except ValueError:
        pass
    raise ValueError(
        f"unknown scope {scope!r}: use *, one of {', '.join(sorted(SHORT_NAMES))}, "
        "a full Flows scope string, a flow id, or a flow's scope string"
    )


def grants(held: frozenset[str] | set[str], scope: str) -> bool:
    """Whether holding the scopes `held` grants `scope` (see the module docstring for the rules)."""
    if WILDCARD in held or scope in held:
        return True
    return scope in SERVICE_SCOPES and ALL in held
