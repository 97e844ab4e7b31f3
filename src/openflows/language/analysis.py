"""What `POST /flows/validate` reports about a valid definition: scopes per RunAs role and path counts.

`analyze_definition(definition)` returns

    {
        "scopes": {"User": ["urn:globus:auth:scope:transfer.api.globus.org:all", ...], ...},
        "analysis": {
            "number_of_possibilities": 3,
            "possibilities_capped": false,
            "unknown_scopes": {"User": ["https://example.org/my-provider"]},
            "warnings": [{"loc": ["definition", "States", "Hello", "ActionUrl"], "msg": "...", "type": ...}],
        },
    }

- `scopes` maps each `RunAs` role used by an Action state (default `"User"`) to the sorted, de-duplicated
  scopes its actions need: the state's `ActionScope` if given, else the scope of a known Globus-hosted
  provider (`KNOWN_PROVIDER_SCOPES`), and for a `{"Type": "RegisteredAPI"}` handler the first scope of
  that registered API (the one requested when the user has consented to none; globus-registered-api's
  openapi-requirements.md). Registered APIs live in the database: the caller looks them up
  (`store.registered_apis.registered_api_scopes`) and passes `registered_api_scopes` (state name -> the
  API's scopes, first first). Roles are sorted. A role whose providers are all unknown maps to `[]`.
- `analysis.unknown_scopes` lists, per role, the action URLs whose scope is not known without asking the
  provider (its `globus_auth_scope` from `GET <ActionUrl>`); the API may introspect them and merge the result.
- `analysis.warnings` lists what is valid but probably wrong, located like the 422 error's `detail[]`: an
  action URL that is a near miss of a Globus-hosted provider (`provider_urls.action_url_warnings`: "did you
  mean 'https://actions.globus.org/hello_world'?"). An OpenFlows extension; clients that do not know it
  ignore it.
- `analysis.number_of_possibilities` counts the distinct routes from `StartAt` to a terminal state (a state
  with `"End": true`, a Fail or a Succeed). Choice rules, `Default` and `Catch[].Next` fork; edges to the same
  state are one route. Loops are counted once: edges that go back to a state already on the current route
  (back edges of a depth-first search from `StartAt`) are dropped, and routes are counted over the remaining
  acyclic graph with memoisation, so the cost is linear in the size of the definition. The count is capped at
  `MAX_POSSIBILITIES` (then `possibilities_capped` is true). A Choice without `Default` adds no route for "no
  rule matched", and errors not caught by a `Catch` add none either: only explicit routes are counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .nested import all_states
from .portability import portability_entries
from .provider_urls import action_url_warnings

MAX_POSSIBILITIES = 10**9

_TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
_NOTIFY_SCOPE = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/notification_notify"
_EXPRESSION_SCOPE = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/expression"
_HELLO_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/hello_world"
_COMPUTE_SCOPE = "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all"
_SEARCH_INGEST_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/search/ingest"
_SEARCH_DELETE_SCOPE = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/search_delete"
#: the Wait for User Option Selection provider (globus-automate-client's list of Globus-operated providers)
_WEBOPTION_SCOPE = (
    "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/weboption_wait_for_option"
)
_LEGACY_TRANSFER_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer"
_LEGACY_DELETE_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/transfer/delete"
_LEGACY_LS_SCOPE = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/transfer_ls"
_LEGACY_MKDIR_SCOPE = "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/transfer_mkdir"
_LEGACY_SET_PERMISSION_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/transfer/set_permission"

#: (host, path prefix) of Globus-hosted action providers -> the scope a token for them needs.
#: The longest matching prefix wins; "" matches every path on the host.
KNOWN_PROVIDER_SCOPES: dict[tuple[str, str], str] = {
    ("actions.globus.org", "/hello_world"): _HELLO_SCOPE,
    ("actions.automate.globus.org", "/hello_world"): _HELLO_SCOPE,
    ("transfer.actions.globus.org", ""): _TRANSFER_SCOPE,
    ("actions.globus.org", "/transfer/transfer"): _LEGACY_TRANSFER_SCOPE,
    ("actions.automate.globus.org", "/transfer/transfer"): _LEGACY_TRANSFER_SCOPE,
    ("actions.globus.org", "/transfer/delete"): _LEGACY_DELETE_SCOPE,
    ("actions.automate.globus.org", "/transfer/delete"): _LEGACY_DELETE_SCOPE,
    ("actions.globus.org", "/transfer/ls"): _LEGACY_LS_SCOPE,
    ("actions.automate.globus.org", "/transfer/ls"): _LEGACY_LS_SCOPE,
    ("actions.globus.org", "/transfer/mkdir"): _LEGACY_MKDIR_SCOPE,
    ("actions.automate.globus.org", "/transfer/mkdir"): _LEGACY_MKDIR_SCOPE,
    ("actions.globus.org", "/transfer/set_permission"): _LEGACY_SET_PERMISSION_SCOPE,
    ("actions.automate.globus.org", "/transfer/set_permission"): _LEGACY_SET_PERMISSION_SCOPE,
    ("actions.globus.org", "/notification/notify"): _NOTIFY_SCOPE,
    ("actions.automate.globus.org", "/notification/notify"): _NOTIFY_SCOPE,
    ("actions.globus.org", "/expression_eval"): _EXPRESSION_SCOPE,
    ("actions.automate.globus.org", "/expression_eval"): _EXPRESSION_SCOPE,
    ("compute.actions.globus.org", ""): _COMPUTE_SCOPE,
    ("actions.globus.org", "/search/ingest"): _SEARCH_INGEST_SCOPE,
    ("actions.automate.globus.org", "/search/ingest"): _SEARCH_INGEST_SCOPE,
    ("actions.globus.org", "/search/delete"): _SEARCH_DELETE_SCOPE,
    ("actions.automate.globus.org", "/search/delete"): _SEARCH_DELETE_SCOPE,
    ("actions.globus.org", "/weboption/wait_for_option"): _WEBOPTION_SCOPE,
    ("actions.automate.globus.org", "/weboption/wait_for_option"): _WEBOPTION_SCOPE,
}

_TERMINAL_TYPES = ("Fail", "Succeed")


def known_scope(action_url: str) -> str | None:
    """The scope of a known Globus-hosted action provider URL, or None."""
    try:
        parts = urlsplit(action_url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    best: tuple[int, str] | None = None
    for (known_host, prefix), scope in KNOWN_PROVIDER_SCOPES.items():
        if host != known_host:
            continue
        matches = not prefix or path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), scope)
    return best[1] if best else None


def registered_api_states(definition: Any) -> dict[str, str]:
    """State name -> registered API id (as written) of every Action state with a RegisteredAPI handler."""
    found = {}
    for name, state in all_states(definition).items():  # sub-machines of Map and Parallel included
        handler = state.get("Handler") if isinstance(state, dict) else None
        if isinstance(handler, dict) and handler.get("Type") == "RegisteredAPI":
            found[str(name)] = str(handler.get("Id"))
    return found


def analyze_definition(
    definition: Any, registered_api_scopes: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """Scopes per RunAs role and the number of routes through a (validated) definition. Never raises.
    `registered_api_scopes`: state name -> scopes of the registered API it calls (see the module doc)."""
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict):
        states = {}
    scopes, unknown = _collect_scopes(all_states(definition), registered_api_scopes or {})
    start = definition.get("StartAt") if isinstance(definition, dict) else None
    count = count_possibilities(states, start) if isinstance(start, str) and start in states else 0
    return {
        "scopes": scopes,
        "analysis": {
            "number_of_possibilities": count,
            "possibilities_capped": count >= MAX_POSSIBILITIES,
            "unknown_scopes": unknown,
            "warnings": [w.as_dict(("definition",)) for w in action_url_warnings(definition)],
            "portability": portability_entries(definition, ("definition",)),
        },
    }


def _collect_scopes(
    states: dict[str, Any], api_scopes: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    found: dict[str, set[str]] = {}
    unknown: dict[str, set[str]] = {}
    for name, state in states.items():
        if not isinstance(state, dict) or state.get("Type") != "Action":
            continue
        role = state.get("RunAs")
        role = role if isinstance(role, str) and role else "User"
        role_scopes = found.setdefault(role, set())
        called = api_scopes.get(str(name))
        if called:
            role_scopes.add(called[0])
        url, scope = _provider(state)
        if scope is None and url is not None:
            scope = known_scope(url)
        if scope is not None:
            role_scopes.add(scope)
        elif url is not None:
            unknown.setdefault(role, set()).add(url)
    return (
        {role: sorted(found[role]) for role in sorted(found)},
        {role: sorted(unknown[role]) for role in sorted(unknown)},
    )


def _provider(state: dict[str, Any]) -> tuple[str | None, str | None]:
    """(action URL, explicit scope) of an Action state: ActionUrl/ActionScope or an ActionProvider Handler."""
    scope = state.get("ActionScope")
    scope = scope if isinstance(scope, str) and scope else None
    url = state.get("ActionUrl")
    handler = state.get("Handler")
    if not isinstance(url, str):
        url = None
        if isinstance(handler, str):
            url = handler
        elif isinstance(handler, dict) and handler.get("Type") == "ActionProvider":
            url = handler.get("Url") if isinstance(handler.get("Url"), str) else None
            if scope is None and isinstance(handler.get("Scope"), str) and handler["Scope"]:
                scope = handler["Scope"]
    return url, scope


def _successors(state: Any, states: dict[str, Any]) -> list[str]:
    if not isinstance(state, dict):
        return []
    targets = [state.get("Next"), state.get("Default")]
    for key in ("Choices", "Catch"):
        items = state.get(key)
        if isinstance(items, list):
            targets.extend(item.get("Next") for item in items if isinstance(item, dict))
    return list(dict.fromkeys(t for t in targets if isinstance(t, str) and t in states))


def _is_terminal(state: Any) -> bool:
    return isinstance(state, dict) and (state.get("End") is True or state.get("Type") in _TERMINAL_TYPES)


def count_possibilities(states: dict[str, Any], start: str) -> int:
    """Routes from `start` to a terminal state over the graph without DFS back edges, capped."""
    succ = {name: _successors(state, states) for name, state in states.items()}
    # iterative DFS from start: classify edges, and record the post-order (a reverse topological order of the
    # graph without back edges)
    on_route: set[str] = set()
    done: set[str] = set()
    forward: dict[str, list[str]] = {}
    order: list[str] = []
    stack: list[tuple[str, int]] = [(start, 0)]
    on_route.add(start)
    forward[start] = []
    while stack:
        name, i = stack[-1]
        if i < len(succ[name]):
            stack[-1] = (name, i + 1)
            target = succ[name][i]
            if target in on_route:
                continue  # a back edge: a loop, counted once
            forward[name].append(target)
            if target not in done:
                on_route.add(target)
                forward[target] = []
                stack.append((target, 0))
            continue
        stack.pop()
        on_route.discard(name)
        done.add(name)
        order.append(name)
    counts: dict[str, int] = {}
    for name in order:  # successors come before their predecessors
        total = 1 if _is_terminal(states[name]) else 0
        for target in forward[name]:
            total += counts[target]
        counts[name] = min(total, MAX_POSSIBILITIES)
    return counts.get(start, 0)
