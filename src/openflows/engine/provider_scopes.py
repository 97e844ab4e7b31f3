"""Which scope each Action state of a flow needs, and so the dependent scopes of the flow's scope (issue 14).

For an Action state, in order:
1. a built-in provider (any URL the registry resolves, the Globus-hosted URLs it emulates included): the
   scope that provider requires (`Provider.globus_auth_scope`), whatever `ActionScope` says, since that is
   the scope OpenFlows checks;
2. the state's `ActionScope` (or an ActionProvider handler's `Scope`);
3. a Globus-hosted provider's documented scope (`language.analysis.known_scope`);
4. an external provider's `globus_auth_scope`, from its introspection document (`GET <ActionUrl>`).

Introspection documents are fetched by the API (`resolve(definition, fetch=True)`, before its transaction)
and cached in the database (`provider_scopes`) so every process shares them: a success is reused for
`SUCCESS_TTL`, a failure is tried again after `FAILURE_RETRY`. Fetching is bounded: `FETCH_TIMEOUT_SECONDS`
per provider, `MAX_FETCHES` providers per flow, `MAX_DOCUMENT_BYTES` per answer, no redirects. The engine
only reads (`scope_of`, memory then database, never the network). A provider that cannot be reached leaves
its state without a scope: a warning says so, the flow is saved, and the next update (or run start) tries
again. Other kinds of state (registered APIs, issue 15) bring their scopes through the `state_scopes` hook:
state name -> scopes, the first one requested (e.g. engine/registered_apis.py's `registered_api_scopes`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ..auth.scope_strings import ScopeParseError, parse_scopes
from ..language.analysis import known_scope
from ..language.nested import all_states
from ..providers.base import ProviderRegistry, normalize_url
from ..store import delegations as store
from ..store import registered_apis as store_apis
from ..store.db import Database

#: how long a provider's advertised scope is trusted before the API reads it again
SUCCESS_TTL = dt.timedelta(hours=24)
#: how soon a provider that could not be read is tried again
FAILURE_RETRY = dt.timedelta(seconds=60)
#: timeout of one introspection request
FETCH_TIMEOUT_SECONDS = 5.0  # seconds
#: providers introspected for one flow (the others are left unknown)
MAX_FETCHES = 20  # providers
#: longest introspection answer read
MAX_DOCUMENT_BYTES = 64 * 1024  # bytes
#: longest scope string accepted from a provider
MAX_SCOPE_LENGTH = 512  # characters
#: how long the engine trusts a scope it read from the database
MEMORY_TTL_SECONDS = 60.0  # seconds


@dataclasses.dataclass(frozen=True)
class FlowScopes:
    """The scopes a definition's Action states need."""

    #: RunAs role -> sorted scopes (the roles of every Action state, as validate_flow shows them)
    by_role: dict[str, list[str]]
    #: RunAs role -> action URLs whose scope is unknown
    unknown: dict[str, list[str]]
    #: things a flow author should know (unreachable providers, scopes this Auth does not know)
    warnings: list[dict[str, Any]]

    @property
    def dependent_scopes(self) -> list[str]:
        """The flow scope's dependent scopes: those of the `RunAs: "User"` states."""
        return list(self.by_role.get("User", []))


def action_states(definition: Any) -> list[tuple[str, str, str | None, str | None]]:
    """`(state name, RunAs role, action URL, explicit scope)` of every Action state, those inside Map and
    Parallel states included."""
    found = []
    for name, state in all_states(definition).items():
        if not isinstance(state, dict) or state.get("Type") != "Action":
            continue
        role = state.get("RunAs") if isinstance(state.get("RunAs"), str) and state.get("RunAs") else "User"
        url, scope = _provider(state)
        found.append((str(name), role, url, scope))
    return found


def _provider(state: dict[str, Any]) -> tuple[str | None, str | None]:
    scope = state.get("ActionScope") if isinstance(state.get("ActionScope"), str) else None
    url = state.get("ActionUrl") if isinstance(state.get("ActionUrl"), str) else None
    handler = state.get("Handler")
    if url is None and isinstance(handler, str):
        url = handler
    elif url is None and isinstance(handler, dict) and handler.get("Type") == "ActionProvider":
        url = handler.get("Url") if isinstance(handler.get("Url"), str) else None
        if scope is None and isinstance(handler.get("Scope"), str):
            scope = handler["Scope"]
    return url, scope or None


class ProviderScopes:
    """Resolves the scopes of Action states (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        registry: ProviderRegistry,
        *,
        now: Callable[[], dt.datetime],
        fetch: bool = True,
        http: httpx.Client | None = None,
        state_scopes: Callable[[Any], Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.fetch = fetch
        #: scopes of states that are not action providers: definition -> state -> scopes (by default the
        #: registered APIs' scopes, issue 15, read from the store)
        self.state_scopes = state_scopes or self._registered_api_scopes
        self._now = now
        self._http = http
        self._lock = threading.Lock()
        #: normalised URL -> (monotonic time read, scope or None)
        self._memory: dict[str, tuple[float, str | None]] = {}

    def _registered_api_scopes(self, definition: Any) -> Mapping[str, Sequence[str]]:
        """State name -> the scopes of the registered API it calls (`store.registered_apis`)."""
        if not store_apis.registered_api_states(definition):
            return {}
        with self.db.read() as conn:
            return store_apis.registered_api_scopes(conn, definition, now=self._now())

    # -- the engine: no network ------------------------------------------------------------------------------

    def scope_of(self, action_url: str | None, explicit: str | None) -> str | None:
        """The scope a call to `action_url` needs, from what is known without the network."""
        local = self._local_scope(action_url, explicit)
        if local is not None or action_url is None:
            return local
        key = _key(action_url)
        if key is None:
            return None
        with self._lock:
            cached = self._memory.get(key)
        if cached is not None and time.monotonic() - cached[0] < MEMORY_TTL_SECONDS:
            return cached[1]
        with self.db.read() as conn:
            row = store.get_provider_scopes(conn, [key]).get(key)
        scope = row.scope if row is not None else None
        with self._lock:
            if len(self._memory) > 10_000:
                self._memory.clear()
            self._memory[key] = (time.monotonic(), scope)
        return scope

    def _local_scope(self, action_url: str | None, explicit: str | None) -> str | None:
        if action_url is not None:
            provider = self.registry.resolve(action_url)
            if provider is not None:
                return provider.globus_auth_scope or None
        if explicit:
            return explicit
        return known_scope(action_url) if action_url is not None else None

    # -- the API: may fetch (never inside a transaction) ----------------------------------------------------

    def resolve(self, definition: Any, *, fetch: bool = True) -> FlowScopes:
        """The scopes of the definition's Action states, introspecting unknown external providers when
        `fetch` (and this resolver may)."""
        states = action_states(definition)
        pending = {key for _, _, url, _ in states if (key := self._external_key(url, states)) is not None}
        found = self._lookup(sorted(pending), fetch=fetch and self.fetch)
        by_role: dict[str, set[str]] = {}
        unknown: dict[str, set[str]] = {}
        warnings: list[dict[str, Any]] = []
        other = self.state_scopes(definition) if self.state_scopes is not None else {}
        for name, role, url, explicit in states:
            role_scopes = by_role.setdefault(role, set())
            if other.get(name):
                role_scopes.add(other[name][0])
                continue
            scope = self._local_scope(url, explicit)
            if scope is None and url is not None:
                key = _key(url)
                scope = found.get(key) if key is not None else None
            if scope is not None:
                role_scopes.add(scope)
            elif url is not None:
                unknown.setdefault(role, set()).add(url)
                warnings.append(
                    {
                        "loc": ["definition", "States", name, "ActionUrl"],
                        "msg": f"The scope of state {name!r} is unknown: the provider at {url} did not say "
                        "(its introspection document could not be read). Runs will call it without a token "
                        "until the flow is updated.",
                        "type": "unknown_action_scope",
                    }
                )
        return FlowScopes(
            by_role={role: sorted(by_role[role]) for role in sorted(by_role)},
            unknown={role: sorted(unknown[role]) for role in sorted(unknown)},
            warnings=warnings,
        )

    def _external_key(self, url: str | None, states: Any) -> str | None:
        if url is None or self.registry.resolve(url) is not None or known_scope(url) is not None:
            return None
        explicit = next((scope for _, _, u, scope in states if u == url and scope), None)
        return None if explicit else _key(url)

    def _lookup(self, keys: list[str], *, fetch: bool) -> dict[str, str | None]:
        with self.db.read() as conn:
            rows = store.get_provider_scopes(conn, keys)
        now = self._now()
        found: dict[str, str | None] = {}
        stale: list[str] = []
        for key in keys:
            row = rows.get(key)
            found[key] = row.scope if row is not None else None
            if row is None or (
                row.fetched_at + (SUCCESS_TTL if row.scope is not None else FAILURE_RETRY) <= now
            ):
                stale.append(key)
        if not fetch:
            return found
        for key in stale[:MAX_FETCHES]:
            scope, error = self._fetch(key)
            if scope is None and found.get(key) is not None:
                error = error or "no scope"
                scope = found[key]  # keep what was known; try again later
            self.db.transact(
                lambda conn, key=key, scope=scope, error=error: store.put_provider_scope(
                    conn, key, scope=scope, error=error, now=self._now()
                )
            )
            found[key] = scope
        return found

    def _fetch(self, url: str) -> tuple[str | None, str | None]:
        """`(globus_auth_scope, None)` from `GET <url>/`, or `(None, why not)`."""
        client = self._http or httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        try:
            with client.stream(
                "GET", url.rstrip("/") + "/", headers={"Accept": "application/json"}
            ) as answer:
                if not answer.is_success:
                    return None, f"HTTP {answer.status_code}"
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        return None, "introspection document too large"
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        finally:
            if self._http is None:
                client.close()
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None, "introspection document is not JSON"
        scope = document.get("globus_auth_scope") if isinstance(document, dict) else None
        if not isinstance(scope, str) or not scope or len(scope) > MAX_SCOPE_LENGTH:
            return None, "no globus_auth_scope"
        try:
            trees = parse_scopes(scope)
        except ScopeParseError:
            return None, "globus_auth_scope is not a scope string"
        if len(trees) != 1 or trees[0].dependencies:
            return None, "globus_auth_scope is not one scope"
        return trees[0].scope_string, None


def _key(url: str) -> str | None:
    try:
        return normalize_url(url)[:1024]
    except ValueError:
        return None
