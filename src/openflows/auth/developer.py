"""The Auth developer API as services on the store: projects, clients, credentials and scopes, with Globus
Auth's rules of who may do what. The HTTP routes (`auth_http.developer`) only parse and answer.

Who may do what:
- a project is administered by the identities in `admin_ids` and the members of `admin_group_ids` (its creator
  is an administrator when the request names none);
- a client is managed by the administrators of its project, by the client itself (its own client-credentials
  token: the action-provider set-up guide registers scopes that way), and by the client its parent is (child
  clients); an administrator's `*` token may do everything;
- any Auth token may read scopes (`get_scopes(scope_strings=...)` finds built-in ones too).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ..store import auth_clients as client_store
from ..store import auth_scopes as scope_store
from ..store import auth_tokens as token_store
from ..store.identities import list_group_ids
from ..store.schema import groups, identities
from . import catalog, clients, scope_registry
from .identity_docs import identity_document
from .principal import Principal
from .scopes import WILDCARD, parse_flow_scope

SCOPE_SUFFIX_RE = re.compile(r"^[a-z0-9_]{1,100}$")
MAX_TEXT = 1000  # characters, for names and descriptions


class DeveloperError(Exception):
    """A refused developer-API request: HTTP status, Globus Auth error code, message."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _invalid(detail: str) -> DeveloperError:
    return DeveloperError(400, "INVALID_PARAMETERS", detail)


def _not_found(what: str) -> DeveloperError:
    return DeveloperError(404, "NOT_FOUND", f"No such {what}.")


def _forbidden(detail: str) -> DeveloperError:
    return DeveloperError(403, "FORBIDDEN", detail)


@dataclasses.dataclass(frozen=True)
class Caller:
    identity_id: uuid.UUID
    group_ids: frozenset[str]
    admin: bool

    @classmethod
    def of(cls, conn: sa.Connection, principal: Principal) -> Caller:
        group_ids = frozenset(str(group_id) for group_id in list_group_ids(conn, principal.identity_id))
        return cls(principal.identity_id, group_ids, WILDCARD in principal.scopes)

    @classmethod
    def client(cls, client_row: Any) -> Caller:
        """A client acting as itself (HTTP Basic)."""
        return cls(client_row.identity_id, frozenset(), False)


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _invalid(f"{what} is not an id") from None


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _invalid(f"'{key}' must be a non-empty string of at most {MAX_TEXT} characters")
    return value.strip()


def _ids(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f"'{key}' must be a list of ids")
    return [str(_uuid(item, key)) for item in value]


# --- projects ---------------------------------------------------------------------------------------------


def administers(caller: Caller, project: Any) -> bool:
    if caller.admin or str(caller.identity_id) in (project.admin_ids or []):
        return True
    return bool(caller.group_ids & set(project.admin_group_ids or []))


def project_document(conn: sa.Connection, project: Any) -> dict[str, Any]:
    admin_ids = list(project.admin_ids or [])
    group_ids = list(project.admin_group_ids or [])
    people = conn.execute(
        sa.select(identities).where(identities.c.id.in_([uuid.UUID(i) for i in admin_ids]))
    ).all()
    teams = conn.execute(sa.select(groups).where(groups.c.id.in_([uuid.UUID(i) for i in group_ids]))).all()
    return {
        "id": str(project.id),
        "display_name": project.display_name,
        "project_name": project.display_name,
        "contact_email": project.contact_email,
        "admin_ids": admin_ids,
        "admin_group_ids": group_ids,
        "admins": {
            "identities": [identity_document(row) for row in people],
            "groups": [
                {"id": str(row.id), "name": row.name, "description": None, "organization": None}
                for row in teams
            ],
        },
    }


def _project(conn: sa.Connection, caller: Caller, project_id: Any) -> Any:
    project = client_store.get_project(conn, _uuid(project_id, "project"))
    if project is None:
        raise _not_found("project")
    if not administers(caller, project):
        raise _forbidden("You are not an administrator of this project.")
    return project


def list_projects(conn: sa.Connection, caller: Caller) -> list[dict[str, Any]]:
    rows = client_store.list_projects(conn)
    return [project_document(conn, row) for row in rows if administers(caller, row)]


def get_project(conn: sa.Connection, caller: Caller, project_id: str) -> dict[str, Any]:
    return project_document(conn, _project(conn, caller, project_id))


def create_project(conn: sa.Connection, caller: Caller, body: dict[str, Any], *, now: dt.datetime) -> dict:
    admin_ids = _ids(body.get("admin_ids"), "admin_ids")
    group_ids = _ids(body.get("admin_group_ids"), "admin_group_ids")
    if not admin_ids and not group_ids:
        admin_ids = [str(caller.identity_id)]
    project_id = uuid.uuid4()
    client_store.insert_project(
        conn,
        id=project_id,
        display_name=_text(body, "display_name"),
        contact_email=_text(body, "contact_email"),
        admin_ids=admin_ids,
        admin_group_ids=group_ids,
        created_at=now,
    )
    return get_project(conn, dataclasses.replace(caller, admin=True), str(project_id))


def update_project(conn: sa.Connection, caller: Caller, project_id: str, body: dict[str, Any]) -> dict:
    project = _project(conn, caller, project_id)
    changes: dict[str, Any] = {}
    for key in ("display_name", "contact_email"):
        if key in body:
            changes[key] = _text(body, key)
    for key in ("admin_ids", "admin_group_ids"):
        if key in body:
            changes[key] = _ids(body[key], key)
    client_store.update_project(conn, project.id, **changes)
    return get_project(conn, dataclasses.replace(caller, admin=True), project_id)


def delete_project(conn: sa.Connection, caller: Caller, project_id: str) -> dict:
    project = _project(conn, caller, project_id)
    if client_store.list_clients(conn, project_ids=[project.id]):
        raise DeveloperError(409, "CONFLICT", "Delete the project's clients first.")
    document = project_document(conn, project)
    client_store.delete_project(conn, project.id)
    return document


# --- clients ----------------------------------------------------------------------------------------------


def manages(conn: sa.Connection, caller: Caller, client: Any) -> bool:
    """Whether the caller may see and change the client (see the module docstring)."""
    if caller.admin or client.identity_id == caller.identity_id:
        return True
    if client.project_id is not None:
        project = client_store.get_project(conn, client.project_id)
        if project is not None and administers(caller, project):
            return True
    if client.parent_client_id is not None and not client.builtin:
        parent = client_store.get_client(conn, client.parent_client_id)
        return parent is not None and not parent.builtin and manages(conn, caller, parent)
    return False


def _client(conn: sa.Connection, caller: Caller, client_id: Any) -> Any:
    client = client_store.get_client(conn, _uuid(client_id, "client"))
    if client is None or client.revoked_at is not None:
        raise _not_found("client")
    if not manages(conn, caller, client):
        raise _forbidden("You do not manage this client.")
    return client


def client_document(conn: sa.Connection, client: Any) -> dict[str, Any]:
    scope_ids = [str(row.id) for row in scope_store.list_scopes_of_clients(conn, [client.id])]
    return clients.client_document(client, scope_ids)


def list_clients(conn: sa.Connection, caller: Caller) -> list[dict[str, Any]]:
    rows = client_store.list_clients(conn)
    return [
        client_document(conn, row) for row in rows if row.revoked_at is None and manages(conn, caller, row)
    ]


def get_client(conn: sa.Connection, caller: Caller, client_id: str) -> dict[str, Any]:
    return client_document(conn, _client(conn, caller, client_id))


def create_client(conn: sa.Connection, caller: Caller, body: dict[str, Any], *, now: dt.datetime) -> dict:
    """A client in a project the caller administers."""
    if body.get("project") is None:
        raise _invalid("'project' is required")
    project = _project(conn, caller, body.get("project"))
    try:
        spec = clients.spec_from_request(body, project_id=project.id)
    except clients.ClientError as exc:
        raise DeveloperError(exc.status, exc.code, str(exc)) from None
    return client_document(conn, client_store.get_client(conn, clients.create_client(conn, spec, now=now)))


def create_child_client(conn: sa.Connection, parent: Any, body: dict[str, Any], *, now: dt.datetime) -> dict:
    """A client made by a confidential client authenticating as itself (`create_child_client`)."""
    try:
        spec = clients.spec_from_request(body, project_id=parent.project_id)
    except clients.ClientError as exc:
        raise DeveloperError(exc.status, exc.code, str(exc)) from None
    spec = dataclasses.replace(spec, parent_client_id=parent.id)
    return client_document(conn, client_store.get_client(conn, clients.create_client(conn, spec, now=now)))


def create_instance(conn: sa.Connection, body: dict[str, Any], *, now: dt.datetime) -> dict:
    """A native-app instance of a template (no authentication): the client and its credential."""
    template_id = _uuid(body.get("template_id"), "template_id")
    try:
        client_id, credential = clients.create_instance(
            conn, template_id=template_id, name=str(body.get("name") or ""), now=now
        )
    except clients.ClientError as exc:
        raise DeveloperError(exc.status, exc.code, str(exc)) from None
    document = client_document(conn, client_store.get_client(conn, client_id))
    return {"client": document, "included": {"client_credential": credential}}


def update_client(conn: sa.Connection, caller: Caller, client_id: str, body: dict[str, Any]) -> dict:
    client = _client(conn, caller, client_id)
    if client.builtin and not caller.admin:
        raise _forbidden("Built-in clients are changed by the administrator only.")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _text(body, "name")
    if "visibility" in body:
        changes["visibility"] = clients._visibility(body["visibility"])
    if "redirect_uris" in body:
        try:
            changes["redirect_uris"] = list(clients._redirect_uris(body["redirect_uris"]))
        except clients.ClientError as exc:
            raise _invalid(str(exc)) from None
    client_store.update_client(conn, client.id, **changes)
    return client_document(conn, client_store.get_client(conn, client.id))


def delete_client(conn: sa.Connection, caller: Caller, client_id: str, *, now: dt.datetime) -> dict:
    """Delete a client (not a built-in one): its credentials go, the tokens issued to it are revoked."""
    client = _client(conn, caller, client_id)
    if client.builtin:
        raise _forbidden("Built-in clients cannot be deleted.")
    document = client_document(conn, client)
    token_store.revoke_cascade(conn, token_store.active_token_ids_of_client(conn, client.id), now=now)
    client_store.delete_client(conn, client.id)
    return document


# --- credentials ------------------------------------------------------------------------------------------


def list_credentials(conn: sa.Connection, caller: Caller, client_id: str) -> list[dict[str, Any]]:
    client = _client(conn, caller, client_id)
    return [clients.credential_document(row) for row in client_store.list_credentials(conn, client.id)]


def create_credential(
    conn: sa.Connection, caller: Caller, client_id: str, body: dict[str, Any], *, now: dt.datetime
) -> dict:
    client = _client(conn, caller, client_id)
    name = _text(body, "name", required=False) or "credential"
    try:
        return clients.create_credential(conn, client.id, name, now=now)
    except clients.ClientError as exc:
        raise DeveloperError(exc.status, exc.code, str(exc)) from None


def delete_credential(conn: sa.Connection, caller: Caller, client_id: str, credential_id: str) -> dict:
    client = _client(conn, caller, client_id)
    row = client_store.delete_credential(conn, client.id, _uuid(credential_id, "credential"))
    if row is None:
        raise _not_found("credential")
    return clients.credential_document(row)


# --- scopes -----------------------------------------------------------------------------------------------


def _dependencies(conn: sa.Connection, value: Any, *, now: dt.datetime) -> list[scope_store.Dependency]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid("'dependent_scopes' must be a list")
    found = []
    for item in value:
        if not isinstance(item, dict) or "scope" not in item:
            raise _invalid("each dependent scope is {scope, optional, requires_refresh_token}")
        found.append(
            scope_store.Dependency(
                _uuid(item["scope"], "dependent scope"),
                bool(item.get("optional", False)),
                bool(item.get("requires_refresh_token", False)),
            )
        )
    known = scope_registry.resolve_ids(conn, [dep.dependent_scope_id for dep in found])
    unknown = [dep.dependent_scope_id for dep in found if dep.dependent_scope_id not in known]
    if unknown:
        raise _invalid(f"unknown dependent scope {unknown[0]}")
    scope_registry.ensure_stored(conn, known.values(), now=now)
    return found


def _scope_documents(conn: sa.Connection, infos: Iterable[scope_registry.ScopeInfo]) -> list[dict[str, Any]]:
    return [scope_registry.scope_document(conn, info) for info in infos]


def create_scope(
    conn: sa.Connection, caller: Caller, client_id: str, body: dict[str, Any], *, now: dt.datetime
) -> dict[str, Any]:
    client = _client(conn, caller, client_id)
    suffix = _text(body, "scope_suffix") or ""
    if not SCOPE_SUFFIX_RE.match(suffix):
        raise _invalid("'scope_suffix' may contain only lowercase letters, digits and underscores")
    scope_string = f"{catalog.SCOPE_URL_PREFIX}{client.id}/{suffix}"
    if scope_registry.resolve(conn, [scope_string]):
        raise DeveloperError(409, "CONFLICT", f"The scope {scope_string} exists already.")
    dependencies = _dependencies(conn, body.get("dependent_scopes"), now=now)
    scope_id = uuid.uuid4()
    scope_store.insert_scope(
        conn,
        scope_store.NewScope(
            id=scope_id,
            scope_string=scope_string,
            resource_server=str(client.id),
            client_id=client.id,
            name=_text(body, "name") or "",
            description=_text(body, "description") or "",
            scope_suffix=suffix,
            advertised=bool(body.get("advertised", False)),
            allows_refresh_token=bool(body.get("allows_refresh_token", True)),
            required_domains=tuple(str(item) for item in body.get("required_domains") or ()),
        ),
        now=now,
    )
    scope_store.set_dependencies(conn, scope_id, dependencies)
    return get_scope(conn, str(scope_id))


def get_scope(conn: sa.Connection, scope_id: str) -> dict[str, Any]:
    info = scope_registry.resolve_ids(conn, [_uuid(scope_id, "scope")]).get(uuid.UUID(scope_id))
    if info is None:
        raise _not_found("scope")
    return scope_registry.scope_document(conn, info)


def get_scopes(
    conn: sa.Connection, caller: Caller, *, scope_strings: list[str], ids: list[str]
) -> list[dict[str, Any]]:
    """Scopes by string or id (any that exist, built-in ones included); with neither, the scopes of the
    clients the caller manages."""
    if scope_strings or ids:
        by_string = scope_registry.resolve(conn, scope_strings)
        by_id = scope_registry.resolve_ids(conn, [_uuid(item, "scope id") for item in ids])
        infos = {info.id: info for info in [*by_string.values(), *by_id.values()]}
        return _scope_documents(conn, infos.values())
    managed = [row.id for row in client_store.list_clients(conn) if manages(conn, caller, row)]
    rows = scope_store.list_scopes_of_clients(conn, managed)
    return _scope_documents(conn, scope_registry.resolve_ids(conn, [row.id for row in rows]).values())


def _owned_scope(conn: sa.Connection, caller: Caller, scope_id: str) -> Any:
    row = scope_store.get_scope(conn, _uuid(scope_id, "scope"))
    if row is None:
        raise _not_found("scope")
    if row.client_id is None or parse_flow_scope(row.scope_string) is not None:
        raise _forbidden("Built-in and flow scopes cannot be changed here.")
    _client(conn, caller, str(row.client_id))
    return row


def update_scope(
    conn: sa.Connection, caller: Caller, scope_id: str, body: dict[str, Any], *, now: dt.datetime
) -> dict:
    row = _owned_scope(conn, caller, scope_id)
    changes: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in body:
            changes[key] = _text(body, key)
    for key in ("advertised", "allows_refresh_token"):
        if key in body:
            changes[key] = bool(body[key])
    if "required_domains" in body:
        changes["required_domains"] = [str(item) for item in body["required_domains"] or []]
    scope_store.update_scope(conn, row.id, **changes)
    if "dependent_scopes" in body:
        scope_store.set_dependencies(conn, row.id, _dependencies(conn, body["dependent_scopes"], now=now))
    return get_scope(conn, str(row.id))


def delete_scope(conn: sa.Connection, caller: Caller, scope_id: str) -> dict:
    row = _owned_scope(conn, caller, scope_id)
    document = get_scope(conn, str(row.id))
    scope_store.delete_scope(conn, row.id)
    return document
