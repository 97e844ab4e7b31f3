"""Scope strings of the Flows service (spec flows-api.md §5) and what each one grants.

Rules (used by `Principal.has_scope`):
- `ALL` (`…/all`) implies the service scopes (`MANAGE_FLOWS`, `VIEW_FLOWS`, `RUN`, `RUN_STATUS`,
  `RUN_MANAGE`, `WEB_INPUT_VIEW`, `WEB_INPUT_RESPOND`). It does NOT imply a per-flow scope
  (`flow_scope(flow_id)`): as on the hosted service, starting or resuming a flow needs a token for that
  flow's own scope.
- `WILDCARD` (`"*"`) means every scope, including every per-flow scope and every provider scope. Tokens
  made by `openflows tokens create` without `--scope` hold it (stored as the list `["*"]`), so a default
  token works with `FlowsClient`, `SpecificFlowClient` and the built-in action providers.
- The built-in action providers (`/actions/<name>`) each require the scope of the Globus-hosted provider they
  stand in for (`PROVIDER_SCOPES`); a provider also accepts the scope of the retired hosted URL it answers for
  (`LEGACY_PROVIDER_SCOPES`), so a token made for an old flow keeps working. No Flows scope (not even `ALL`)
  grants a provider scope, as on the hosted service.
"""

from __future__ import annotations

import re
import uuid

#: client id of the Globus Flows service (the scopes' namespace)
FLOWS_CLIENT_ID = "eec9b274-0c81-4334-bdc2-54e90e689b9a"
#: resource server name of the Flows service
FLOWS_RESOURCE_SERVER = "flows.globus.org"

_PREFIX = f"https://auth.globus.org/scopes/{FLOWS_CLIENT_ID}/"
#: the prefix of the Flows service's scope strings
SCOPE_PREFIX = _PREFIX

ALL = _PREFIX + "all"
MANAGE_FLOWS = _PREFIX + "manage_flows"
VIEW_FLOWS = _PREFIX + "view_flows"
RUN = _PREFIX + "run"
RUN_STATUS = _PREFIX + "run_status"
RUN_MANAGE = _PREFIX + "run_manage"
#: see the web inputs one may view or answer (the JS SDK's `web_input_view`)
WEB_INPUT_VIEW = _PREFIX + "web_input_view"
#: answer web inputs (the JS SDK's `web_input_respond`)
WEB_INPUT_RESPOND = _PREFIX + "web_input_respond"

#: the scopes `ALL` implies (the CLI and the Python SDK use `ALL` for web inputs too)
SERVICE_SCOPES = frozenset(
    {MANAGE_FLOWS, VIEW_FLOWS, RUN, RUN_STATUS, RUN_MANAGE, WEB_INPUT_VIEW, WEB_INPUT_RESPOND}
)
#: every named scope of the Flows service
ALL_SCOPES = frozenset({ALL, *SERVICE_SCOPES})
#: marker scope: every scope, including every per-flow scope
WILDCARD = "*"

#: the Transfer API's scope: every provider at transfer.actions.globus.org requires it (Globus docs,
#: "Migrating Transfer Action Providers")
TRANSFER_API = "urn:globus:auth:scope:transfer.api.globus.org:all"
_ACTIONS = "https://auth.globus.org/scopes/actions.globus.org/"
#: the client of most Globus-operated action providers at actions.globus.org
_ACTIONS_CLIENT = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/"

#: the scope each built-in action provider requires, by provider name: the `globus_auth_scope` of the hosted
#: provider it stands in for (docs.globus.org "Hosted Action Providers" and the Transfer and Compute AP docs)
PROVIDER_SCOPES: dict[str, str] = {
    "hello_world": _ACTIONS + "hello_world",
    "transfer": TRANSFER_API,
    "delete": TRANSFER_API,
    "ls": TRANSFER_API,
    "mkdir": TRANSFER_API,
    "stat": TRANSFER_API,
    "manage_permission": TRANSFER_API,
    "expression_eval": _ACTIONS_CLIENT + "expression",
    "notification": _ACTIONS_CLIENT + "notification_notify",
    "search_ingest": _ACTIONS + "search/ingest",
    "search_delete": _ACTIONS_CLIENT + "search_delete",
    # Globus Compute's own scope: compute.actions.globus.org no longer needs the funcX provider's ActionScope
    "compute": "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all",
    "weboption": _ACTIONS_CLIENT + "weboption_wait_for_option",
}
#: scopes of the retired hosted URLs a built-in provider also answers for (actions.globus.org/transfer/...,
#: automate.funcx.org): a token for one of them is accepted too
LEGACY_PROVIDER_SCOPES: dict[str, tuple[str, ...]] = {
    "transfer": (_ACTIONS + "transfer/transfer",),
    "delete": (_ACTIONS + "transfer/delete",),
    "ls": (_ACTIONS_CLIENT + "transfer_ls",),
    "mkdir": (_ACTIONS_CLIENT + "transfer_mkdir",),
    "manage_permission": (_ACTIONS + "transfer/set_permission",),
    "compute": ("https://auth.globus.org/scopes/b3db7e59-a6f1-4947-95c2-59d6b7a70f8c/action_all",),
}
#: every scope a built-in provider requires or accepts
PROVIDER_SCOPE_STRINGS = frozenset(
    {*PROVIDER_SCOPES.values(), *(s for legacy in LEGACY_PROVIDER_SCOPES.values() for s in legacy)}
)


def provider_scopes(name: str) -> tuple[str, ...]:
    """The scopes that grant use of the built-in provider `name`: its own first, then its legacy ones."""
    own = PROVIDER_SCOPES.get(name)
    return ((own,) if own else ()) + LEGACY_PROVIDER_SCOPES.get(name, ())


#: the Timers API's scope (resource server `524230d7-...`, the Globus Timers service's id; auth/catalog.py)
TIMERS = "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"

#: short names accepted by `openflows tokens create --scope`: the Flows service scopes (`all`, `run`, ...),
#: the built-in providers' names (`transfer`, `hello_world`, ...), each meaning the scope that provider
#: requires, and `timer` (the Timers API)
SHORT_NAMES = {
    **PROVIDER_SCOPES,
    **{scope.removeprefix(_PREFIX): scope for scope in ALL_SCOPES},
    "timer": TIMERS,
}

_FLOW_SCOPE_RE = re.compile(
    r"^https://auth\.globus\.org/scopes/(?P<id>[0-9a-fA-F-]{36})/flow_(?P<underscored>[0-9a-fA-F_]{36})_user$"
)


def flow_scope(flow_id: uuid.UUID | str) -> str:
    """The per-flow user scope, `https://auth.globus.org/scopes/{id}/flow_{id with _}_user`."""
    text = str(flow_id).lower()
    return f"https://auth.globus.org/scopes/{text}/flow_{text.replace('-', '_')}_user"


def timer_flow_scope(flow_id: uuid.UUID | str) -> str:
    """The scope a flow timer needs, the Timers scope with the flow's scope as a dependent scope
    (`<timer scope>[<flow scope>]`, what globus-cli asks for before `globus timer create flow`)."""
    return f"{TIMERS}[{flow_scope(flow_id)}]"


def timer_flow_id(scope: str) -> uuid.UUID | None:
    """The flow id of `timer[<flow id or flow scope>]` (the Timers scope written in full or as `timer`), or
    None if `scope` is not that."""
    text = scope.strip()
    for head in (f"{TIMERS}[", "timer["):
        if text.startswith(head) and text.endswith("]"):
            inner = text[len(head) : -1].strip()
            found = parse_flow_scope(inner)
            if found is not None:
                return found
            try:
                return uuid.UUID(inner)
            except ValueError:
                return None
    return None


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
    """A full scope string for `scope`, which may be a short name (`all`, `run`, `transfer`, ...), `*` or a
    full string.

    Raises ValueError for anything that is neither a Flows service scope, a per-flow scope, a built-in
    provider's scope nor `*`.
    """
    text = scope.strip()
    if text in (WILDCARD, TIMERS) or text in ALL_SCOPES or text in PROVIDER_SCOPE_STRINGS:
        return text
    if text in SHORT_NAMES:
        return SHORT_NAMES[text]
    if parse_flow_scope(text) is not None:
        return text.lower()
    timed = timer_flow_id(text)
    if timed is not None:
        return timer_flow_scope(timed)
    try:
        return flow_scope(uuid.UUID(text))  # a bare flow id means that flow's scope
    except ValueError:
        pass
    raise ValueError(
        f"unknown scope {scope!r}: use *, one of {', '.join(sorted(SHORT_NAMES))}, "
        "a full Flows, Timers or built-in provider scope string, a flow id, a flow's scope string, or "
        "timer[<flow id>] (a flow timer's scope)"
    )


def grants(held: frozenset[str] | set[str], scope: str) -> bool:
    """Whether holding the scopes `held` grants `scope` (see the module docstring for the rules)."""
    if WILDCARD in held or scope in held:
        return True
    return scope in SERVICE_SCOPES and ALL in held
