"""globus-sdk's Flows and Timers clients, ready to use against an OpenFlows server.

`FlowsClient`, `SpecificFlowClient` and `TimersClient` are the globus-sdk classes (subclassed, not
rewritten): every documented method works unchanged. What they add:

- `base_url` is accepted by all (globus-sdk's `SpecificFlowClient` has no such argument);
- when neither `base_url` nor an `authorizer`/`app` is given, the server URL and a bearer token come from
  `token=`, `OPENFLOWS_URL`/`OPENFLOWS_TOKEN`, or the active client profile (`openflows profile`; `openflows
  serve` writes one for the local admin), see `openflows.profiles.resolve_connection`;
- when nothing names a server, they raise `NoServerConfigured` saying what to do, instead of silently
  talking to the hosted Globus service (globus-sdk's default; `globus_sdk.FlowsClient` is that client).

`FlowsClient.scopes` (all, manage_flows, view_flows, run, run_status, run_manage) and
`SpecificFlowClient(flow_id).scopes.user` are the scope strings this server enforces (the hosted service's).

    from openflows.client import FlowsClient
    flows = FlowsClient()
    flow = flows.create_flow(title="hello", definition=..., input_schema={})
"""

from __future__ import annotations

import uuid
from typing import Any

import globus_sdk
from globus_sdk import FlowsAPIError, IterableFlowsResponse

from .profiles import Connection, NoServerConfigured, no_server_message, resolve_connection

__all__ = [
    "FlowsAPIError",
    "FlowsClient",
    "IterableFlowsResponse",
    "NoServerConfigured",
    "SpecificFlowClient",
    "TimersClient",
    "connect",
]

APP_NAME = "openflows"


def connect(
    *, base_url: str | None = None, token: str | None = None, profile: str | None = None
) -> Connection | None:
    """The URL and token the clients would use for these arguments (None when nothing names a server)."""
    return resolve_connection(url=base_url, token=token, profile=profile)


def _prepare(base_url: str | None, token: str | None, profile: str | None, kwargs: dict[str, Any]) -> str:
    """Fill `kwargs["authorizer"]` from the connection; return the base URL to use. NoServerConfigured when
    nothing names a server."""
    has_auth = kwargs.get("authorizer") is not None or kwargs.get("app") is not None
    if base_url is not None and (has_auth or token is not None):
        if token is not None and not has_auth:
            kwargs["authorizer"] = globus_sdk.AccessTokenAuthorizer(token)
        return base_url
    connection = resolve_connection(url=base_url, token=token, profile=profile)
    if connection is None:
        raise NoServerConfigured(
            no_server_message(url="base_url=/OPENFLOWS_URL", token="token=/OPENFLOWS_TOKEN")
        )
    if not has_auth:
        kwargs["authorizer"] = (
            globus_sdk.AccessTokenAuthorizer(connection.token)
            if connection.token
            else globus_sdk.NullAuthorizer()
        )
    return connection.url


class FlowsClient(globus_sdk.FlowsClient):
    """globus-sdk's `FlowsClient`; URL and token default to the active OpenFlows profile (see the module)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        url = _prepare(base_url, token, profile, kwargs)
        kwargs.setdefault("app_name", APP_NAME)
        super().__init__(base_url=url, **kwargs)


class SpecificFlowClient(globus_sdk.SpecificFlowClient):
    """globus-sdk's `SpecificFlowClient`, which also accepts `base_url`; URL and token default to the active
    OpenFlows profile. `.scopes.user` is the flow's own scope (needed to start or resume it)."""

    def __init__(
        self,
        flow_id: uuid.UUID | str,
        *,
        base_url: str | None = None,
        token: str | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        url = _prepare(base_url, token, profile, kwargs)
        kwargs.setdefault("app_name", APP_NAME)
        super().__init__(flow_id, **kwargs)
        self.base_url = url

    def redrive_run(self, run_id: uuid.UUID | str) -> globus_sdk.GlobusHTTPResponse:
        """OpenFlows extension (no globus-sdk method): `POST /runs/{run_id}/redrive`, a FAILED run starts
        again at the state that failed (docs/api.md, "Redrive"). With this client's token for the flow's own
        scope, so that the run's user can let the run act as them again."""
        return self.post(f"/runs/{run_id}/redrive")


class TimersClient(globus_sdk.TimersClient):
    """globus-sdk's `TimersClient` (`create_timer` with a `FlowTimer` or `TransferTimer`, `list_jobs`,
    `get_job`, `pause_job`, ...); URL and token default to the active OpenFlows profile. The token needs the
    Timers scope (`TimersClient.scopes.timer`); a default `openflows tokens create` token has every scope."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        url = _prepare(base_url, token, profile, kwargs)
        kwargs.setdefault("app_name", APP_NAME)
        super().__init__(base_url=url, **kwargs)
