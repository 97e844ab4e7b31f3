"""`create_app`: the Flows API as a FastAPI application (nothing is built at import time).

The API lives at the root of the server (`/flows`, `/runs`, `/batch/runs`, `/web_inputs`,
`/registered_apis`, `/healthz`), so
`FlowsClient(base_url="http://HOST:PORT/")` works; so does the Timers API (`/v2/timer`, `/jobs/`), for
`TimersClient(base_url="http://HOST:PORT/")`. `openflows serve` builds the app with its database, the
executor's `wake` as `waker`, and mounts the built-in providers' routers next to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from .. import __name__ as _package
from ..auth.tokens import Authenticator
from ..settings import Settings
from ..store.db import Database
from . import (
    batch,
    flows,
    health,
    iterations,
    redrive,
    registered_apis,
    runs,
    timers,
    transfer_endpoints,
    web_inputs,
)
from .deadline import BodyDeadline
from .deps import Authenticates, Clock, Service
from .errors import install_error_handlers
from .limits import DEFAULT_MAX_DEPTH, RequestLimits
from .security import install_security_scheme


class _SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings,
    *,
    db: Database,
    waker: Callable[[], Any] | None = None,
    authenticator: Authenticates | None = None,
    clock: Clock | None = None,
    max_json_depth: int = DEFAULT_MAX_DEPTH,
    delegations: Any = None,
    provider_scopes: Any = None,
) -> FastAPI:
    """The Flows API on `db`. `waker` is called after a commit that enqueued work due now (the executor's
    `wake`); `authenticator` defaults to the built-in token store of `db`; `clock` (anything with `now()`)
    defaults to the system clock. `delegations` (`engine.delegation.Delegations`) defaults to OpenFlows' own
    Auth in process, sealed with the settings' secret key; `provider_scopes` to a resolver that knows the
    built-in providers' hosted URLs and never fetches (`server.build_server` passes the real ones)."""
    app = FastAPI(
        title="OpenFlows",
        version=_version(),
        description="A Globus Flows compatible service. Errors are Flows error documents.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    clock = clock or _SystemClock()
    app.state.service = Service(
        settings=settings,
        db=db,
        authenticator=authenticator or Authenticator(db),
        clock=clock,
        waker=waker,
        delegations=delegations or default_delegations(settings, db, clock),
        provider_scopes=provider_scopes or default_provider_scopes(db, clock),
    )
    install_error_handlers(app)
    install_security_scheme(app)
    app.include_router(health.router)
    app.include_router(flows.router)
    app.include_router(runs.router)
    app.include_router(redrive.router)  # OpenFlows extension (issue 19)
    app.include_router(iterations.router)  # OpenFlows extension (issue 19)
    app.include_router(batch.router)
    app.include_router(registered_apis.router)
    app.include_router(web_inputs.router)
    app.include_router(timers.router)  # the Timers API (/v2/timer, /jobs/)
    app.include_router(
        transfer_endpoints.router
    )  # the one Transfer call `globus timer create transfer` makes
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes, max_depth=max_json_depth)
    # added last, so outermost: it bounds the body RequestLimits reads
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout_seconds)
    return app


def default_delegations(settings: Settings, db: Database, clock: Clock) -> Any:
    """Delegation through OpenFlows' own Auth, in process."""
    from ..auth.issuing import Lifetimes
    from ..auth.keys import SecretBox
    from ..auth.local_delegation import LocalDelegationSource
    from ..engine.delegation import Delegations

    source = LocalDelegationSource(db, lifetimes=Lifetimes.from_settings(settings), now=clock.now)
    return Delegations(db, source, SecretBox.from_settings(settings.secret_key, settings.home), now=clock.now)


def default_provider_scopes(db: Database, clock: Clock) -> Any:
    """A scope resolver without built-in providers of its own (only their hosted URLs) that never fetches."""
    from ..engine.provider_scopes import ProviderScopes
    from ..providers.base import ProviderRegistry

    return ProviderScopes(db, ProviderRegistry(), now=clock.now, fetch=False)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version(_package)
    except Exception:  # not installed (running from a source tree)
        return "0"
