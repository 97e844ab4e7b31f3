"""Flow routes (spec flows-api.md §3, §9): create, get, list, update, delete, validate.

Each handler: check the token scope -> load the flow and check the caller's role -> call a store operation in
a transaction -> return the document for this caller.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from ..auth import roles
from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..auth.scopes import parse_flow_scope
from ..language.analysis import analyze_definition
from ..language.schema_check import validate_input_schema
from ..language.validation import validate_definition
from ..store import flows as store
from ..store.keyset import SortKey, build_order, decode_key, encode_key
from . import query as q
from .bodies import FlowCreate, FlowUpdate, FlowValidate
from .deps import PrincipalDep, ServiceDep, require_scope
from .documents import flow_document
from .errors import BadRequest, Forbidden, Unprocessable, flow_forbidden, flow_not_found
from .pagination import decode_marker, encode_marker, page_document
from .routing import DocumentRoute
from .schemas import (
    COMMON_ERRORS,
    DeletedFlowDocument,
    FlowDocument,
    FlowList,
    FlowValidation,
    error_responses,
)

router = APIRouter(tags=["flows"], route_class=DocumentRoute)

#: orderby names accepted on GET /flows -> store sort field
FLOW_ORDER_FIELDS = {
    "id": "id",
    "scope_string": "id",
    "title": "title",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "flow_owner": "flow_owner",
    "flow_owners": "flow_owner",
    "flow_administrators": "flow_administrators",
}
DEFAULT_FLOW_ORDER = [("updated_at", True)]
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100

_ERRORS = error_responses(*COMMON_ERRORS)


def check_flow_parts(*, definition: Any | None, input_schema: Any | None) -> None:
    """422 with `definition` / `input_schema` locations when either (given) is invalid."""
    problems = []
    if definition is not None:
        problems += [p.as_dict(("definition",)) for p in validate_definition(definition)]
    if input_schema is not None:
        problems += [p.as_dict(("input_schema",)) for p in validate_input_schema(input_schema)]
    if problems:
        raise Unprocessable(problems)


def load_flow(
    conn: sa.Connection, flow_id: uuid.UUID, principal: Principal, permission: roles.Permission
) -> tuple[dict[str, Any], frozenset[str]]:
    """The live flow and the caller's roles on it: 404 if the caller has no role, 403 without `permission`."""
    flow = store.get_flow(conn, flow_id=flow_id)
    if flow is None:
        raise flow_not_found(flow_id)
    held = roles.effective_flow_roles(principal.urns, flow)
    if not held:
        raise flow_not_found(flow_id)
    if not roles.flow_allows(held, permission):
        raise flow_forbidden(flow_id, permission.value)
    return flow, held


def _subscription(value: str | None) -> str | None:
    return None if value == "DEFAULT" else value


@router.post(
    "/flows",
    status_code=201,
    response_model=None,
    responses={201: {"model": FlowDocument, "description": "The new flow"}, **_ERRORS},
)
def create_flow(body: FlowCreate, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """Create a flow owned by the caller."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    check_flow_parts(definition=body.definition, input_schema=body.input_schema)
    flow_id = uuid.uuid4()

    def insert(conn: sa.Connection) -> dict[str, Any]:
        return store.create_flow(
            conn,
            flow_id=flow_id,
            flow_owner=principal.identity_urn,
            title=body.title,
            definition=body.definition,
            input_schema=body.input_schema,
            subtitle=body.subtitle,
            description=body.description,
            keywords=body.keywords,
            flow_viewers=body.flow_viewers,
            flow_starters=body.flow_starters,
            flow_administrators=body.flow_administrators,
            run_managers=body.run_managers,
            run_monitors=body.run_monitors,
            subscription_id=_subscription(body.subscription_id),
            authentication_policy_id=body.authentication_policy_id,
            now=service.now(),
        )

    flow = service.transact(insert)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))


@router.post(
    "/flows/validate",
    response_model=None,
    responses={
        200: {"model": FlowValidation, "description": "Scopes the flow needs, and analysis"},
        **_ERRORS,
    },
)
def validate_flow(body: FlowValidate, principal: PrincipalDep) -> dict:
    """Validate a definition (and input schema) without saving anything."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    check_flow_parts(definition=body.definition, input_schema=body.input_schema)
    return analyze_definition(body.definition)


@router.get(
    "/flows",
    response_model=None,
    responses={200: {"model": FlowList, "description": "A page of flows"}, **_ERRORS},
)
def list_flows(
    principal: PrincipalDep,
    service: ServiceDep,
    request: Request,
    filter_roles: Annotated[
        list[str] | None,
        Query(description="Roles (singular or plural names), repeated or comma-joined; empty = any role"),
    ] = None,
    filter_role: Annotated[str | None, Query(deprecated=True, description="One role (legacy)")] = None,
    filter_fulltext: Annotated[str | None, Query(max_length=1024)] = None,
    filter_title: Annotated[str | None, Query(max_length=1024)] = None,
    filter_subtitle: Annotated[str | None, Query(max_length=1024)] = None,
    filter_description: Annotated[str | None, Query(max_length=1024)] = None,
    filter_keywords: Annotated[str | None, Query(max_length=1024)] = None,
    filter_scope_string: Annotated[str | None, Query(max_length=1024)] = None,
    orderby: Annotated[
        list[str] | None,
        Query(description="'FIELD ASC|DESC', repeated or comma-joined; default updated_at DESC"),
    ] = None,
    per_page: Annotated[
        str | None, Query(description=f"1-{MAX_PER_PAGE}, default {DEFAULT_PER_PAGE}")
    ] = None,
    page: Annotated[str | None, Query(deprecated=True, description="Ignored; use marker")] = None,
    marker: Annotated[
        str | None, Query(description="From the previous page; other arguments are then ignored")
    ] = None,
    pagination_token: Annotated[str | None, Query(deprecated=True, description="Alias of marker")] = None,
) -> dict:
    """The flows the caller has a role on (any role unless filter_roles says otherwise)."""
    require_scope(principal, flows_scopes.VIEW_FLOWS)
    token = marker or pagination_token
    if token:
        query, after_raw = decode_marker("flows", token)
    else:
        query = _flow_query(
            filter_roles or filter_role,
            filter_fulltext,
            {
                "title": filter_title,
                "subtitle": filter_subtitle,
                "description": filter_description,
                "keywords": filter_keywords,
            },
            filter_scope_string,
            orderby,
            per_page,
        )
        after_raw = None
    try:
        order = build_order(store.SORT_FIELDS, query["order"])
        after_key = store_decode(order, after_raw)
        limit = int(query["per_page"])
        flow_ids = [uuid.UUID(value) for value in query["flow_ids"]]
        if not 1 <= limit <= MAX_PER_PAGE:
            raise ValueError("per_page")
    except (KeyError, TypeError, ValueError):
        raise BadRequest("Invalid pagination marker") from None
    if query.get("no_match"):
        return page_document("flows", [], limit=limit, marker=None)
    with service.db.read() as conn:
        rows, next_key = store.list_flows(
            conn,
            urns=sorted(principal.urns),
            filter_roles=query["roles"],
            fulltext=query["fulltext"],
            contains=query["contains"],
            flow_ids=flow_ids,
            order=order,
            after_key=after_key,
            limit=limit,
        )
    base_url = service.base_url(request)
    docs = [flow_document(row, urns=principal.urns, base_url=base_url) for row in rows]
    next_marker = (
        encode_marker("flows", query, store_encode(order, next_key)) if next_key is not None else None
    )
    return page_document("flows", docs, limit=limit, marker=next_marker)


def _flow_query(
    filter_roles: Any,
    fulltext: str | None,
    contains: dict[str, str | None],
    scope_string: str | None,
    orderby: Any,
    per_page: str | None,
) -> dict[str, Any]:
    wanted_roles = q.parse_roles(
        filter_roles,
        name="filter_roles",
        allowed=(
            roles.FLOW_OWNER,
            roles.FLOW_ADMINISTRATOR,
            roles.FLOW_STARTER,
            roles.FLOW_VIEWER,
            roles.RUN_MANAGER,
            roles.RUN_MONITOR,
        ),
    )
    order = q.parse_orderby(orderby, allowed=FLOW_ORDER_FIELDS) or DEFAULT_FLOW_ORDER
    flow_ids: list[str] = []
    no_match = False
    if scope_string and scope_string.strip():
        scoped = parse_flow_scope(scope_string.strip())
        if scoped is None:
            no_match = True
        else:
            flow_ids.append(str(scoped))
    return {
        "roles": wanted_roles,
        "fulltext": fulltext.strip() if fulltext and fulltext.strip() else None,
        "contains": {key: value.strip() for key, value in contains.items() if value and value.strip()},
        "flow_ids": flow_ids,
        "no_match": no_match,
        "order": [[field, desc] for field, desc in order],
        "per_page": q.parse_int(
            per_page, name="per_page", default=DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE
        ),
    }


def store_decode(order: list[SortKey], raw: list[Any] | None) -> list[Any] | None:
    return None if raw is None else decode_key(order, raw)


def store_encode(order: list[SortKey], values: list[Any]) -> list[Any]:
    return encode_key(order, values)


@router.get(
    "/flows/{flow_id}",
    response_model=None,
    responses={200: {"model": FlowDocument, "description": "The flow"}, **_ERRORS},
)
def get_flow(flow_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """One flow (404 when the caller has no role on it)."""
    require_scope(principal, flows_scopes.VIEW_FLOWS)
    with service.db.read() as conn:
        flow, _ = load_flow(conn, flow_id, principal, roles.Permission.VIEW)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))


@router.put(
    "/flows/{flow_id}",
    response_model=None,
    responses={200: {"model": FlowDocument, "description": "The updated flow"}, **_ERRORS},
)
def update_flow(
    flow_id: uuid.UUID, body: FlowUpdate, principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """Partial update: only the keys given (non-null) change. Administrators only."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    changes = body.given()
    check_flow_parts(definition=changes.get("definition"), input_schema=changes.get("input_schema"))
    if "subscription_id" in changes:
        changes["subscription_id"] = _subscription(changes["subscription_id"])

    def update(conn: sa.Connection) -> dict[str, Any]:
        load_flow(conn, flow_id, principal, roles.Permission.UPDATE)
        owner = changes.get("flow_owner")
        if owner is not None and owner != principal.identity_urn:
            raise Forbidden(
                "The flow_owner can only be set to the caller's own identity "
                f"({principal.identity_urn}), by an administrator of the flow"
            )
        if not changes:
            return store.get_flow(conn, flow_id=flow_id) or {}
        return store.update_flow(conn, flow_id=flow_id, changes=changes, now=service.now())

    flow = service.transact(update)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))


@router.delete(
    "/flows/{flow_id}",
    response_model=None,
    responses={200: {"model": DeletedFlowDocument, "description": "The deleted flow"}, **_ERRORS},
)
def delete_flow(flow_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """Soft delete (runs keep their flow). Administrators only."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)

    def delete(conn: sa.Connection) -> dict[str, Any]:
        load_flow(conn, flow_id, principal, roles.Permission.DELETE)
        return store.delete_flow(conn, flow_id=flow_id, now=service.now())

    flow = service.transact(delete)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))
