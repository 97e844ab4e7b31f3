"""globus-sdk's Flows clients, ready to use against an OpenFlows server.

`FlowsClient` and `SpecificFlowClient` are the globus-sdk classes (subclassed, not rewritten): every
documented method works unchanged. What they add:

- `base_url` is accepted by both (globus-sdk's `SpecificFlowClient` has no such argument);
- when neither `base_url` nor an `authorizer`/`app` is given, the server URL and a bearer token come from
  `token=`, `OPENFLOWS_URL`/`OPENFLOWS_TOKEN`, or the active client profile (`openflows profile`; `openflows
  serve` writes one for the local admin), see `openflows.cli.profile.resolve_connection`.

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

from .cli.profile import Connection, resolve_connection

__all__ = ["FlowsAPIError", "FlowsClient", "IterableFlowsResponse", "SpecificFlowClient", "connect"]

APP_NAME = "openflows"


def connect(
    *, base_url: str | None = None, token: str | None = None, profile: str | None = None
) -> Connection | None:
    """The URL and token the clients would use for these arguments (None when nothing names a server)."""
    return resolve_connection(url=base_url, token=token, profile=profile)


def _prepare(
    base_url: str | None, token: str | None, profile: str | None, kwargs: dict[str, Any]
) -> str | None:
    """Fill `kwargs["authorizer"]` from the connection; return the base URL to use (or None: the SDK's)."""
    has_auth = kwargs.get("authorizer") is not None or kwargs.get("app") is not None
    if base_url is not None and (has_auth or token is not None):
        if token is not None and not has_auth:
            kwargs["authorizer"] = globus_sdk.AccessTokenAuthorizer(token)
        return base_url
    connection = resolve_connection(url=base_url, token=token, profile=profile)
    if connection is None:
        return base_url
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
        if url is not None:
            self.base_url = url
