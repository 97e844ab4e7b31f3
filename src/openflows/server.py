"""Composition of a running OpenFlows server: settings -> migrated database -> built-in providers -> executor
-> Flows API app (+ the providers' routers) -> uvicorn.

`build_server` assembles everything without starting anything (tests use it); `run_server` takes the
listening socket `openflows serve` bound first (a taken port is one line on stderr and exit status 1, before
anything else happens), then starts the executor, prints the banner (URL, a local admin token, how to reach
the CLI, a globus-sdk snippet) and serves until interrupted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .auth.federated_start import Federation, start_federation
from .auth.tokens import Authenticator, create_token
from .engine.actions import ActionClient
from .engine.delegation import REFRESH_MARGIN, Delegations
from .engine.executor import Executor
from .engine.provider_scopes import ProviderScopes
from .profiles import LOCAL_PROFILE, write_local_profile
from .providers.base import ProviderRegistry
from .providers.builtin import create_builtin_providers, make_poll_waker
from .providers.config import ProviderSettings
from .providers.http import create_provider_router
from .providers.mail import Mailer
from .providers.runner import ActionRunner
from .settings import Settings
from .shared.clock import Clock, SystemClock
from .shared.urns import identity_urn
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
    #: what the Auth routes run with (`auth_http.AuthContext`)
    auth_context: Any = None


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
    from .auth_http import create_auth_router
    from .auth_http.web import create_web_router
    from .providers.weboption_pages import create_weboption_router
    from .ui import install_ui
    from .ui.routes import session_principal

    assert settings.database_url is not None
    db = Database(settings.database_url)
    upgrade(db)
    clock = clock or SystemClock()
    public_url = public_url_for(settings, host, port)
    provider_settings = ProviderSettings.from_env(settings.home)
    runner = ActionRunner(
        db, clock=clock, threads=provider_settings.provider_threads, lease_seconds=settings.lease_seconds
    )
    authenticator = Authenticator(db, now=clock.now)
    # federation: an upstream Globus Auth's tokens are accepted by the Flows API (docs/auth.md)
    federation = start_federation(settings, authenticator, now=clock.now)
    registry = ProviderRegistry(
        create_builtin_providers(db, provider_settings, runner=runner, clock=clock, public_url=public_url),
        base_urls=local_base_urls(host, port, public_url),
        # federated: the Globus-hosted providers' URLs reach the real ones
        emulate_globus_providers=settings.emulate_globus_providers and federation is None,
    )
    auth_context = prepare_auth(settings, db, authenticator, public_url, clock)
    delegations = make_delegations(settings, db, auth_context.keys.box, clock, federation)
    provider_scopes = ProviderScopes(db, registry, now=clock.now)
    executor = (
        Executor(
            db,
            settings,
            registry=registry,
            clock=clock,
            action_client=ActionClient(
                registry,
                credentials=provider_settings.provider_tokens,
                authenticate=authenticator.authenticate,
                clock=clock,
            ),
            delegations=delegations,
            provider_scopes=provider_scopes,
            mailer=Mailer(provider_settings, clock=clock),
            public_url=public_url,
        )
        if run_executor
        else None
    )
    runner.on_finished = make_poll_waker(db, clock, executor.wake if executor is not None else None)
    app = create_app(
        settings,
        db=db,
        waker=executor.wake if executor is not None else None,
        authenticator=federation.authenticator if federation is not None else authenticator,
        clock=clock,
        delegations=delegations,
        provider_scopes=provider_scopes,
    )
    app.include_router(create_provider_router(registry, authenticator.authenticate))
    app.include_router(create_auth_router(auth_context))  # the Globus-Auth-compatible surface
    app.include_router(create_web_router(db, settings, authenticator, now=clock.now))  # sign-in, consent
    app.include_router(create_metrics_router(db, executor.metrics if executor else None, clock=clock))
    install_ui(app, home=settings.home)  # the dashboard at /ui
    app.include_router(  # the weboption provider's landing pages and option URLs
        create_weboption_router(
            db,
            authenticate=authenticator.authenticate,
            now=clock.now,
            wake=executor.wake if executor is not None else None,
            session_principal=session_principal,
        )
    )
    return Server(
        settings=settings,
        db=db,
        app=app,
        registry=registry,
        authenticator=authenticator,
        executor=executor,
        public_url=public_url,
        runner=runner,
        auth_context=auth_context,
    )


def prepare_auth(
    settings: Settings, db: Database, authenticator: Authenticator, public_url: str, clock: Clock
) -> Any:
    """The Auth routes' context, after storing the built-in scopes and clients and the ID-token signing key
    (idempotent; every start does it). The secret key comes from the settings or `home/secret-key`."""
    from .auth.builtins import ensure_catalog
    from .auth.issuing import Lifetimes
    from .auth.keys import SecretBox, SigningKeys
    from .auth_http import AuthContext

    keys = SigningKeys(SecretBox.from_settings(settings.secret_key, settings.home))

    def prepare(conn: Any) -> None:
        now = clock.now()
        ensure_catalog(conn, now=now, base_url=public_url)
        keys.ensure(conn, now=now)

    db.transact(prepare)
    return AuthContext(
        db=db,
        settings=settings,
        authenticator=authenticator,
        keys=keys,
        lifetimes=Lifetimes.from_settings(settings),
        clock=clock.now,
    )


def make_delegations(
    settings: Settings, db: Database, box: Any, clock: Clock, federation: Federation | None = None
) -> Delegations:
    """Runs' delegated tokens, through OpenFlows' own Auth (and, federated, the upstream's), sealed with the
    secret box; grants sealed with an older secret key are sealed again with the current one (key
    rotation)."""
    from .auth.federated_delegation import FederatedDelegationSource
    from .auth.issuing import Lifetimes
    from .auth.local_delegation import LocalDelegationSource

    local = LocalDelegationSource(db, lifetimes=Lifetimes.from_settings(settings), now=clock.now)
    source: Any = local
    if federation is not None:
        source = FederatedDelegationSource(
            db,
            local,
            federation.upstream,
            federation.publisher,
            now=clock.now,
            reuse=dt.timedelta(seconds=settings.auth_upstream_cache_seconds),
            margin=REFRESH_MARGIN,
        )
    delegations = Delegations(db, source, box, now=clock.now)
    delegations.reseal()
    return delegations


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


def cli_hint(executable: str | None = None, which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """How to run the `openflows` CLI from another terminal: just run it when it is on PATH, else put this
    installation's scripts first (`make serve` runs `.venv/bin/openflows`, which is not on PATH)."""
    scripts = Path(executable or sys.executable).parent
    found = which("openflows")
    on_path = found is not None and Path(found).resolve().parent == scripts.resolve()
    lines = [f'The CLI uses this server (profile "{LOCAL_PROFILE}"). In another terminal:']
    if not on_path:
        activate = scripts / "activate"
        lines.append(f"  source {activate}" if activate.exists() else f'  export PATH="{scripts}:$PATH"')
    lines.append("  openflows flows list")
    return lines


def banner(public_url: str, token: str, urn: str, *, cli: list[str] | None = None) -> str:
    """What `openflows serve` prints on start."""
    return "\n".join(
        [
            f"OpenFlows is running at {public_url}",
            f"Dashboard: {public_url.rstrip('/')}/ui",
            f"Admin token ({ADMIN_USERNAME}, {urn}):",
            f"  {token}",
            *(cli if cli is not None else cli_hint()),
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
    from .auth.keys import SecretBox

    clock = SystemClock()
    authenticator = Authenticator(db, now=clock.now)
    federation = start_federation(settings, authenticator, now=clock.now)
    registry = ProviderRegistry(
        create_builtin_providers(db, provider_settings, runner=runner, public_url=settings.public_url),
        base_urls=[settings.public_url] if settings.public_url else [],
        emulate_globus_providers=settings.emulate_globus_providers and federation is None,
    )
    box = SecretBox.from_settings(settings.secret_key, settings.home)
    executor = Executor(
        db,
        settings,
        registry=registry,
        action_client=ActionClient(
            registry, credentials=provider_settings.provider_tokens, authenticate=authenticator.authenticate
        ),
        delegations=make_delegations(settings, db, box, clock, federation),
        provider_scopes=ProviderScopes(db, registry, now=clock.now, fetch=False),
        mailer=Mailer(provider_settings),
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
        from .shared.metrics import render, serve_metrics
        from .store.gauges import database_gauges

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


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    no_executor: bool = False,
    sock: socket.socket,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM); the executor runs in this process unless `no_executor`.
    `sock` is the listening socket the caller bound first (`cli.serve.listen`: a taken port fails before
    anything starts or is printed); port 0 takes a free port (the banner and the profile name it)."""
    try:
        _serve(settings, sock, host=host, port=sock.getsockname()[1], no_executor=no_executor)
    finally:
        sock.close()


def _serve(settings: Settings, sock: socket.socket, *, host: str, port: int, no_executor: bool) -> None:
    import uvicorn

    from .slow_clients import header_timeout_protocol

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
        # a request's line and headers must arrive within the header timeout (the body: api/deadline.py)
        http=header_timeout_protocol(settings.header_timeout_seconds),
        # an idle kept-alive connection is closed after this long
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]  # a float works too
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
        uv.run(sockets=[sock])
    finally:
        if server.runner is not None:
            server.runner.stop()
        if server.executor is not None:
            server.executor.stop()
        server.db.dispose()
