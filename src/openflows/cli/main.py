"""The `openflows` command: sub-apps registered explicitly; heavy modules are imported inside commands.

`openflows --help` imports neither FastAPI nor SQLAlchemy (tests/cli checks it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

import typer

from .. import __version__
from . import (
    clients,
    collections,
    consents,
    dev,
    federation,
    flows,
    functions,
    profile,
    registered_apis,
    runs,
    search,
    timers,
    tokens,
    users,
    web_inputs,
)
from .common import fail, handle_errors, load_settings, open_database

app = typer.Typer(
    name="openflows",
    help="OpenFlows: a self-hostable, Globus Flows compatible automation service.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(name="db", help="Inspect and migrate the database.", no_args_is_help=True)

app.add_typer(tokens.app, name="tokens")
app.add_typer(collections.app, name="collections")
app.add_typer(functions.app, name="functions")
app.add_typer(search.app, name="search")
app.add_typer(db_app, name="db")
app.add_typer(flows.app, name="flows")
app.add_typer(registered_apis.app, name="registered-apis")
app.add_typer(runs.run_app, name="run")
app.add_typer(runs.app, name="runs")
app.add_typer(timers.app, name="timers")
app.add_typer(dev.app, name="dev")
app.add_typer(profile.app, name="profile")
app.add_typer(clients.app, name="clients")
app.add_typer(users.app, name="users")
app.add_typer(web_inputs.app, name="web-inputs")
app.add_typer(web_inputs.notifications_app, name="notifications")
app.add_typer(consents.app, name="consents")
app.add_typer(federation.app, name="federation")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openflows {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """OpenFlows: a self-hostable, Globus Flows compatible automation service.

    Settings come from OPENFLOWS_* environment variables (OPENFLOWS_HOME, OPENFLOWS_DATABASE_URL, ...).
    """


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8765,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="Base URL the service advertises (default: http://HOST:PORT/)."),
    ] = None,
    no_executor: Annotated[
        bool, typer.Option("--no-executor", help="Serve the API only; run no executor in this process.")
    ] = False,
) -> None:
    """Run the API, the executor and the built-in action providers in one process."""
    with handle_errors():
        from .serve import listen

        sock = listen(host, port)  # a taken port is one line and exit status 1, before anything else
        try:
            settings = load_settings(public_url=public_url)
            with open_database(settings):
                pass  # create or migrate the schema before anything starts
            run_serve = _find_serve()
            kwargs: dict[str, object] = {"host": host, "port": port, "no_executor": no_executor}
            parameters = inspect.signature(run_serve).parameters
            if "public_url" in parameters:
                kwargs["public_url"] = public_url
            if "settings" in parameters:
                kwargs["settings"] = settings
            if "sock" in parameters:
                kwargs["sock"] = sock
            run_serve(**kwargs)
        finally:
            sock.close()


@app.command("worker")
def worker_command(
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="Executor threads (default OPENFLOWS_WORKER_THREADS)."),
    ] = None,
) -> None:
    """Run an executor only (no API): claims and runs due work until SIGTERM or SIGINT, then hands its
    unfinished work back and exits 0. Start any number next to `serve --no-executor` on one PostgreSQL."""
    import signal
    import threading

    stop = threading.Event()  # a SIGTERM during start-up still means "stop gracefully"
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with handle_errors():
        settings = load_settings(worker_threads=threads)
        with open_database(settings):
            pass  # create or migrate the schema before anything starts
        from ..server import run_worker

        run_worker(settings, stop=stop)


def _find_serve() -> Callable[..., None]:
    """`openflows.cli.serve.run_serve` if that module exists, else `openflows.server.run_server`."""
    try:
        from . import serve as serve_module
    except ImportError as exc:
        if exc.name != f"{__package__}.serve":
            raise
    else:
        return serve_module.run_serve  # type: ignore[no-any-return]
    try:
        from ..server import run_server
    except ImportError as exc:
        if exc.name != "openflows.server":
            raise
        fail("the server is not available in this installation")
    return run_server


@db_app.command("upgrade")
def db_upgrade_command() -> None:
    """Create the schema or migrate it to the newest revision."""
    with handle_errors():
        from ..store.migrate import current_revision

        settings = load_settings()
        with open_database(settings) as db:
            revision = current_revision(db)
            typer.echo(f"{db.display_url}: revision {revision} (head)")


@db_app.command("current")
def db_current_command() -> None:
    """Print the database's schema revision (without migrating)."""
    with handle_errors():
        from ..store.migrate import current_revision, head_revision

        settings = load_settings()
        with open_database(settings, migrate=False) as db:
            revision = current_revision(db)
        head = head_revision()
        suffix = " (head)" if revision == head else f" (head is {head}; run `openflows db upgrade`)"
        typer.echo(f"{db.display_url}: revision {revision or 'none (empty database)'}{suffix}")


def main() -> None:
    """Entry point of the `openflows` console script."""
    app(prog_name="openflows")


if __name__ == "__main__":  # pragma: no cover
    main()
