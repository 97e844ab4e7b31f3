"""`openflows serve`: the API, the executor and the built-in providers in one process (see
`openflows.server`)."""

from __future__ import annotations

from ..settings import Settings


def run_serve(
    *,
    host: str,
    port: int,
    public_url: str | None = None,
    no_executor: bool = False,
    settings: Settings | None = None,
) -> None:
    """Run the server in the foreground until interrupted."""
    from ..server import run_server

    if settings is None:
        settings = Settings.from_env(public_url=public_url)
    elif public_url:
        settings = settings.replace(public_url=public_url)
    run_server(settings, host=host, port=port, no_executor=no_executor)
