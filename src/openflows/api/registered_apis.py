"""Registered API routes (issue 15; spec flows-api.md §3, §7, §9): create, get, list, update, delete.

A registered API is one operation of an OpenAPI 3.1 document (its `target`) that flows call with
`"Handler": {"Type": "RegisteredAPI", "Id": ...}`. The service checks the target (language/openapi_target.py)
and derives the `state_input_schema` and `data_templates` it returns; a client may give its own (validated).

Roles mirror the flow rules: owners ⊃ administrators ⊃ viewers; no role -> 404, a weaker role -> 403.
Viewers see it; administrators update it and its viewers; owners change administrators and owners (never
removing their own access) and delete it. A delete marks it `DELETE_PENDING` for the grace period
(`registered_api_deletion_days`), during which its role holders still see it and flows that use it fail.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import Field, WithJsonSchema

from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..language.api_calls import DATA_TEMPLATES_JSON_SCHEMA, check_data_templates
from ..language.model import Problem, isoformat
from ..language.openapi_target import (
    TARGET_JSON_SCHEMA,
    check_target,
    default_data_templates,
    state_input_schema,
)
from ..language.schema_check import validate_input_schema
from ..shared import roles
from ..store import registered_apis as store
from ..store.keyset import build_order, decode_key, encode_key
from . import query as q
from .bodies import RequestBody, UuidText, _role_list
from .deps import PrincipalDep, ServiceDep, require_scope
from .errors import BadRequest, Forbidden, NotFound, StateConflict, Unprocessable
from .pagination import MARKER_CONSTRAINTS, MARKER_DOC, decode_marker, encode_marker, page_document
from .routing import DocumentRoute
from .schemas import COMMON_ERRORS, RegisteredApiDocument, RegisteredApiList, error_responses
from .security import globus_auth

router = APIRouter(tags=["registered_apis"], route_class=DocumentRoute)

ORDER_FIELDS = {name: name for name in store.SORT_FIELDS}
DEFAULT_ORDER = [("updated_timestamp", True)]
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
_ERRORS = error_responses(*COMMON_ERRORS)
_ERRORS_409 = error_responses(*COMMON_ERRORS, 409)

OwnerList = _role_list("RegisteredAPIOwner")
AdministratorList = _role_list("RegisteredAPIAdministrator")
ViewerList = _role_list("RegisteredAPIViewer")
#: role names `filter_roles` accepts: singular or plural, any letter case
_ROLE_NAMES = [name for role in roles.API_ROLES for name in (role, f"{role}s")]
_ROLE_ITEM = q.one_of(_ROLE_NAMES)
_ORDER_ITEM = q.orderby_item(ORDER_FIELDS)
_ORDER_ENUM = q.orderby_enum(sorted(ORDER_FIELDS))

#: the target, the client's templates and input schema: objects whose documented structure is what
#: language/openapi_target.py and language/api_calls.py check; their own languages (OpenAPI, templates,
#: JSON Schema) are checked by the server, with 422 problems located under their names
Target = Annotated[dict[str, Any], WithJsonSchema(TARGET_JSON_SCHEMA)]
DataTemplates = Annotated[dict[str, Any], WithJsonSchema(DATA_TEMPLATES_JSON_SCHEMA)]
StateInputSchema = Annotated[dict[str, Any], Field(description="A JSON Schema of the state's Parameters")]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Description = Annotated[str, Field(max_length=4096)]


class RegisteredApiRoles(RequestBody):
    owners: OwnerList | None = None  # type: ignore[valid-type]
    administrators: AdministratorList | None = None  # type: ignore[valid-type]
    viewers: ViewerList | None = None  # type: ignore[valid-type]


class RegisteredApiCreate(RequestBody):
    """`POST /registered_apis` (unknown keys are ignored and null means absent, as on the Flows routes)."""

    name: Name
    description: Description = ""
    target: Target
    roles: RegisteredApiRoles | None = None
    subscription_id: UuidText | None = None
    data_templates: DataTemplates | None = None
    state_input_schema: StateInputSchema | None = None


class RegisteredApiUpdate(RequestBody):
    """`PATCH /registered_apis/{id}`: only the keys given (non-null) change."""

    name: Name | None = None
    description: Description | None = None
    target: Target | None = None
    roles: RegisteredApiRoles | None = None
    subscription_id: UuidText | None = None
    data_templates: DataTemplates | None = None
    state_input_schema: StateInputSchema | None = None


# --- documents ----------------------------------------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return isoformat(value) if value is not None else None


def api_document(api: dict[str, Any], *, urns: frozenset[str]) -> dict[str, Any]:
    """The registered API document for a caller holding `urns` (role lists beyond the owners only for
    administrators, as for flows)."""
    held = roles.effective_api_roles(urns, api)
    admin = roles.API_ADMINISTRATOR in held
    target = dict(api["target"])
    target.setdefault("transforms", None)
    return {
        "id": str(api["id"]),
        "name": api["name"],
        "description": api["description"] or "",
        "roles": {
            "owners": list(api["owners"]),
            "administrators": list(api["administrators"]) if admin else [],
            "viewers": list(api["viewers"]) if admin else [],
        },
        "target": target,
        "data_templates": api["data_templates"],
        "state_input_schema": api["state_input_schema"],
        "status": api["status"],
        "subscription_id": api["subscription_id"],
        "created_timestamp": _time(api["created_at"]),
        "edited_timestamp": _time(api["edited_at"]),
        "updated_timestamp": _time(api["updated_at"]),
        "scheduled_deletion_timestamp": _time(api["scheduled_deletion_at"]),
        "user_roles": [role for role in roles.API_ROLES if role in held],
    }


def summary_document(api: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(api["id"]),
        "name": api["name"],
        "description": api["description"] or "",
        "created_timestamp": _time(api["created_at"]),
        "updated_timestamp": _time(api["updated_at"]),
    }


def not_found(api_id: object) -> NotFound:
    return NotFound(f"No Registered API exists with id value {api_id}")


def forbidden(api_id: object, missing: str) -> Forbidden:
    return Forbidden(
        "You do not have the necessary permissions to perform this action on the registered API with id "
        f"value {api_id}. Missing permissions: {missing}."
    )


# --- checks -------------------------------------------------------------------------------------------------


def _located(problems: list[Problem], prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [p.as_dict(prefix) for p in problems]


def prepare_target(
    target: dict[str, Any],
    data_templates: dict[str, Any] | None,
    input_schema: dict[str, Any] | None,
) -> dict[str, Any]:
    """The stored columns for a target (+ optional client templates and schema); 422 with located problems."""
    operation, problems = check_target(target)
    if operation is None:
        raise Unprocessable(_located(problems, ("target",)))
    schema = input_schema if input_schema is not None else state_input_schema(operation)
    templates = data_templates if data_templates is not None else default_data_templates(operation)
    found = _located(validate_input_schema(schema), ("state_input_schema",))
    found += _located(check_data_templates(templates), ("data_templates",))
    if found:
        raise Unprocessable(found)
    return {
        "target": target,
        "state_input_schema": schema,
        "data_templates": templates,
        "scopes": list(operation.scopes),
    }


def load_api(
    conn: sa.Connection, api_id: uuid.UUID, principal: Principal, role: str, missing: str, now: dt.datetime
) -> tuple[dict[str, Any], frozenset[str]]:
    """The registered API and the caller's roles: 404 without any role, 403 without `role`."""
    api = store.get_registered_api(conn, api_id=api_id, now=now)
    if api is None:
        raise not_found(api_id)
    held = roles.effective_api_roles(principal.urns, api)
    if not held:
        raise not_found(api_id)
    if role not in held:
        raise forbidden(api_id, missing)
    return api, held


def _keeps_access(principal: Principal, owners: list[str]) -> bool:
    return bool(set(owners) & set(principal.urns))


# --- routes -------------------------------------------------------------------------------------------------


@router.post(
    "/registered_apis",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
    status_code=201,
    response_model=None,
    responses={201: {"model": RegisteredApiDocument, "description": "The new registered API"}, **_ERRORS},
)
def create_registered_api(body: RegisteredApiCreate, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Register one operation of an OpenAPI 3.1 document; the caller is an owner unless `roles.owners`
    names them (or a group of theirs)."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    columns = prepare_target(body.target, body.data_templates, body.state_input_schema)
    given = body.roles or RegisteredApiRoles()
    owners = list(given.owners or []) or [principal.identity_urn]
    if not _keeps_access(principal, owners):
        raise Unprocessable(
            [
                {
                    "loc": ["roles", "owners"],
                    "msg": "The owners must include the caller's identity or one of the caller's groups",
                    "type": "value_error",
                }
            ]
        )
    api_id = uuid.uuid4()

    def insert(conn: sa.Connection) -> dict[str, Any]:
        return store.create_registered_api(
            conn,
            api_id=api_id,
            created_by=principal.identity_urn,
            name=body.name,
            description=body.description,
            owners=owners,
            administrators=list(given.administrators or []),
            viewers=list(given.viewers or []),
            subscription_id=body.subscription_id,
            now=service.now(),
            **columns,
        )

    return api_document(service.transact(insert), urns=principal.urns)


@router.get(
    "/registered_apis",
    openapi_extra=globus_auth(flows_scopes.VIEW_FLOWS),
    response_model=None,
    responses={200: {"model": RegisteredApiList, "description": "A page of registered APIs"}, **_ERRORS},
)
def list_registered_apis(
    principal: PrincipalDep,
    service: ServiceDep,
    *,
    filter_roles: Annotated[
        list[str],
        Query(
            default_factory=list,
            description="owner, administrator or viewer (singular or plural, any case), repeated or "
            "comma-joined; empty = owner",
            json_schema_extra={"items": q.list_items_schema(_ROLE_ITEM, enum=_ROLE_NAMES)},
        ),
    ],
    orderby: Annotated[
        list[str],
        Query(
            default_factory=list,
            description="'FIELD', 'FIELD ASC' or 'FIELD DESC' (any case; spaces, '+' or ':' between), "
            "repeated or comma-joined; FIELD: id, name, created_timestamp, updated_timestamp; default "
            "updated_timestamp DESC",
            json_schema_extra={"items": q.list_items_schema(_ORDER_ITEM, enum=_ORDER_ENUM)},
        ),
    ],
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description=f"default {DEFAULT_PER_PAGE}"), q.QUERY_INT
    ] = DEFAULT_PER_PAGE,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
) -> dict:
    """The registered APIs on which the caller holds one of `filter_roles` (default: owner)."""
    require_scope(principal, flows_scopes.VIEW_FLOWS)
    if marker:
        query, after_raw = decode_marker("registered_apis", marker)
    else:
        wanted = _parse_roles(filter_roles)
        order = q.parse_orderby(orderby, allowed=ORDER_FIELDS) or DEFAULT_ORDER
        query = {
            "roles": wanted or [roles.API_OWNER],
            "order": [[field, desc] for field, desc in order],
            "per_page": per_page,
        }
        after_raw = None
    try:
        order_keys = build_order(store.SORT_FIELDS, query["order"])
        after_key = None if after_raw is None else decode_key(order_keys, after_raw)
        limit = int(query["per_page"])
        wanted_roles = [str(role) for role in query["roles"]]
        if not 1 <= limit <= MAX_PER_PAGE or not set(wanted_roles) <= set(roles.API_ROLES):
            raise ValueError("query")
    except (KeyError, TypeError, ValueError):
        raise BadRequest("Invalid pagination marker") from None
    with service.db.read() as conn:
        rows, next_key = store.list_registered_apis(
            conn,
            urns=sorted(principal.urns),
            filter_roles=wanted_roles,
            order=order_keys,
            after_key=after_key,
            limit=limit,
        )
    next_marker = (
        encode_marker("registered_apis", query, encode_key(order_keys, next_key))
        if next_key is not None
        else None
    )
    return page_document(
        "registered_apis", [summary_document(r) for r in rows], limit=limit, marker=next_marker
    )


def _parse_roles(values: list[str]) -> list[str]:
    """Singular role names from `filter_roles` items (singular or plural, any case); 422 for others."""
    item_re = re.compile(_ROLE_ITEM)
    wanted: list[str] = []
    for item in q.split_values(values):
        if item_re.fullmatch(item) is None:
            raise Unprocessable(
                [
                    {
                        "loc": ["query", "filter_roles"],
                        "msg": f"Unknown role {item[:64]!r}; expected one of: owner, administrator, viewer",
                        "type": "enum",
                    }
                ],
                where="query",
            )
        role = item.lower().removesuffix("s")
        if role not in wanted:
            wanted.append(role)
    return wanted


@router.get(
    "/registered_apis/{registered_api_id}",
    openapi_extra=globus_auth(flows_scopes.VIEW_FLOWS),
    response_model=None,
    responses={200: {"model": RegisteredApiDocument, "description": "The registered API"}, **_ERRORS},
)
def get_registered_api(registered_api_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """One registered API (404 when the caller holds no role on it)."""
    require_scope(principal, flows_scopes.VIEW_FLOWS)
    with service.db.read() as conn:
        api, _ = load_api(conn, registered_api_id, principal, roles.API_VIEWER, "VIEW", service.now())
    return api_document(api, urns=principal.urns)


@router.patch(
    "/registered_apis/{registered_api_id}",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
    response_model=None,
    responses={
        200: {"model": RegisteredApiDocument, "description": "The updated registered API"},
        **_ERRORS_409,
    },
)
def update_registered_api(
    registered_api_id: uuid.UUID, body: RegisteredApiUpdate, principal: PrincipalDep, service: ServiceDep
) -> dict:
    """Partial update: administrators change everything but administrators and owners (owners only); 409
    STATE_CONFLICT once it is marked for deletion."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    changes: dict[str, Any] = {
        key: getattr(body, key)
        for key in ("name", "description", "subscription_id")
        if getattr(body, key) is not None
    }
    if body.target is not None:
        changes.update(prepare_target(body.target, body.data_templates, body.state_input_schema))
    elif body.data_templates is not None or body.state_input_schema is not None:
        changes.update(_templates_only(body))
    given = body.roles or RegisteredApiRoles()
    for column in roles.API_ROLE_COLUMNS.values():
        value = getattr(given, column)
        if value is not None:
            changes[column] = list(value)
    if "owners" in changes and not _keeps_access(principal, changes["owners"]):
        raise Unprocessable(
            [
                {
                    "loc": ["roles", "owners"],
                    "msg": "Owners cannot remove their own access: keep your identity or a group of yours",
                    "type": "value_error",
                }
            ]
        )
    needs_owner = "owners" in changes or "administrators" in changes

    def update(conn: sa.Connection) -> dict[str, Any]:
        now = service.now()
        api, held = load_api(conn, registered_api_id, principal, roles.API_ADMINISTRATOR, "UPDATE", now)
        if needs_owner and roles.API_OWNER not in held:
            raise forbidden(registered_api_id, "UPDATE_ROLES")
        if api["status"] != store.ACTIVE:
            raise StateConflict(
                f"The registered API {registered_api_id} is marked for deletion: it cannot change"
            )
        if not changes:
            return api
        return store.update_registered_api(conn, api_id=registered_api_id, changes=changes, now=now)

    return api_document(service.transact(update), urns=principal.urns)


def _templates_only(body: RegisteredApiUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    if body.state_input_schema is not None:
        problems += _located(validate_input_schema(body.state_input_schema), ("state_input_schema",))
        changes["state_input_schema"] = body.state_input_schema
    if body.data_templates is not None:
        problems += _located(check_data_templates(body.data_templates), ("data_templates",))
        changes["data_templates"] = body.data_templates
    if problems:
        raise Unprocessable(problems)
    return changes


@router.delete(
    "/registered_apis/{registered_api_id}",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
    response_model=None,
    responses={
        200: {"model": RegisteredApiDocument, "description": "The registered API, marked for deletion"},
        **_ERRORS,
    },
)
def delete_registered_api(registered_api_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Mark for deletion (owners only): DELETE_PENDING for the grace period, then gone."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    grace = dt.timedelta(days=service.settings.registered_api_deletion_days)

    def delete(conn: sa.Connection) -> dict[str, Any]:
        now = service.now()
        api, _ = load_api(conn, registered_api_id, principal, roles.API_OWNER, "DELETE", now)
        if api["status"] != store.ACTIVE:
            return api
        return store.mark_deleted(conn, api_id=registered_api_id, now=now, grace=grace)

    return api_document(service.transact(delete), urns=principal.urns)
