"""The Action Provider interface of the built-in providers (spec/flows-language.md §11), their errors, and the
registry that maps action URLs to them.

A built-in provider is used two ways: in-process by the engine (`engine.actions` calls these methods directly)
and over HTTP (`providers.http` exposes each one at `/actions/<name>`). Either way the caller is whoever the
bearer token it presents belongs to, and the token must hold the provider's scope (`caller_for_principal`):
the engine sends each provider a token of the run's user for that provider's scope (issue 14), so both paths
behave identically.

The registry answers "is this ActionUrl one of ours?": `<base>/actions/<name>` for every base URL this server
is reachable at, and, when `emulate_globus_providers` is on, the Globus-hosted URL of each provider
(e.g. `https://actions.globus.org/hello_world`).
"""

from __future__ import annotations

import abc
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

#: statuses after which an action never changes
TERMINAL_ACTION_STATUSES = frozenset({"SUCCEEDED", "FAILED"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a provider: an identity URN and the group URNs it belongs to."""

    identity: str
    groups: tuple[str, ...] = ()

    @property
    def principals(self) -> frozenset[str]:
        return frozenset((self.identity, *self.groups))


class Authenticated(Protocol):
    """What `caller_for_principal` reads of an authenticated token (`auth.principal.Principal`)."""

    identity_urn: str
    group_urns: frozenset[str]

    def has_scope(self, scope: str) -> bool: ...


def caller_for_principal(principal: Authenticated | None, provider: Provider) -> Caller:
    """The caller a bearer token stands for, if it may use `provider`: `UnauthorizedRequest` without a valid
    token, `ForbiddenRequest` when the token lacks every scope the provider accepts."""
    if principal is None:
        raise UnauthorizedRequest("a valid bearer token is required")
    accepted = provider.accepted_scopes
    if accepted and not any(principal.has_scope(scope) for scope in accepted):
        raise ForbiddenRequest(
            f"the token does not grant the scope {accepted[0]} that the {provider.name} action provider "
            "requires"
        )
    return Caller(identity=principal.identity_urn, groups=tuple(sorted(principal.group_urns)))


class ProviderError(Exception):
    """An Action Provider error: HTTP status plus the body `{"code", "description"}` (APT error shape)."""

    status_code = 500
    code = "ActionProviderError"

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or (self.__doc__ or "").strip().splitlines()[0])
        self.description = str(self.args[0])

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description}


class BadActionRequest(ProviderError):
    """The action request is invalid."""

    status_code = 400
    code = "BadActionRequest"


class UnauthorizedRequest(ProviderError):
    """The request carries no valid bearer token."""

    status_code = 401
    code = "UnauthorizedRequest"


class ForbiddenRequest(ProviderError):
    """The caller may not do this to this action."""

    status_code = 403
    code = "ForbiddenRequest"


class ActionNotFound(ProviderError):
    """No such action (it never existed, or it was released)."""

    status_code = 404
    code = "ActionNotFound"


class ActionConflict(ProviderError):
    """The action is not in a state that allows this operation."""

    status_code = 409
    code = "ActionConflict"


class Provider(abc.ABC):
    """One built-in action provider. Methods return action status documents (spec §11 "Action Status")."""

    #: URL path segment: the provider is served at `/actions/<name>`
    name: str
    #: Globus-hosted URLs this provider stands in for when emulation is on
    hosted_urls: tuple[str, ...] = ()
    #: the scope a token must hold to call this provider over HTTP, advertised as `globus_auth_scope`
    #: (`auth.scopes.PROVIDER_SCOPES`); empty means any valid token will do
    globus_auth_scope: str = ""
    #: more scopes that grant use too: those of the retired hosted URLs this provider answers for
    legacy_scopes: tuple[str, ...] = ()

    @property
    def accepted_scopes(self) -> tuple[str, ...]:
        """Every scope that grants use of this provider over HTTP, its own first."""
        return ((self.globus_auth_scope,) if self.globus_auth_scope else ()) + self.legacy_scopes

    @abc.abstractmethod
    def introspect(self) -> dict[str, Any]:
        """The provider description (`GET /`)."""

    @abc.abstractmethod
    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        """Start an action (`POST /run`); return (status document, created). Idempotent on
        `(caller, request_id)`: a repeated request returns the existing action with created=False."""

    def run_in(
        self, conn: Any, request: dict[str, Any], caller: Caller, now: dt.datetime
    ) -> tuple[dict[str, Any], bool] | None:
        """Start an action in the caller's write transaction `conn` on `self.db`, as `run` does: the engine
        does, in the transaction of the step that takes the answer (one transaction instead of two, and
        the action commits with its step or not at all). None when this provider cannot: its start does
        more than write its own rows (work outside the database, a runner to notify after the commit); the
        engine then calls `run` outside the transaction. Raises `ProviderError` as `run` does, before
        writing anything (the engine then calls `run`, which raises it again, to report it)."""
        return None

    @abc.abstractmethod
    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        """The action's status (`GET /{id}/status`)."""

    def status_in(self, conn: Any, action_id: str, caller: Caller, now: dt.datetime) -> dict[str, Any] | None:
        """The action's status read (and, if it advanced by itself, updated) in the caller's write
        transaction `conn` on `self.db`, as `status` answers (see `run_in`); None when this provider cannot.
        Raises `ProviderError` as `status` does, before writing anything."""
        return None

    @abc.abstractmethod
    def cancel(self, action_id: str, caller: Caller) -> dict[str, Any]:
        """Ask the action to stop (`POST /{id}/cancel`); return its status."""

    @abc.abstractmethod
    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        """Forget a finished action (`POST /{id}/release`); return its final status."""

    def release_in(
        self, conn: Any, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any] | None:
        """Release a finished action in the caller's write transaction `conn` on `self.db` (the engine does,
        in the commit of the step that saw the action end: no release item, no transaction of its own); None
        when this provider cannot (its actions are not rows of that database): the engine then releases it
        later with `release`. Raises `ProviderError` as `release` does (the engine then falls back too)."""
        return None

    @abc.abstractmethod
    def resume(self, action_id: str, caller: Caller) -> dict[str, Any]:
        """Resume an INACTIVE action (`POST /{id}/resume`); return its status."""

    @abc.abstractmethod
    def log(
        self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False
    ) -> dict[str, Any]:
        """The action's log (`GET /{id}/log`)."""

    def next_change_at(self, action_id: str) -> dt.datetime | None:
        """When the action will next change by itself (e.g. end of `sleep_time`), if the provider knows.

        The engine schedules its next poll no later than this, so a built-in action's completion is noticed at
        once instead of at the next back-off.
        """
        return None


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no trailing slash, no query: for comparing action URLs."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{path}"


class ProviderRegistry:
    """The built-in providers by name, and the action URLs that reach each of them."""

    def __init__(
        self,
        providers: Iterable[Provider] = (),
        *,
        base_urls: Iterable[str] = (),
        emulate_globus_providers: bool = True,
    ) -> None:
        self._providers: dict[str, Provider] = {}
        self._urls: dict[str, Provider] = {}
        self._base_urls: list[str] = []
        self.emulate_globus_providers = emulate_globus_providers
        for provider in providers:
            self.add(provider)
        for base in base_urls:
            self.add_base_url(base)

    def add(self, provider: Provider) -> None:
        """Register a provider (at every known base URL, and at its hosted URLs when emulating)."""
        self._providers[provider.name] = provider
        for base in self._base_urls:
            self._urls[normalize_url(f"{base.rstrip('/')}/actions/{provider.name}")] = provider
        if self.emulate_globus_providers:
            for hosted in provider.hosted_urls:
                self._urls[normalize_url(hosted)] = provider

    def add_base_url(self, base_url: str) -> None:
        """Declare another URL at which this server is reachable (e.g. the public URL, the listening
        address)."""
        self._base_urls.append(base_url)
        for provider in self._providers.values():
            self._urls[normalize_url(f"{base_url.rstrip('/')}/actions/{provider.name}")] = provider

    def resolve(self, action_url: str) -> Provider | None:
        """The built-in provider serving `action_url`, or None if the URL is someone else's."""
        try:
            return self._urls.get(normalize_url(action_url))
        except ValueError:
            return None

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def __iter__(self) -> Iterator[Provider]:
        return iter(list(self._providers.values()))

    def __len__(self) -> int:
        return len(self._providers)


def run_id_of(request_id: str) -> uuid.UUID | None:
    """The run id the engine put in an action's `request_id` (`<run_id>/<state>/<visit>/<attempt>`)."""
    head = request_id.split("/", 1)[0]
    try:
        return uuid.UUID(head)
    except ValueError:
        return None
