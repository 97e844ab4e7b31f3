"""`create_app`: the Flows API as a FastAPI application (nothing is built at import time).

The API lives at the root of the server (`/flows`, `/runs`, `/batch/runs`, `/healthz`), so
`FlowsClient(base_url="http://HOST:PORT/")` works. `openflows serve` builds the app with its database, the
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
from . import batch, flows, health, runs
from .deps import Authenticates, Clock, Service
from .errors import install_error_handlers
from .limits import DEFAULT_MAX_DEPTH, RequestLimits


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
) -> FastAPI:
    """The Flows API on `db`. `waker` is called after a commit that enqueued work due now (the executor's
    `wake`); `authenticator` defaults to the built-in token store of `db`; `clock` (anything with `now()`)
    defaults to the system clock."""
    app = FastAPI(
        title="OpenFlows",
        version=_version(),
        description="A Globus Flows compatible service. Errors are Flows error documents.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = Service(
        settings=settings,
        db=db,
        authenticator=authenticator or Authenticator(db),
        clock=clock or _SystemClock(),
        waker=waker,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(flows.router)
    app.include_router(runs.router)
    app.include_router(batch.router)
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes, max_depth=max_json_depth)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version(_package)
    except Exception:  # not installed (running from a source tree)
        return "0"
