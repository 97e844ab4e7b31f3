"""A Globus-Auth-compatible surface, so unmodified Globus clients (the `globus` CLI, globus-sdk apps,
Action Providers built with globus-action-provider-tools) work against OpenFlows when pointed at this server
with `GLOBUS_SDK_SERVICE_URL_AUTH` (and `GLOBUS_SDK_SERVICE_URL_GROUPS`).

- `POST /v2/oauth2/token`: the `client_credentials` grant. The client authenticates with HTTP Basic
  (`client_id:client_secret`, from `openflows clients create`) or form fields; the token issued is an ordinary
  OpenFlows bearer token of the client's identity holding exactly the requested scopes (Flows scopes, per-flow
  scopes, and Auth/Groups scopes such as `openid`). The answer is Globus Auth's: the first resource server's
  token at the top (`access_token, expires_in, resource_server, scope, token_type`) and one more document per
  other resource server in `other_tokens`.
- `POST /v2/oauth2/token/introspect` (client Basic auth; form `token`, `include=identity_set`).
- `GET /v2/api/identities?ids=…|usernames=…` and `GET /v2/groups/my_groups` (Bearer token).

Errors follow Globus Auth's shape: `{"error": "invalid_client", "errors": [{"code", "status", "detail"}]}`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..store import identities as identity_store
from ..store.schema import group_members, groups, identities, oauth_clients
from .principal import Principal, group_urn
from .scopes import ALL, FLOWS_CLIENT_ID, FLOWS_RESOURCE_SERVER, SERVICE_SCOPES, parse_flow_scope
from .tokens import Authenticator, create_token, hash_token, lookup_principal

if TYPE_CHECKING:
    from ..store.db import Database

#: lifetime of the tokens the token endpoint issues (Globus Auth's: 48 hours)
TOKEN_LIFETIME = dt.timedelta(hours=48)
#: resource server of Globus Auth's own scopes (`openid`, `profile`, `email`, `urn:globus:auth:scope:auth…`)
AUTH_RESOURCE_SERVER = "auth.globus.org"
AUTH_ISSUER = "https://auth.globus.org"
_AUTH_SHORT_SCOPES = frozenset({"openid", "profile", "email"})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- clients --------------------------------------------------------------------------------------


def create_client(
    conn: sa.Connection, *, identity_id: uuid.UUID, now: dt.datetime, description: str | None = None
) -> tuple[str, str]:
    """A new client bound to the identity: `(client_id, client_secret)`; only the secret's hash is stored."""
    client_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(oauth_clients).values(
            id=client_id,
            secret_hash=hash_token(secret),
            identity_id=identity_id,
            description=description,
            created_at=now,
        )
    )
    return str(client_id), secret


def authenticate_client(conn: sa.Connection, client_id: str, secret: str) -> sa.Row[Any] | None:
    """The client row when the id and secret match an unrevoked client, else None."""
    try:
        key = uuid.UUID(client_id)
    except ValueError:
        return None
    row = conn.execute(sa.select(oauth_clients).where(oauth_clients.c.id == key)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not secrets.compare_digest(row.secret_hash, hashlib.sha256(secret.encode()).hexdigest()):
        return None
    return row


def list_clients(conn: sa.Connection) -> list[sa.Row[Any]]:
    query = (
        sa.select(oauth_clients, identities.c.username)
        .join(identities, identities.c.id == oauth_clients.c.identity_id)
        .order_by(oauth_clients.c.created_at)
    )
    return list(conn.execute(query))


def revoke_client(conn: sa.Connection, client_id: uuid.UUID, *, now: dt.datetime) -> bool:
    done = conn.execute(
        sa.update(oauth_clients)
        .where(oauth_clients.c.id == client_id, oauth_clients.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(done.rowcount)


# --- scopes ---------------------------------------------------------------------------------------


def resource_server_of(scope: str) -> str:
    """The resource server a scope string belongs to (as Globus Auth names it)."""
    if scope == ALL or scope in SERVICE_SCOPES:
        return FLOWS_RESOURCE_SERVER
    flow_id = parse_flow_scope(scope)
    if flow_id is not None:
        return str(flow_id)
    if scope in _AUTH_SHORT_SCOPES:
        return AUTH_RESOURCE_SERVER
    if scope.startswith("urn:globus:auth:scope:"):
        return scope.split(":")[4]
    if scope.startswith("https://auth.globus.org/scopes/"):
        server = scope.removeprefix("https://auth.globus.org/scopes/").split("/")[0]
        return FLOWS_RESOURCE_SERVER if server == FLOWS_CLIENT_ID else server
    return scope


def group_scopes(requested: list[str]) -> dict[str, list[str]]:
    """Requested scopes grouped by resource server, in request order."""
    grouped: dict[str, list[str]] = {}
    for scope in requested:
        grouped.setdefault(resource_server_of(scope), []).append(scope)
    return grouped


# --- the router -----------------------------------------------------------------------------------


def _auth_error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": error,
            "error_description": detail,
            "errors": [{"status": str(status), "code": error.upper(), "detail": detail}],
        },
        status_code=status,
        headers={"WWW-Authenticate": 'Basic realm="openflows"'} if status == 401 else None,
    )


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _basic_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    return None


def _identity_document(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "username": row.username,
        "name": row.name or row.username,
        "email": row.email,
        "status": "used",
        "identity_provider": str(uuid.UUID(int=0)),
        "identity_type": "login",
        "organization": None,
    }


def create_auth_router(db: Database, authenticator: Authenticator) -> APIRouter:
    """The Globus-Auth-compatible routes (see the module docstring)."""
    router = APIRouter(include_in_schema=False)  # not part of the Flows API (and its OpenAPI document)

    def client_from(request: Request, form: dict[str, str]) -> Any:
        credentials = _basic_credentials(request, form)
        if credentials is None:
            return None
        with db.read() as conn:
            return authenticate_client(conn, *credentials)

    def bearer_principal(request: Request) -> Principal | None:
        return authenticator.authenticate(request.headers.get("authorization"))

    @router.post("/v2/oauth2/token", summary="Issue tokens (client_credentials grant)")
    async def token(request: Request) -> JSONResponse:
        form = await _form(request)
        client = client_from(request, form)
        if client is None:
            return _auth_error(401, "invalid_client", "Unknown client or wrong secret")
        if form.get("grant_type") != "client_credentials":
            return _auth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        requested = list(dict.fromkeys((form.get("scope") or "").split()))
        if not requested:
            return _auth_error(400, "invalid_scope", "No scope requested")
        now = utcnow()
        expires_at = now + TOKEN_LIFETIME

        def issue(conn: sa.Connection) -> list[dict[str, Any]]:
            documents = []
            for server, scopes in group_scopes(requested).items():
                access_token, _ = create_token(
                    conn,
                    identity_id=client.identity_id,
                    scopes=scopes,
                    description=f"oauth client {client.id}",
                    now=now,
                    expires_at=expires_at,
                )
                documents.append(
                    {
                        "access_token": access_token,
                        "expires_in": int(TOKEN_LIFETIME.total_seconds()),
                        "resource_server": server,
                        "scope": " ".join(scopes),
                        "token_type": "Bearer",
                    }
                )
            return documents

        first, *others = db.transact(issue)
        return JSONResponse({**first, "other_tokens": others})

    @router.post("/v2/oauth2/token/introspect", summary="Describe a token")
    async def introspect(request: Request) -> JSONResponse:
        form = await _form(request)
        client = client_from(request, form)
        if client is None:
            return _auth_error(401, "invalid_client", "Unknown client or wrong secret")
        presented = form.get("token") or ""
        now = utcnow()
        with db.read() as conn:
            principal = lookup_principal(conn, presented, now=now)
            row = identity_store.get_token_by_hash(conn, hash_token(presented)) if principal else None
        if principal is None or row is None:
            return JSONResponse({"active": False})
        scopes = sorted(principal.scopes)
        document: dict[str, Any] = {
            "active": True,
            "scope": " ".join(scopes),
            "client_id": str(client.id),
            "sub": str(principal.identity_id),
            "username": principal.username,
            "name": principal.name or principal.username,
            "email": principal.email,
            "aud": sorted({resource_server_of(scope) for scope in scopes}),
            "iss": AUTH_ISSUER,
            "iat": int(row.created_at.timestamp()),
            "nbf": int(row.created_at.timestamp()),
            "exp": int((row.expires_at or row.created_at + dt.timedelta(days=365)).timestamp()),
            "token_type": "Bearer",
        }
        if "identity_set" in (form.get("include") or "").split(","):
            document["identity_set"] = [str(principal.identity_id)]
        return JSONResponse(document)

    @router.get("/v2/api/identities", summary="Look up identities by id or username")
    def get_identities(request: Request, ids: str = "", usernames: str = "") -> JSONResponse:
        if bearer_principal(request) is None:
            return _auth_error(401, "unauthorized", "A valid bearer token is required")
        wanted_ids = []
        for item in ids.split(","):
            try:
                wanted_ids.append(uuid.UUID(item.strip()))
            except ValueError:
                continue
        wanted_names = [name.strip() for name in usernames.split(",") if name.strip()]
        with db.read() as conn:
            rows = []
            if wanted_ids:
                rows += list(conn.execute(sa.select(identities).where(identities.c.id.in_(wanted_ids))))
            if wanted_names:
                by_name = sa.select(identities).where(identities.c.username.in_(wanted_names))
                rows += list(conn.execute(by_name))
        unique = {row.id: row for row in rows}
        return JSONResponse({"identities": [_identity_document(row) for row in unique.values()]})

    @router.get("/v2/groups/my_groups", summary="The caller's groups")
    def my_groups(request: Request) -> JSONResponse:
        principal = bearer_principal(request)
        if principal is None:
            return _auth_error(401, "unauthorized", "A valid bearer token is required")
        with db.read() as conn:
            rows = list(
                conn.execute(
                    sa.select(groups)
                    .join(group_members, group_members.c.group_id == groups.c.id)
                    .where(group_members.c.identity_id == principal.identity_id)
                    .order_by(groups.c.name)
                )
            )
        membership = {
            "identity_id": str(principal.identity_id),
            "username": principal.username,
            "role": "member",
            "status": "active",
        }
        return JSONResponse(
            [
                {
                    "id": str(row.id),
                    "name": row.name,
                    "description": None,
                    "group_type": "regular",
                    "urn": group_urn(row.id),
                    "my_memberships": [{**membership, "group_id": str(row.id)}],
                }
                for row in rows
            ]
        )

    return router
