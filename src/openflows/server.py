"""Composition of a running OpenFlows server: settings -> migrated database -> built-in providers -> executor
-> Flows API app (+ the providers' routers) -> uvicorn.

`build_server` assembles everything without starting anything (tests use it); `run_server` starts the
executor, prints the banner (URL, a local admin token, a globus-sdk snippet) and serves until interrupted.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .auth.principal import identity_urn
from .auth.tokens import Authenticator, create_token
from .cli.profile import write_local_profile
from .engine.actions import ActionClient
from .engine.clock import Clock, SystemClock
from .engine.executor import Executor
from .providers.base import ProviderRegistry
from .providers.builtin import create_builtin_providers, make_poll_waker
from .providers.config import ProviderSettings
from .providers.http import create_provider_router
from .providers.runner import ActionRunner
from .settings import Settings
from .store.db import Database
from .store.identities import ensure_identity
from .store.migrate import upgrade

log = logging.getLogger(__name__)

#: username of the local admin identity whose token `serve` prints
ADMIN_USERNAME = "admin"
#: file in OPENFLOWS_HOME that remembers the admin token across restarts (mode 0600)
ADMIN_TOKEN_FILE = "admin-token"


@dataclasses.dataclass
class Server:
    """The assembled parts of a server."""

    settings: Settings
    db: Database
    app: FastAPI
    registry: ProviderRegistry
    authenticator: Authenticator
    executor: Executor | None
    public_url: str
    #: background work of the asynchronous built-in providers (transfer, delete, compute)
    runner: ActionRunner | None = None


def public_url_for(settings: Settings, host: str, port: int) -> str:
    """The URL the service advertises: `--public-url`, else `http://HOST:PORT/`."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def local_base_urls(host: str, port: int, public_url: str) -> list[str]:
    """Every base URL at which this server's own providers can be reached (treated as built-in)."""
    urls = [public_url.rstrip("/"), f"http://{host}:{port}"]
    if host in ("0.0.0.0", "::", "", "127.0.0.1", "localhost"):
        urls += [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    return list(dict.fromkeys(urls))


def build_server(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    run_executor: bool = True,
    clock: Clock | None = None,
) -> Server:
    """Assemble the server (the database is migrated; nothing is started)."""
    from .api.app import create_app
    from .api.metrics import create_metrics_router
    from .auth.globus_auth import create_auth_router
    from .ui import install_ui

    assert settings.database_url is not None
    db = Database(settings.database_url)
    upgrade(db)
    clock = clock or SystemClock()
    public_url = public_url_for(settings, host, port)
    provider_settings = ProviderSettings.from_env(settings.home)
    runner = ActionRunner(
        db, clock=clock, threads=provider_settings.provider_threads, lease_seconds=settings.lease_seconds
    )
    registry = ProviderRegistry(
        create_builtin_providers(db, provider_settings, runner=runner, clock=clock),
        base_urls=local_base_urls(host, port, public_url),
        emulate_globus_providers=settings.emulate_globus_providers,
    )
    authenticator = Authenticator(db)
    executor = (
        Executor(
            db,
            settings,
            registry=registry,
            clock=clock,
            action_client=ActionClient(registry, credentials=provider_settings.provider_tokens),
        )
        if run_executor
        else None
    )
    runner.on_finished = make_poll_waker(db, clock, executor.wake if executor is not None else None)
    app = create_app(
        settings,
        db=db,
        waker=executor.wake if executor is not None else None,
        authenticator=authenticator,
        clock=clock,
    )
    app.include_router(create_provider_router(registry, authenticator.authenticate))
    app.include_router(create_auth_router(db, authenticator))  # Globus-Auth-compatible surface
    app.include_router(create_metrics_router(db, executor.metrics if executor else None, clock=clock))
    install_ui(app, home=settings.home)  # the dashboard at /ui
    return Server(
        settings=settings,
        db=db,
        app=app,
        registry=registry,
        authenticator=authenticator,
        executor=executor,
        public_url=public_url,
        runner=runner,
    )


def ensure_admin_token(db: Database, authenticator: Authenticator, home: Path) -> tuple[str, str]:
    """The local admin's token and identity URN: the one remembered in `home` if it is still valid for this
    database, else a new one (written to `home/admin-token`, mode 0600)."""
    path = home / ADMIN_TOKEN_FILE
    try:
        remembered = path.read_text().strip()
    except OSError:
        remembered = ""
    if remembered:
        principal = authenticator.authenticate(remembered)
        if principal is not None and principal.username == ADMIN_USERNAME:
            return remembered, principal.identity_urn
    from .auth.tokens import utcnow

    def create(conn: Any) -> tuple[str, str]:
        now = utcnow()
        identity = ensure_identity(conn, ADMIN_USERNAME, name="Local administrator", now=now)
        token, _ = create_token(
            conn, identity_id=identity.id, description="openflows serve admin token", now=now
        )
        return token, identity_urn(identity.id)

    token, urn = db.transact(create)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token, urn


def banner(public_url: str, token: str, urn: str) -> str:
    """What `openflows serve` prints on start."""
    return "\n".join(
        [
            f"OpenFlows is running at {public_url}",
            f"Dashboard: {public_url.rstrip('/')}/ui",
            f"Admin token ({ADMIN_USERNAME}, {urn}):",
            f"  {token}",
            "Try it with globus-sdk:",
            "",
            "import globus_sdk",
            f'auth = globus_sdk.AccessTokenAuthorizer("{token}")',
            f'flows = globus_sdk.FlowsClient(base_url="{public_url}", authorizer=auth)',
            'hello = {"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}}',
            'print(flows.create_flow(title="hello", definition=hello, input_schema={})["id"])',
            "",
        ]
    )


def configure_logging(level: str, log_format: str = "text") -> None:
    from .engine.logging import configure_logging as configure

    configure(level, log_format, stream=sys.stderr)


def freeze_startup_heap() -> None:
    """Collect, then move every object alive now (modules, the app, SQLAlchemy's and pydantic's structures)
    out of the garbage collector's sight (`gc.freeze`). Without it a full collection walked that whole heap
    every few thousand requests: a 100 ms pause, the p99 of `list_runs` in bench/engine.py (issue 7).
    Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


def run_worker(settings: Settings, *, stop: threading.Event | None = None) -> None:
    """Run an executor only (no HTTP), e.g. for `openflows worker` next to `serve --no-executor` replicas on
    PostgreSQL; returns when SIGINT/SIGTERM arrives (or `stop` is set)."""
    configure_logging(settings.log_level, settings.log_format)
    assert settings.database_url is not None
    db = Database(settings.database_url)
    upgrade(db)
    provider_settings = ProviderSettings.from_env(settings.home)
    runner = ActionRunner(
        db, threads=provider_settings.provider_threads, lease_seconds=settings.lease_seconds
    )
    registry = ProviderRegistry(
        create_builtin_providers(db, provider_settings, runner=runner),
        base_urls=[settings.public_url] if settings.public_url else [],
        emulate_globus_providers=settings.emulate_globus_providers,
    )
    executor = Executor(
        db,
        settings,
        registry=registry,
        action_client=ActionClient(registry, credentials=provider_settings.provider_tokens),
    )
    runner.on_finished = make_poll_waker(db, SystemClock(), executor.wake)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    freeze_startup_heap()
    executor.start()
    runner.start()
    metrics_server = None
    if settings.metrics_port is not None:
        from .engine.metrics import database_gauges, render, serve_metrics

        exposition = lambda: render(executor.metrics, database_gauges(db, now=executor.clock.now()))  # noqa: E731
        metrics_server = serve_metrics(exposition, host="0.0.0.0", port=settings.metrics_port)
    try:
        while not stop.wait(0.5) and executor.running:
            pass
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        runner.stop()
        executor.stop()
        db.dispose()
    if executor.failed_task is not None:
        raise SystemExit(f"the worker stopped: its {executor.failed_task} task died")


def run_server(settings: Settings, *, host: str, port: int, no_executor: bool = False) -> None:
    """Serve until interrupted (SIGINT/SIGTERM); the executor runs in this process unless `no_executor`."""
    import uvicorn

    configure_logging(settings.log_level, settings.log_format)
    server = build_server(settings, host=host, port=port, run_executor=not no_executor)
    token, urn = ensure_admin_token(server.db, server.authenticator, settings.home)
    write_local_profile(settings.home, server.public_url, token)  # the CLI's `local` profile
    config = uvicorn.Config(
        server.app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        # a dashboard's open live-log stream must not hold up shutdown for long
        timeout_graceful_shutdown=5,
        # with JSON logs, uvicorn's own lines go through our handlers too instead of its text formatter
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    uv = uvicorn.Server(config)
    freeze_startup_heap()
    if server.executor is not None:
        server.executor.start()
    if server.runner is not None:
        server.runner.start()
    try:
        print(banner(server.public_url, token, urn), flush=True)
        uv.run()
    finally:
        if server.runner is not None:
            server.runner.stop()
        if server.executor is not None:
            server.executor.stop()
        server.db.dispose()
