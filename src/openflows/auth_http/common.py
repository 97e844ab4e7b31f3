"""What the Auth routes share: the context they run in, request parsing, client and bearer authentication, and
Globus Auth's error shapes.

Auth answers in Globus Auth's formats, not in the Flows API's error document: globus-sdk's `AuthAPIError`
reads `errors[].code` (`UNAUTHORIZED`, `FORBIDDEN`...) and the OAuth `error` field, and the clients branch on
them (auth-protocol notes §1.6). Error messages never contain a token, a secret or a code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse

from ..auth import catalog
from ..auth.issuing import Lifetimes
from ..auth.keys import SigningKeys
from ..auth.principal import Principal
from ..auth.scopes import WILDCARD
from ..auth.tokens import Authenticator, utcnow
from ..settings import Settings
from ..store.db import Database

#: largest form body the token endpoints read
MAX_FORM_BYTES = 64 * 1024  # bytes
#: token answers must not be cached (RFC 6749 §5.1)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclasses.dataclass
class AuthContext:
    """Everything the Auth routes use; built once by `server.build_server`."""

    db: Database
    settings: Settings
    authenticator: Authenticator
    keys: SigningKeys
    lifetimes: Lifetimes
    clock: Callable[[], dt.datetime] = utcnow

    def now(self) -> dt.datetime:
        return self.clock()

    def base_url(self, request: Request) -> str:
        """The service's base URL with a trailing slash (`public_url`, else the request's)."""
        return (self.settings.public_url or str(request.base_url)).rstrip("/") + "/"

    def issuer(self, request: Request) -> str:
        """The `iss` of ID tokens and introspection answers (the base URL without its slash)."""
        return self.base_url(request).rstrip("/")


def auth_error(
    status: int, code: str, detail: str, *, error: str | None = None, **extra: Any
) -> JSONResponse:
    """Globus Auth's error document: `errors[0].code` is what `AuthAPIError.code` becomes."""
    sub = {"status": str(status), "id": str(uuid.uuid4()), "code": code, "detail": detail, **extra}
    sub.setdefault("title", detail)
    body = {"errors": [sub], "error": error or code.lower(), "error_description": detail}
    headers = {"WWW-Authenticate": 'Bearer realm="openflows"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized() -> JSONResponse:
    """The canonical Auth 401 (globus-sdk's fixture)."""
    return auth_error(401, "UNAUTHORIZED", "Call must be authenticated", title="Unauthorized")


def forbidden(detail: str) -> JSONResponse:
    return auth_error(403, "FORBIDDEN", detail, title="Forbidden")


def not_found(detail: str) -> JSONResponse:
    return auth_error(404, "NOT_FOUND", detail, title="Not Found")


def bad_request(detail: str, code: str = "INVALID_PARAMETERS") -> JSONResponse:
    return auth_error(400, code, detail, title="Bad Request")


async def read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded body (last value of each key), or None when it is too large."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    text = body.decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """`(client_id, secret)` of an `Authorization: Basic` header, or None."""
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def holds_resource_server(principal: Principal, resource_server: str) -> bool:
    """Whether the token is for `resource_server` (an administrator's `*` token is good everywhere)."""
    if WILDCARD in principal.scopes:
        return True
    if principal.resource_server is not None:
        return principal.resource_server == resource_server
    # an administrator's token with named scopes, or one issued before tokens recorded their resource server
    return any(catalog.resource_server_of(scope) == resource_server for scope in principal.scopes)


def bearer(
    context: AuthContext, request: Request, *, resource_server: str, scope: str | None = None
) -> Principal | JSONResponse:
    """The caller of a Bearer-authenticated Auth route, or the error to answer: 401 without a valid token, 403
    for a token of another resource server or without `scope`."""
    principal = context.authenticator.authenticate(request.headers.get("authorization"))
    if principal is None:
        return unauthorized()
    if not holds_resource_server(principal, resource_server):
        return forbidden(f"This call needs a token for {resource_server}.")
    if scope is not None and WILDCARD not in principal.scopes and scope not in principal.scopes:
        return forbidden(f"This call needs the scope {scope}.")
    return principal
