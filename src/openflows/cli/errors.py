"""The one error hook of the client commands: a server error becomes one line with its code (the whole
document with `--debug`) and exit status 1; an unreachable server, a missing profile or a bad argument
become one line too. Commands never catch API errors themselves."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from .common import CLIError
from .profile import ProfileError


def describe_api_error(err: object) -> str:
    """`CODE (HTTP status): message` for a globus-sdk API error."""
    code = getattr(err, "code", None) or "ERROR"
    status = getattr(err, "http_status", "?")
    messages = getattr(err, "messages", None) or []
    message = "; ".join(str(m) for m in messages) or getattr(err, "message", None) or ""
    if not message:
        raw = getattr(err, "raw_json", None)
        if isinstance(raw, dict) and isinstance(raw.get("error"), dict):
            message = str(raw["error"].get("message") or raw["error"].get("detail") or "")
    return f"{code} (HTTP {status}): {message}".rstrip(": ")


@contextmanager
def handle_client_errors(*, debug: bool = False) -> Iterator[None]:
    """Translate errors raised inside a command into `Error: ...` on stderr and exit status 1."""
    import globus_sdk

    try:
        yield
    except globus_sdk.GlobusAPIError as err:
        typer.echo(f"Error: {describe_api_error(err)}", err=True)
        if debug:
            document = err.raw_json if err.raw_json is not None else err.text
            request = getattr(getattr(err, "_underlying_response", None), "request", None)
            if request is not None:
                typer.echo(f"{request.method} {request.url}", err=True)
            typer.echo(
                json.dumps(document, indent=2) if not isinstance(document, str) else document, err=True
            )
        raise typer.Exit(1) from None
    except globus_sdk.GlobusConnectionError as err:
        typer.echo(f"Error: cannot reach the server: {err.exc if hasattr(err, 'exc') else err}", err=True)
        raise typer.Exit(1) from None
    except (CLIError, ProfileError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
