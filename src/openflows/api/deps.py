"""FastAPI dependencies, as `Annotated` aliases: the service context (`ServiceDep`) and the caller
(`PrincipalDep`), plus `require_scope` for token scope checks.

The bearer token is read from the `Authorization` header here rather than through FastAPI's `HTTPBearer`, so
that `/openapi.json` states each operation's Globus Auth scopes (api/security.py) and nothing weaker.

Handlers are plain (sync) functions that FastAPI runs in its thread pool: read the caller, check roles, call a
store operation inside a transaction, return a document.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from ..auth.principal import Principal
from ..settings import Settings
from ..store import errors as store_errors
from ..store.db import Database
from .errors import AuthenticationError, MissingScope

T = TypeVar("T")

#: attempts of one write when concurrent executor steps keep changing the run
CONCURRENT_UPDATE_ATTEMPTS = 5


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class Authenticates(Protocol):
    def authenticate(self, bearer: str | None) -> Principal | None: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Service:
    """What every handler may use; built once by `create_app` and kept on `app.state.service`."""

    settings: Settings
    db: Database
    authenticator: Authenticates
    clock: Clock
    #: called after a commit that enqueued work due now (the executor's `wake`), or None
    waker: Callable[[], Any] | None = None
    #: runs' delegated tokens (`engine.delegation.Delegations`); None: runs act as their owner by convention
    delegations: Any = None
    #: the scopes of Action states (`engine.provider_scopes.ProviderScopes`)
    provider_scopes: Any = None

    def now(self) -> dt.datetime:
        return self.clock.now()

    def transact(self, fn: Callable[[sa.Connection], T]) -> T:
        """`db.transact(fn)`, run again when a run changed under it (the executor committed a step between our
        read and our versioned update); the store already retries a busy database."""
        for attempt in range(1, CONCURRENT_UPDATE_ATTEMPTS + 1):
            try:
                return self.db.transact(fn)
            except store_errors.ConcurrentUpdate:
                if attempt == CONCURRENT_UPDATE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def wake(self) -> None:
        if self.waker is not None:
            self.waker()

    def base_url(self, request: Request) -> str:
        """The URL the service advertises (`settings.public_url`, else the request's base URL)."""
        return (self.settings.public_url or str(request.base_url)).rstrip("/")


# The dependencies are coroutines: FastAPI runs a plain-function dependency in its thread pool, and a thread
# hop per dependency cost more than the rest of a `get_run` (issue 7's profile). The handler itself is the
# request's one hop into the thread pool.


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme in any letter case), else None."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def get_principal(service: ServiceDep, request: Request) -> Principal:
    """The authenticated caller; 401 AUTHENTICATION_ERROR for a missing, unknown, revoked or expired token.

    A recently seen token is answered from the authenticator's cache on the event loop; otherwise the
    database is asked in a worker thread."""
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError()
    cached = getattr(service.authenticator, "cached", None)
    principal = cached(token) if cached is not None else None
    if principal is None:
        principal = await run_in_threadpool(service.authenticator.authenticate, token)
    if principal is None:
        raise AuthenticationError()
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_scope(principal: Principal, scope: str) -> None:
    """403 MISSING_SCOPE unless the caller's token grants `scope`."""
    if not principal.has_scope(scope):
        raise MissingScope(scope)
