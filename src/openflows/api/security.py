"""What `/openapi.json` says about authentication: the Globus Auth scopes of each operation (issue 15).

globus-registered-api's `docs/reference/openapi-requirements.md` asks an OpenAPI document to state the Globus
Auth scopes of each operation in its `security`, one requirement per scope that grants it, least privilege
first, under the scheme name `GlobusAuth`:

    "security": [{"GlobusAuth": ["<...>/view_flows"]}, {"GlobusAuth": ["<...>/all"]}]

`gra build` (and OpenFlows' own registered APIs, language/openapi_target.py) read the first as the scope to
request, so registering "list my flows" from OpenFlows' own document needs no scope in gra's configuration.

- Each Flows API route declares its scope with `openapi_extra=globus_auth(SCOPE)`; the handler enforces the
  same scope with `deps.require_scope` (tests/api/test_openapi.py sends every such operation a token without
  it and expects 403 MISSING_SCOPE naming the documented scope, so the two cannot drift apart).
- `all` grants the five service scopes (auth/scopes.py), so it is listed second for them.
- Starting or resuming a run needs the flow's own scope (`globus_auth_scope` of the flow document), which no
  static document can name: those operations say `[{"GlobusAuth": []}]` and explain it in their description.
- `install_security_scheme(app)` adds the `GlobusAuth` scheme (OAuth 2 at this server's Globus-Auth-compatible
  endpoints, `auth_http/`) to `components.securitySchemes`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..auth import scopes as flows_scopes

#: the security scheme name openapi-requirements.md and gra use
GLOBUS_AUTH = "GlobusAuth"

_SCOPE_DESCRIPTIONS = {
    flows_scopes.VIEW_FLOWS: "View flows and registered APIs",
    flows_scopes.MANAGE_FLOWS: "Create, update and delete flows and registered APIs",
    flows_scopes.RUN: "Run flows",
    flows_scopes.RUN_STATUS: "View runs and their logs",
    flows_scopes.RUN_MANAGE: "Change, cancel and release runs",
    flows_scopes.ALL: "All of the above",
}


def globus_auth(scope: str | None) -> dict[str, Any]:
    """The `openapi_extra` of a route that needs `scope` (None: the flow's own scope)."""
    if scope is None:
        return {"security": [{GLOBUS_AUTH: []}]}
    granting = [scope, flows_scopes.ALL] if scope in flows_scopes.SERVICE_SCOPES else [scope]
    return {"security": [{GLOBUS_AUTH: [name]} for name in granting]}


def security_scheme() -> dict[str, Any]:
    """The `GlobusAuth` OAuth 2 scheme: this server's authorize and token endpoints (relative to it)."""
    return {
        "type": "oauth2",
        "description": "Globus Auth access tokens (OpenFlows' own Globus-Auth-compatible service, or an "
        "upstream one; docs/auth.md), sent as `Authorization: Bearer <token>`",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "/v2/oauth2/authorize",
                "tokenUrl": "/v2/oauth2/token",
                "refreshUrl": "/v2/oauth2/token",
                "scopes": dict(_SCOPE_DESCRIPTIONS),
            },
            "clientCredentials": {"tokenUrl": "/v2/oauth2/token", "scopes": dict(_SCOPE_DESCRIPTIONS)},
        },
    }


def install_security_scheme(app: FastAPI) -> None:
    """Make `app.openapi()` declare the `GlobusAuth` scheme the operations' `security` names."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("securitySchemes", {})[GLOBUS_AUTH] = (
                security_scheme()
            )
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
