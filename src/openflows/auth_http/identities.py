"""Identities, consents and Groups: `GET /v2/api/identities`, `GET /v2/api/identities/{id}/consents`, `GET
/v2/groups/my_groups` and `GET /v2/groups/{id}`.

- Identities need a token for `auth.globus.org` (any of its scopes); a client's own identity is found by its
  client id (`<id>@clients.auth.globus.org`), as the action-provider set-up guide does.
- Consents: a person sees their own (`all=false`, the default: only the forest rooted at the calling token's
  client; `all=true`: every consent). Every field globus-sdk's `Consent.load` requires is present; timestamps
  are ISO 8601 with `+00:00`; each child's parent is in the same answer.
- Groups need a token for `groups.api.globus.org`.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..auth import catalog
from ..auth.identity_docs import LOCAL_IDP, identity_document, identity_providers
from ..auth.scopes import WILDCARD
from ..settings import parse_bool
from ..shared.urns import group_urn
from ..store import auth_consents as consent_store
from ..store.identities import list_group_ids
from ..store.schema import group_members, groups, identities
from .common import AuthContext, bad_request, bearer, forbidden

#: most ids or usernames one identities request may name (globus-sdk's IdentityMap asks for 100 at a time)
MAX_IDENTITIES_PER_REQUEST = 500


def _timestamp(value: Any) -> str:
    return value.isoformat(timespec="microseconds")


def consent_document(row: Any) -> dict[str, Any]:
    """A consent as globus-sdk's `Consent.load` reads it."""
    return {
        "id": int(row.id),
        "client": str(row.client_id),
        "scope": str(row.scope_id),
        "scope_name": row.scope_string,
        "effective_identity": str(row.identity_id),
        "dependency_path": [int(item) for item in row.dependency_path],
        "created": _timestamp(row.created_at),
        "updated": _timestamp(row.updated_at),
        "last_used": _timestamp(row.last_used_at),
        "status": row.status,
        "allows_refresh": bool(row.allows_refresh),
        "auto_approved": bool(row.auto_approved),
        "atomically_revocable": bool(row.atomically_revocable),
    }


def rooted_at(rows: list[Any], client_id: uuid.UUID | None) -> list[Any]:
    """The consents whose root is a consent of `client_id` (every consent when it is None)."""
    if client_id is None:
        return rows
    roots = {row.id for row in rows if row.parent_id is None and row.client_id == client_id}
    return [row for row in rows if row.dependency_path and row.dependency_path[0] in roots]


def create_identities_router(context: AuthContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/v2/api/identities")
    def get_identities(request: Request, ids: str = "", usernames: str = "") -> JSONResponse:
        principal = bearer(context, request, resource_server=catalog.AUTH_RESOURCE_SERVER)
        if isinstance(principal, JSONResponse):
            return principal
        wanted_ids: list[uuid.UUID] = []
        for item in ids.split(","):
            try:
                wanted_ids.append(uuid.UUID(item.strip()))
            except ValueError:
                continue
        wanted_names = [name.strip() for name in usernames.split(",") if name.strip()]
        if len(wanted_ids) + len(wanted_names) > MAX_IDENTITIES_PER_REQUEST:
            return bad_request(f"At most {MAX_IDENTITIES_PER_REQUEST} ids and usernames per request.")
        with context.db.read() as conn:
            rows: list[Any] = []
            if wanted_ids:
                rows += conn.execute(sa.select(identities).where(identities.c.id.in_(wanted_ids))).all()
            if wanted_names:
                rows += conn.execute(
                    sa.select(identities).where(identities.c.username.in_(wanted_names))
                ).all()
            unique = {row.id: row for row in rows}
            providers = identity_providers(conn, list(unique))
        documents = [identity_document(row, providers.get(row.id, LOCAL_IDP)) for row in unique.values()]
        return JSONResponse({"identities": documents})

    @router.get("/v2/api/identities/{identity_id}/consents")
    def get_consents(request: Request, identity_id: str, all: str = "false") -> JSONResponse:  # noqa: A002
        principal = bearer(context, request, resource_server=catalog.AUTH_RESOURCE_SERVER)
        if isinstance(principal, JSONResponse):
            return principal
        try:
            identity = uuid.UUID(identity_id)
            every = parse_bool(all, name="all")
        except ValueError as exc:
            return bad_request(str(exc) if "all" in str(exc) else "Not an identity id.")
        admin = WILDCARD in principal.scopes
        # a client acting as an identity (client credentials) asks by its client id, as a Globus client
        # identity would (the globus CLI with GLOBUS_CLI_CLIENT_ID does): its identity's consents are meant
        itself = principal.client_id is not None and identity == principal.client_id
        if identity != principal.identity_id and not itself and not admin:
            return forbidden("You may only see your own consents.")
        with context.db.read() as conn:
            rows = consent_store.list_consents(conn, principal.identity_id if itself else identity)
        selected = rows if every or principal.client_id is None else rooted_at(rows, principal.client_id)
        return JSONResponse({"consents": [consent_document(row) for row in selected]})

    @router.get("/v2/groups/my_groups")
    def my_groups(request: Request) -> JSONResponse:
        principal = bearer(context, request, resource_server=catalog.GROUPS_RESOURCE_SERVER)
        if isinstance(principal, JSONResponse):
            return principal
        with context.db.read() as conn:
            rows = conn.execute(
                sa.select(groups)
                .join(group_members, group_members.c.group_id == groups.c.id)
                .where(group_members.c.identity_id == principal.identity_id)
                .order_by(groups.c.name)
            ).all()
        return JSONResponse([_group_document(row, principal) for row in rows])

    @router.get("/v2/groups/{group_id}")
    def get_group(request: Request, group_id: str) -> JSONResponse:
        principal = bearer(context, request, resource_server=catalog.GROUPS_RESOURCE_SERVER)
        if isinstance(principal, JSONResponse):
            return principal
        try:
            key = uuid.UUID(group_id)
        except ValueError:
            return _groups_error(404, "NOT_FOUND", "No such group.")
        with context.db.read() as conn:
            row = conn.execute(sa.select(groups).where(groups.c.id == key)).first()
            member = key in list_group_ids(conn, principal.identity_id)
        if row is None or not (member or WILDCARD in principal.scopes):
            return _groups_error(404, "NOT_FOUND", "No such group, or you are not a member of it.")
        return JSONResponse(_group_document(row, principal if member else None))

    return router


def _group_document(row: Any, member: Any) -> dict[str, Any]:
    memberships = []
    if member is not None:
        memberships.append(
            {
                "group_id": str(row.id),
                "identity_id": str(member.identity_id),
                "username": member.username,
                "role": "member",
                "status": "active",
            }
        )
    return {
        "id": str(row.id),
        "name": row.name,
        "description": None,
        "group_type": "regular",
        "enforce_session": False,
        "session_limit": None,
        "session_timeouts": {},
        "urn": group_urn(row.id),
        "my_memberships": memberships,
    }


def _groups_error(status: int, code: str, detail: str) -> JSONResponse:
    """Globus Groups' error shape (`GroupsAPIError` reads `code` and `detail`)."""
    return JSONResponse({"code": code, "detail": detail}, status_code=status)
