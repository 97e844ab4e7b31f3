"""The OAuth 2.0 / OpenID Connect routes of Auth: token (four grants), introspect, revoke, validate, userinfo,
the OpenID configuration and the JWKS.

- The token endpoint answers in Globus Auth's shape (see `auth.issuing`, `auth.grants`); its errors are
  OAuth's (`{"error": "invalid_grant", ...}`, 401 for a bad code, refresh token or client).
- Revoke always answers 200 `{"active": false}`: globus-cli logs out by revoking, as its template client, the
  tokens of its instance client, and aborts on any 4xx. Holding a token is enough to revoke it.
- Validate (removed from globus-sdk 4 but called by globus-cli before every command) answers `{"active":
  bool}`.
- The OpenID configuration and the JWKS are public and ignore any `Authorization` header (globus-sdk sends its
  client's); `jwks_uri` is absolute, on this service, because globus-sdk fetches it verbatim.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import catalog, grants, identity_docs, introspection, issuing
from ..auth.keys import ID_TOKEN_ALGORITHM, SigningKeys
from ..auth.scopes import WILDCARD
from ..store.auth_tokens import get_auth_session
from ..store.identities import get_identity
from .common import NO_STORE, AuthContext, auth_error, basic_credentials, bearer, read_form

log = logging.getLogger(__name__)

JWKS_PATH = "jwk.json"


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    response = grants.GrantError(status, error, description).document()
    headers = {"WWW-Authenticate": 'Basic realm="openflows"'} if status == 401 else {}
    return JSONResponse(response, status_code=status, headers={**headers, **NO_STORE})


def create_oauth_router(context: AuthContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/v2/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        form = await read_form(request)
        if form is None:
            return _oauth_error(400, "invalid_request", "The request body is too large.")
        basic = basic_credentials(request)
        grant_context = grants.GrantContext(
            lifetimes=context.lifetimes, keys=context.keys, issuer=context.issuer(request), now=context.now()
        )

        def exchange(conn: Any) -> Any:
            client = grants.authenticate_client(conn, basic, form)
            if isinstance(client, grants.GrantError):
                return client
            grant = grants.GRANTS.get(form.get("grant_type") or "")
            if grant is None:
                return grants.GrantError(400, "unsupported_grant_type", "Unsupported grant_type.")
            return grant(conn, grant_context, client, form)

        result = await run_in_threadpool(context.db.transact, exchange)
        if isinstance(result, grants.GrantError):
            if result.revoked:
                context.authenticator.invalidate()
            log.info("token request refused: %s (%s)", result.error, form.get("grant_type"))
            headers = (
                {"WWW-Authenticate": 'Basic realm="openflows"'} if result.error == "invalid_client" else {}
            )
            return JSONResponse(result.document(), status_code=result.status, headers={**headers, **NO_STORE})
        return JSONResponse(result, headers=NO_STORE)

    @router.post("/v2/oauth2/token/introspect")
    async def introspect(request: Request) -> JSONResponse:
        form = await read_form(request)
        if form is None:
            return _oauth_error(400, "invalid_request", "The request body is too large.")
        basic = basic_credentials(request)
        include = {
            item.strip()
            for item in (form.get("include") or request.query_params.get("include") or "").split(",")
            if item.strip()
        }
        issuer, now = context.issuer(request), context.now()

        def look(conn: Any) -> Any:
            client = grants.authenticate_client(conn, basic, form)
            if isinstance(client, grants.GrantError):
                return client
            if client.public_client:
                return grants.GrantError(401, "invalid_client", "A public client cannot introspect tokens.")
            return introspection.introspect(
                conn,
                client_id=client.id,
                token=form.get("token") or "",
                include=include,
                issuer=issuer,
                lifetimes=context.lifetimes,
                now=now,
            )

        result = await run_in_threadpool(_read, context, look)
        if isinstance(result, grants.GrantError):
            return _oauth_error(result.status, result.error, result.description)
        return JSONResponse(result, headers=NO_STORE)

    @router.post("/v2/oauth2/token/revoke")
    async def revoke(request: Request) -> JSONResponse:
        form = await read_form(request) or {}
        presented = form.get("token") or ""
        if presented:
            now = context.now()
            await run_in_threadpool(
                context.db.transact, lambda conn: issuing.revoke(conn, presented, now=now)
            )
            context.authenticator.invalidate()
        return JSONResponse({"active": False}, headers=NO_STORE)

    @router.post("/v2/oauth2/token/validate")
    async def validate(request: Request) -> JSONResponse:
        form = await read_form(request)
        if form is None:
            return _oauth_error(400, "invalid_request", "The request body is too large.")
        basic = basic_credentials(request)
        now = context.now()

        def check(conn: Any) -> Any:
            client = grants.authenticate_client(conn, basic, form)
            if isinstance(client, grants.GrantError):
                return client
            active = introspection.validate(
                conn, client_id=client.id, token=form.get("token") or "", lifetimes=context.lifetimes, now=now
            )
            return {"active": active}

        result = await run_in_threadpool(_read, context, check)
        if isinstance(result, grants.GrantError):
            return _oauth_error(result.status, result.error, result.description)
        return JSONResponse(result, headers=NO_STORE)

    @router.get("/v2/oauth2/userinfo")
    @router.post("/v2/oauth2/userinfo")
    def userinfo(request: Request) -> JSONResponse:
        principal = bearer(context, request, resource_server=catalog.AUTH_RESOURCE_SERVER)
        if isinstance(principal, JSONResponse):
            return principal
        everything = WILDCARD in principal.scopes
        if not everything and catalog.OPENID not in principal.scopes:
            return auth_error(403, "FORBIDDEN", "userinfo needs a token with the openid scope.")
        with context.db.read() as conn:
            identity = get_identity(conn, principal.identity_id)
            session = get_auth_session(conn, principal.session_id) if principal.session_id else None
            providers = identity_docs.identity_providers(conn, [principal.identity_id])
        assert identity is not None
        idp = session.idp if session else providers.get(principal.identity_id, identity_docs.LOCAL_IDP)
        body = identity_docs.claims(
            identity_id=identity.id,
            username=identity.username,
            name=identity.name,
            email=identity.email,
            scopes=principal.scopes,
            idp=idp,
            last_authentication=session.auth_time if session else None,
            everything=everything,
        )
        return JSONResponse(body)

    @router.get("/.well-known/openid-configuration")
    def openid_configuration(request: Request) -> JSONResponse:
        base = context.base_url(request)
        return JSONResponse(
            {
                "issuer": base.rstrip("/"),
                "authorization_endpoint": base + "v2/oauth2/authorize",
                "token_endpoint": base + "v2/oauth2/token",
                "userinfo_endpoint": base + "v2/oauth2/userinfo",
                "revocation_endpoint": base + "v2/oauth2/token/revoke",
                "introspection_endpoint": base + "v2/oauth2/token/introspect",
                "jwks_uri": base + JWKS_PATH,
                "response_types_supported": ["code"],
                "grant_types_supported": list(grants.GRANTS),
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": [ID_TOKEN_ALGORITHM],
                "scopes_supported": [catalog.OPENID, catalog.PROFILE, catalog.EMAIL],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "at_hash",
                    "nonce",
                    "name",
                    "preferred_username",
                    "email",
                    "organization",
                    "identity_provider",
                    "identity_provider_display_name",
                    "last_authentication",
                    "identity_set",
                ],
                "subject_types_supported": ["public"],
            }
        )

    @router.get("/" + JWKS_PATH)
    def jwks() -> JSONResponse:
        with context.db.read() as conn:
            return JSONResponse(SigningKeys.jwks(conn, now=context.now()))

    return router


def _read(context: AuthContext, fn: Any) -> Any:
    with context.db.read() as conn:
        return fn(conn)
