"""Options shared by every client command (`--url`, `--token`, `--profile`, `--format`, `--debug`), added
by the `client_command` decorator, and the clients built from them."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..profiles import no_server_message, resolve_connection
from .common import CLIError
from .errors import handle_client_errors

if TYPE_CHECKING:
    from ..client import FlowsClient, SpecificFlowClient, TimersClient


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    url: str | None = None
    token: str | None = None
    profile: str | None = None
    format: str = "table"
    debug: bool = False

    def connection(self) -> Any:
        connection = resolve_connection(url=self.url, token=self.token, profile=self.profile)
        if connection is None:
            raise CLIError(no_server_message())
        return connection

    def flows_client(self) -> FlowsClient:
        from ..client import FlowsClient

        connection = self.connection()
        return FlowsClient(base_url=connection.url, token=connection.token, **_client_kwargs())

    def timers_client(self) -> TimersClient:
        from ..client import TimersClient

        connection = self.connection()
        return TimersClient(base_url=connection.url, token=connection.token, **_client_kwargs())

    def specific_client(self, flow_id: str) -> SpecificFlowClient:
        from ..client import SpecificFlowClient

        connection = self.connection()
        return SpecificFlowClient(
            flow_id, base_url=connection.url, token=connection.token, **_client_kwargs()
        )


def _client_kwargs() -> dict[str, Any]:
    """One retry only: a command should fail fast when the server is down."""
    try:
        from globus_sdk.transport import RetryConfig
    except ImportError:  # globus-sdk 3.x
        return {"transport_params": {"max_retries": 1}}
    return {"retry_config": RetryConfig(max_retries=1, max_sleep=2)}


def _validate_format(value: str) -> str:
    if value not in ("table", "json"):
        raise typer.BadParameter("must be table or json")
    return value


_SHARED = [
    inspect.Parameter(
        "url",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option("--url", help="Server URL (default: OPENFLOWS_URL or the profile's).")
        ],
    ),
    inspect.Parameter(
        "token",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--token", help="Bearer token (default: OPENFLOWS_TOKEN or the profile's)."),
        ],
    ),
    inspect.Parameter(
        "profile",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--profile", help="Client profile to use (default: OPENFLOWS_PROFILE or active)."),
        ],
    ),
    inspect.Parameter(
        "format",
        inspect.Parameter.KEYWORD_ONLY,
        default="table",
        annotation=Annotated[
            str,
            typer.Option(
                "--format",
                "-F",
                callback=_validate_format,
                help="Output: table (for people) or json (the API document, for scripts).",
            ),
        ],
    ),
    inspect.Parameter(
        "debug",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--debug", help="On a server error, print the whole error document.")
        ],
    ),
]


def client_command(app: typer.Typer, name: str, **command_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register `function(opts: ClientOptions, ...)` as `app`'s command `name` with the shared options
    added, inside the error hook."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "opts"]

        @functools.wraps(function)
        def wrapper(**kwargs: Any) -> Any:
            opts = ClientOptions(**{p.name: kwargs.pop(p.name) for p in _SHARED})
            with handle_client_errors(debug=opts.debug):
                return function(opts, **kwargs)

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + _SHARED
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__  # type: ignore[attr-defined]
        app.command(name, **command_kwargs)(wrapper)
        return function

    return decorate
