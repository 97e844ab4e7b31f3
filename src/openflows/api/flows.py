"""Flow routes (spec flows-api.md §3, §9): create, get, list, update, delete, validate.

Each handler: check the token scope -> load the flow and check the caller's role -> call a store operation in
a transaction -> return the document for this caller.

The scopes a flow's Action states need are resolved before any transaction (`engine.provider_scopes`: an
external provider's introspection document may be fetched): create and update store those of its `RunAs:
"User"` states as the dependent scopes of the flow's scope (issue 14), and validate shows them with warnings
about providers that could not be asked or scopes this service's Auth does not know.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from ..auth import scope_registry
from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..auth.scopes import parse_flow_scope
from ..language.analysis import analyze_definition
from ..language.schema_check import validate_input_schema
from ..language.validation import validate_definition
from ..shared import roles
from ..store import flows as store
from ..store import registered_apis as store_apis
from ..store.keyset import SortKey, build_order, decode_key, encode_key
from . import query as q
from .bodies import FlowCreate, FlowUpdate, FlowValidate
from .deps import PrincipalDep, Service, ServiceDep, require_scope
from .documents import flow_document
from .errors import BadRequest, Forbidden, Unprocessable, flow_forbidden, flow_not_found
from .pagination import MARKER_CONSTRAINTS, MARKER_DOC, decode_marker, encode_marker, page_document
from .registered_api_refs import check_registered_api_states, registered_api_states
from .routing import DocumentRoute
from .schemas import (
    COMMON_ERRORS,
    DeletedFlowDocument,
    FlowDocument,
    FlowList,
    FlowValidation,
    error_responses,
)
from .security import globus_auth

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
#: roles `filter_roles` may name on GET /flows
FILTER_ROLES = (
    roles.FLOW_OWNER,
    roles.FLOW_ADMINISTRATOR,
    roles.FLOW_STARTER,
    roles.FLOW_VIEWER,
    roles.RUN_MANAGER,
    roles.RUN_MONITOR,
)
_ROLE_ITEM = q.role_item(FILTER_ROLES)
_ROLE_NAMES = q.role_names(FILTER_ROLES)
_ROLE_LIST_SCHEMA = {"pattern": q.comma_list(_ROLE_ITEM)}
_ORDER_ITEM = q.orderby_item(FLOW_ORDER_FIELDS)
_ORDER_ENUM = q.orderby_enum(sorted(FLOW_ORDER_FIELDS))

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


def check_registered_apis(
    service: Any, definition: Any, owner_urns: frozenset[str], conn: sa.Connection | None = None
) -> None:
    """422 when the definition's RegisteredAPI handlers name APIs the owner cannot use, or static Parameters
    that do not fit them (api/registered_api_refs.py)."""
    if not registered_api_states(definition):
        return
    if conn is None:
        with service.db.read() as reading:
            problems = check_registered_api_states(
                reading, definition, owner_urns=owner_urns, now=service.now()
            )
    else:
        problems = check_registered_api_states(conn, definition, owner_urns=owner_urns, now=service.now())
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


def flow_scopes(service: Service, definition: Any, *, fetch: bool = True) -> Any:
    """The scopes of the definition's Action states (`engine.provider_scopes.FlowScopes`), or None when the
    service resolves none. Call outside transactions: it may ask external providers."""
    if service.provider_scopes is None:
        return None
    return service.provider_scopes.resolve(definition, fetch=fetch)


def _publish(service: Service, flow_id: uuid.UUID, dependent_scopes: list[str] | None) -> None:
    """Federation: the flow's scope at the upstream Auth gets the flow's dependent scopes (after the commit:
    a network call; a refusal is logged, never answered)."""
    if service.delegations is not None:
        service.delegations.publish(flow_id, dependent_scopes or [])


def _dependent_scopes(service: Service, definition: Any) -> list[str] | None:
    found = flow_scopes(service, definition)
    return found.dependent_scopes if found is not None else None


@router.post(
    "/flows",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
    status_code=201,
    response_model=None,
    responses={201: {"model": FlowDocument, "description": "The new flow"}, **_ERRORS},
)
def create_flow(body: FlowCreate, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """Create a flow owned by the caller."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    check_flow_parts(definition=body.definition, input_schema=body.input_schema)
    check_registered_apis(service, body.definition, principal.urns)
    flow_id = uuid.uuid4()
    dependent_scopes = _dependent_scopes(
        service, body.definition
    )  # may ask providers: before the transaction

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
            dependent_scopes=dependent_scopes,
        )

    flow = service.transact(insert)
    _publish(service, flow_id, dependent_scopes)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))


@router.post(
    "/flows/validate",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
    response_model=None,
    responses={
        200: {"model": FlowValidation, "description": "Scopes the flow needs, and analysis"},
        **_ERRORS,
    },
)
def validate_flow(body: FlowValidate, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Validate a definition (and input schema) without saving anything; `scopes` are those its Action
    states need, per RunAs role (those of "User" become the flow scope's dependent scopes)."""
    require_scope(principal, flows_scopes.MANAGE_FLOWS)
    check_flow_parts(definition=body.definition, input_schema=body.input_schema)
    api_scopes: dict[str, list[str]] = {}
    if registered_api_states(body.definition):
        with service.db.read() as conn:
            check_registered_apis(service, body.definition, principal.urns, conn)
            api_scopes = store_apis.registered_api_scopes(conn, body.definition, now=service.now())
    # the registered APIs' scopes (the first of each) count like providers' (also in `flow_scopes`)
    result = analyze_definition(body.definition, registered_api_scopes=api_scopes)
    found = flow_scopes(service, body.definition)
    if found is None:
        return result
    # the definition's own warnings (a near miss of a hosted provider's URL) say more than "its scope is
    # unknown" about the same ActionUrl, so a scope warning is added only for places not warned about yet
    warnings: list[dict[str, Any]] = list(result["analysis"]["warnings"])
    warned = {tuple(warning["loc"]) for warning in warnings}
    warnings.extend(warning for warning in found.warnings if tuple(warning["loc"]) not in warned)
    with service.db.read() as conn:
        known = scope_registry.resolve(conn, found.dependent_scopes)
    for scope in found.dependent_scopes:
        if scope not in known:
            warnings.append(
                {
                    "loc": ["definition"],
                    "msg": f"The scope {scope} is not known to this service's Auth: nobody can consent to "
                    "it, so runs call that provider without a token of their user (register the scope "
                    "through the developer API, or set OPENFLOWS_PROVIDER_TOKENS for it).",
                    "type": "unknown_scope",
                }
            )
    result["scopes"] = found.by_role
    result["analysis"]["unknown_scopes"] = found.unknown
    result["analysis"]["warnings"] = warnings
    return result


@router.get(
    "/flows",
    openapi_extra=globus_auth(flows_scopes.VIEW_FLOWS),
    response_model=None,
    responses={200: {"model": FlowList, "description": "A page of flows"}, **_ERRORS},
)
def list_flows(
    principal: PrincipalDep,
    service: ServiceDep,
    request: Request,
    *,
    filter_roles: Annotated[
        list[str],
        Query(
            default_factory=list,
            description="Roles (singular, plural or legacy names, any case), repeated or comma-joined; "
            "empty = any role",
            json_schema_extra={"items": q.list_items_schema(_ROLE_ITEM, enum=_ROLE_NAMES)},
        ),
    ],
    filter_role: Annotated[
        str,
        Query(deprecated=True, description="Role(s) (legacy)", json_schema_extra=_ROLE_LIST_SCHEMA),
    ] = "",
    filter_fulltext: Annotated[str | None, Query(max_length=1024)] = None,
    filter_title: Annotated[str | None, Query(max_length=1024)] = None,
    filter_subtitle: Annotated[str | None, Query(max_length=1024)] = None,
    filter_description: Annotated[str | None, Query(max_length=1024)] = None,
    filter_keywords: Annotated[str | None, Query(max_length=1024)] = None,
    filter_scope_string: Annotated[str | None, Query(max_length=1024)] = None,
    orderby: Annotated[
        list[str],
        Query(
            default_factory=list,
            description="'FIELD', 'FIELD ASC' or 'FIELD DESC' (any case; spaces, '+' or ':' between), "
            "repeated or comma-joined; default updated_at DESC",
            json_schema_extra={"items": q.list_items_schema(_ORDER_ITEM, enum=_ORDER_ENUM)},
        ),
    ],
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE), q.QUERY_INT] = DEFAULT_PER_PAGE,
    page: Annotated[int, Query(deprecated=True, description="Ignored; use marker"), q.QUERY_INT] = 1,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
    pagination_token: Annotated[
        str, Query(deprecated=True, description="Alias of marker", **MARKER_CONSTRAINTS)
    ] = "",
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
    per_page: int,
) -> dict[str, Any]:
    wanted_roles = q.parse_roles(filter_roles, name="filter_roles", allowed=FILTER_ROLES)
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
        "per_page": per_page,
    }


def store_decode(order: list[SortKey], raw: list[Any] | None) -> list[Any] | None:
    return None if raw is None else decode_key(order, raw)


def store_encode(order: list[SortKey], values: list[Any]) -> list[Any]:
    return encode_key(order, values)


@router.get(
    "/flows/{flow_id}",
    openapi_extra=globus_auth(flows_scopes.VIEW_FLOWS),
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
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
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
    dependent_scopes = (
        _dependent_scopes(service, changes["definition"]) if "definition" in changes else None
    )  # may ask providers: before the transaction

    def update(conn: sa.Connection) -> dict[str, Any]:
        flow, _ = load_flow(conn, flow_id, principal, roles.Permission.UPDATE)
        new_owner = changes.get("flow_owner") or flow["flow_owner"]
        if "definition" in changes:
            owner_urns = principal.urns if new_owner == principal.identity_urn else frozenset({new_owner})
            check_registered_apis(service, changes["definition"], owner_urns, conn)
        owner = changes.get("flow_owner")
        if owner is not None and owner != principal.identity_urn:
            raise Forbidden(
                "The flow_owner can only be set to the caller's own identity "
                f"({principal.identity_urn}), by an administrator of the flow"
            )
        if not changes:
            return store.get_flow(conn, flow_id=flow_id) or {}
        return store.update_flow(
            conn, flow_id=flow_id, changes=changes, now=service.now(), dependent_scopes=dependent_scopes
        )

    flow = service.transact(update)
    if dependent_scopes is not None:
        _publish(service, flow_id, dependent_scopes)
    return flow_document(flow, urns=principal.urns, base_url=service.base_url(request))


@router.delete(
    "/flows/{flow_id}",
    openapi_extra=globus_auth(flows_scopes.MANAGE_FLOWS),
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
