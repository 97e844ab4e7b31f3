"""`openflows serve`: the API, the executor and the built-in providers in one process (see
`openflows.server`).

The listening socket is bound first (`listen`, which imports nothing heavy): a taken port is one line on
stderr and exit status 1 within a fraction of a second, before the database is touched, the executor starts
or the banner is printed.
"""

from __future__ import annotations

import errno
import socket

from ..settings import Settings
from .common import CLIError


def listen(host: str, port: int) -> socket.socket:
    """The bound listening socket (as uvicorn would bind it), or CLIError with one line saying what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CLIError(
                f"port {port} on {host} is already in use (another OpenFlows?); stop it, or choose another "
                f"port: openflows serve --port {port + 1} (make serve PORT={port + 1})"
            ) from None
        if exc.errno == errno.EACCES:
            raise CLIError(
                f"not allowed to listen on port {port} on {host}; choose a port above 1023"
            ) from None
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise CLIError(
                f"cannot listen on {host}: not an address of this machine ({exc.strerror})"
            ) from None
        raise CLIError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run_serve(
    *,
    host: str,
    port: int,
    public_url: str | None = None,
    no_executor: bool = False,
    settings: Settings | None = None,
    sock: socket.socket,
) -> None:
    """Run the server in the foreground on `sock` (bound by `listen`) until interrupted."""
    from ..server import run_server

    if settings is None:
        settings = Settings.from_env(public_url=public_url)
    elif public_url:
        settings = settings.replace(public_url=public_url)
    run_server(settings, host=host, port=port, no_executor=no_executor, sock=sock)
