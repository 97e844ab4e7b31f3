"""Run routes (spec flows-api.md §3, §9): start and validate runs, list, get, update, cancel, resume, release,
the run definition and the run log, plus the legacy flow-scoped paths.

Each handler: check the token scope -> load the run (or flow) and check the caller's role -> call a store
operation in one transaction -> wake the executor when work is due -> return the document for this caller.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from ..auth import roles
from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..language.model import Cursor, RunContext
from ..language.redact import redact
from ..language.schema_check import compile_input_validator
from ..store import flows as store_flows
from ..store import identities as store_identities
from ..store import runs as store
from ..store.keyset import build_order, decode_key, encode_key
from . import query as q
from .bodies import RunStart, RunUpdate
from .deps import PrincipalDep, Service, ServiceDep, require_scope
from .documents import log_entry_document, run_definition_document, run_document
from .errors import (
    BadRequest,
    FlowInputError,
    StateConflict,
    flow_not_found,
    run_forbidden,
    run_not_found,
)
from .flows import load_flow
from .pagination import decode_marker, encode_marker, page_document
from .routing import DocumentRoute
from .schemas import (
    COMMON_ERRORS,
    LogPage,
    RunDefinition,
    RunDocument,
    RunList,
    ValidateRunResult,
    error_responses,
)

router = APIRouter(tags=["runs"], route_class=DocumentRoute)

RUN_ORDER_FIELDS = {name: name for name in store.SORT_FIELDS}
DEFAULT_RUN_ORDER = [("start_time", True)]
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
DEFAULT_LOG_LIMIT = 10
MAX_LOG_LIMIT = 100
#: token lifetime reported in `$._context.token_info` when the token has no expiry
DEFAULT_TOKEN_LIFETIME = dt.timedelta(days=365)

_ERRORS = error_responses(*COMMON_ERRORS)
_ERRORS_409 = error_responses(*COMMON_ERRORS, 409)
_RUN_ROLE_NAMES = (
    roles.RUN_OWNER,
    roles.RUN_MANAGER,
    roles.RUN_MONITOR,
    roles.FLOW_RUN_MANAGER,
    roles.FLOW_RUN_MONITOR,
)


def load_run(
    conn: sa.Connection, run_id: uuid.UUID, principal: Principal, permission: roles.Permission
) -> tuple[dict[str, Any], frozenset[str]]:
    """The run and the caller's roles on it: 404 if the caller has no role, 403 without `permission`."""
    run = store.get_run(conn, run_id=run_id)
    if run is None:
        raise run_not_found(run_id)
    held = roles.effective_run_roles(principal.urns, run, store.flow_view(run))
    if not held:
        raise run_not_found(run_id)
    if not roles.run_allows(held, permission):
        raise run_forbidden(run_id, permission.value)
    return run, held


# --- starting runs ------------------------------------------------------------------------------------------


def _check_input(flow: dict[str, Any], body: dict[str, Any]) -> None:
    try:
        validator = compile_input_validator(flow["input_schema"], key=(str(flow["id"]), flow["version"]))
    except ValueError as exc:
        raise FlowInputError(f"The flow's input schema cannot be used: {exc}") from None
    problems = validator.errors(body)
    if problems:
        count = len(problems)
        raise FlowInputError(
            [{"loc": list(p.loc), "type": p.type, "msg": p.msg} for p in problems],
            message=f"Input failed schema validation with {count} error{'' if count == 1 else 's'}.",
        )


def _token_info(conn: sa.Connection, principal: Principal, now: dt.datetime) -> dict[str, int]:
    issued = now
    expires: dt.datetime | None = None
    if principal.token_id is not None:
        row = store_identities.get_token(conn, principal.token_id)
        if row is not None:
            issued = row.created_at
            expires = row.expires_at
    expires = expires or issued + DEFAULT_TOKEN_LIFETIME
    return {"exp": int(expires.timestamp()), "iat": int(issued.timestamp()), "nbf": int(issued.timestamp())}


def _prepare_start(
    conn: sa.Connection, flow_id: uuid.UUID, body: RunStart, principal: Principal
) -> dict[str, Any]:
    """Scope, role and input checks shared by run_flow and validate_run; returns the flow."""
    require_scope(principal, flows_scopes.flow_scope(flow_id))
    flow, _ = load_flow(conn, flow_id, principal, roles.Permission.RUN)
    _check_input(flow, body.body)
    return flow


@router.post(
    "/flows/{flow_id}/run",
    status_code=201,
    response_model=None,
    responses={201: {"model": RunDocument, "description": "The new run (ACTIVE)"}, **_ERRORS},
)
def run_flow(flow_id: uuid.UUID, body: RunStart, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Start a run of the flow's current version; needs the flow's own scope and the flow_starter role."""
    run_id = uuid.uuid4()

    def start(conn: sa.Connection) -> dict[str, Any]:
        flow = _prepare_start(conn, flow_id, body, principal)
        now = service.now()
        context = RunContext(
            flow_id=str(flow_id),
            run_id=str(run_id),
            username=principal.username,
            email=principal.email,
            user_id=principal.identity_urn,
            identities=(principal.identity_urn,),
            token_info=_token_info(conn, principal, now),
        )
        policy = body.activity_notification_policy
        return store.create_run(
            conn,
            run_id=run_id,
            flow=flow,
            run_owner=principal.identity_urn,
            body=body.body,
            details_input=redact(body.body),
            context=context.as_dict(),
            cursor=Cursor(state=None).as_dict(),
            now=now,
            label=body.label,
            tags=body.tags or [],
            run_managers=body.run_managers or [],
            run_monitors=body.run_monitors or [],
            activity_notification_policy={"status": list(policy.status)} if policy is not None else None,
        )

    run = service.transact(start)
    service.wake()
    return run_document(run, urns=principal.urns)


@router.post(
    "/flows/{flow_id}/validate_run",
    response_model=None,
    responses={200: {"model": ValidateRunResult, "description": "The run would start"}, **_ERRORS},
)
def validate_run(flow_id: uuid.UUID, body: RunStart, principal: PrincipalDep, service: ServiceDep) -> dict:
    """The checks of run_flow (scope, role, input, label, tags, roles) without starting anything."""
    with service.db.read() as conn:
        _prepare_start(conn, flow_id, body, principal)
    return {"message": "validation successful"}


# --- listing ------------------------------------------------------------------------------------------------


def _run_query(
    *,
    filter_roles: Any,
    filter_flow_id: Any,
    filter_status: Any,
    filter_label: str | None,
    filter_flow_title: str | None,
    filter_tags: Any,
    filter_start_time: str | None,
    filter_completion_time: str | None,
    orderby: Any,
    per_page: str | None,
) -> dict[str, Any]:
    start = q.parse_time_range(filter_start_time, name="filter_start_time")
    completion = q.parse_time_range(filter_completion_time, name="filter_completion_time")
    return {
        "roles": q.parse_roles(filter_roles, name="filter_roles", allowed=_RUN_ROLE_NAMES),
        "flow_ids": [str(v) for v in q.parse_uuids(filter_flow_id, name="filter_flow_id")],
        "statuses": q.parse_statuses(filter_status, name="filter_status", allowed=store.STATUSES),
        "label": filter_label.strip() if filter_label and filter_label.strip() else None,
        "flow_title": filter_flow_title.strip() if filter_flow_title and filter_flow_title.strip() else None,
        "tags": q.split_values(filter_tags),
        "start": [t.isoformat() if t else None for t in start],
        "completion": [t.isoformat() if t else None for t in completion],
        "order": [
            [f, d] for f, d in (q.parse_orderby(orderby, allowed=RUN_ORDER_FIELDS) or DEFAULT_RUN_ORDER)
        ],
        "per_page": q.parse_int(
            per_page, name="per_page", default=DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE
        ),
    }


def _time_pair(values: list[Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    if len(values) != 2:
        raise ValueError("bad range")
    out = tuple(dt.datetime.fromisoformat(v) if v is not None else None for v in values)
    return out  # type: ignore[return-value]


def _list_runs(
    service: Service, principal: Principal, query: dict[str, Any], after_raw: list[Any] | None
) -> dict:
    try:
        order = build_order(store.SORT_FIELDS, query["order"])
        after_key = decode_key(order, after_raw) if after_raw is not None else None
        limit = int(query["per_page"])
        if not 1 <= limit <= MAX_PER_PAGE:
            raise ValueError("per_page")
        flow_ids = [uuid.UUID(v) for v in query["flow_ids"]]
        start = _time_pair(query["start"])
        completion = _time_pair(query["completion"])
        wanted = [r for r in query["roles"] if r in _RUN_ROLE_NAMES]
        statuses = [s for s in query["statuses"] if s in store.STATUSES]
        tags = [str(t) for t in query["tags"]]
    except (KeyError, TypeError, ValueError):
        raise BadRequest("Invalid pagination marker") from None
    with service.db.read() as conn:
        rows, next_key = store.list_runs(
            conn,
            urns=sorted(principal.urns),
            filter_roles=wanted,
            flow_ids=flow_ids,
            statuses=statuses,
            label=query["label"],
            flow_title=query["flow_title"],
            tags=tags,
            start_time=start,
            completion_time=completion,
            order=order,
            after_key=after_key,
            limit=limit,
        )
    docs = [run_document(row, urns=principal.urns) for row in rows]
    next_marker = encode_marker("runs", query, encode_key(order, next_key)) if next_key is not None else None
    return page_document("runs", docs, limit=limit, marker=next_marker)


_ROLES_DOC = "Run roles (singular or plural names), repeated or comma-joined; empty = any role"
_RANGE_DOC = "'START,END' ISO 8601 date-times (half-open, either side optional)"


@router.get(
    "/runs",
    response_model=None,
    responses={200: {"model": RunList, "description": "A page of runs"}, **_ERRORS},
)
def list_runs(
    principal: PrincipalDep,
    service: ServiceDep,
    filter_flow_id: Annotated[
        list[str] | None, Query(description="Flow ids, repeated or comma-joined")
    ] = None,
    filter_roles: Annotated[list[str] | None, Query(description=_ROLES_DOC)] = None,
    filter_role: Annotated[str | None, Query(deprecated=True, description="One role (legacy)")] = None,
    filter_status: Annotated[
        list[str] | None, Query(description="ACTIVE, INACTIVE, SUCCEEDED, FAILED, ENDED")
    ] = None,
    filter_label: Annotated[str | None, Query(max_length=1024, description="Label substring")] = None,
    filter_flow_title: Annotated[
        str | None, Query(max_length=1024, description="Flow title substring")
    ] = None,
    filter_tags: Annotated[list[str] | None, Query(description="Tags the run must carry")] = None,
    filter_start_time: Annotated[str | None, Query(description=_RANGE_DOC)] = None,
    filter_completion_time: Annotated[str | None, Query(description=_RANGE_DOC)] = None,
    orderby: Annotated[
        list[str] | None, Query(description="'FIELD ASC|DESC'; default start_time DESC")
    ] = None,
    per_page: Annotated[
        str | None, Query(description=f"1-{MAX_PER_PAGE}, default {DEFAULT_PER_PAGE}")
    ] = None,
    page: Annotated[str | None, Query(deprecated=True, description="Ignored; use marker")] = None,
    marker: Annotated[str | None, Query()] = None,
    pagination_token: Annotated[str | None, Query(deprecated=True, description="Alias of marker")] = None,
) -> dict:
    """Runs the caller has a role on (any role unless filter_roles says otherwise)."""
    require_scope(principal, flows_scopes.RUN_STATUS)
    token = marker or pagination_token
    if token:
        query, after_raw = decode_marker("runs", token)
        return _list_runs(service, principal, query, after_raw)
    query = _run_query(
        filter_roles=filter_roles or filter_role,
        filter_flow_id=filter_flow_id,
        filter_status=filter_status,
        filter_label=filter_label,
        filter_flow_title=filter_flow_title,
        filter_tags=filter_tags,
        filter_start_time=filter_start_time,
        filter_completion_time=filter_completion_time,
        orderby=orderby,
        per_page=per_page,
    )
    return _list_runs(service, principal, query, None)


@router.get(
    "/flows/{flow_id}/runs",
    response_model=None,
    responses={200: {"model": RunList, "description": "A page of the flow's runs"}, **_ERRORS},
)
def list_flow_runs(
    flow_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    filter_roles: Annotated[list[str] | None, Query(description=_ROLES_DOC)] = None,
    filter_role: Annotated[str | None, Query(deprecated=True)] = None,
    filter_status: Annotated[list[str] | None, Query()] = None,
    filter_label: Annotated[str | None, Query(max_length=1024)] = None,
    filter_tags: Annotated[list[str] | None, Query()] = None,
    filter_start_time: Annotated[str | None, Query(description=_RANGE_DOC)] = None,
    filter_completion_time: Annotated[str | None, Query(description=_RANGE_DOC)] = None,
    orderby: Annotated[list[str] | None, Query()] = None,
    per_page: Annotated[str | None, Query()] = None,
    page: Annotated[str | None, Query(deprecated=True, description="Ignored; use marker")] = None,
    marker: Annotated[str | None, Query()] = None,
    pagination_token: Annotated[str | None, Query(deprecated=True)] = None,
) -> dict:
    """The runs of one flow that the caller has a role on."""
    require_scope(principal, flows_scopes.RUN_STATUS)
    with service.db.read() as conn:
        if store_flows.get_flow(conn, flow_id=flow_id, include_deleted=True) is None:
            raise flow_not_found(flow_id)
    token = marker or pagination_token
    if token:
        query, after_raw = decode_marker("runs", token)
        if query.get("flow_ids") != [str(flow_id)]:
            raise BadRequest("Invalid pagination marker")
        return _list_runs(service, principal, query, after_raw)
    query = _run_query(
        filter_roles=filter_roles or filter_role,
        filter_flow_id=[str(flow_id)],
        filter_status=filter_status,
        filter_label=filter_label,
        filter_flow_title=None,
        filter_tags=filter_tags,
        filter_start_time=filter_start_time,
        filter_completion_time=filter_completion_time,
        orderby=orderby,
        per_page=per_page,
    )
    return _list_runs(service, principal, query, None)


# --- one run ------------------------------------------------------------------------------------------------


@router.get(
    "/runs/{run_id}",
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The run"}, **_ERRORS},
)
def get_run(
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    include_flow_description: Annotated[str | None, Query(description="True/False")] = None,
) -> dict:
    require_scope(principal, flows_scopes.RUN_STATUS)
    with_description = q.parse_bool(include_flow_description, name="include_flow_description")
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.VIEW)
    return run_document(run, urns=principal.urns, include_flow_description=with_description)


@router.put(
    "/runs/{run_id}",
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The updated run"}, **_ERRORS},
)
def update_run(run_id: uuid.UUID, body: RunUpdate, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Change label, tags, run_managers, run_monitors: absent or null = unchanged, [] = clear."""
    require_scope(principal, flows_scopes.RUN_MANAGE)
    changes = body.given()

    def update(conn: sa.Connection) -> dict[str, Any]:
        run, _ = load_run(conn, run_id, principal, roles.Permission.UPDATE)
        if not changes:
            return run
        return store.update_run(conn, run_id=run_id, changes=changes, now=service.now())

    run = service.transact(update)
    return run_document(run, urns=principal.urns)


@router.get(
    "/runs/{run_id}/definition",
    response_model=None,
    responses={200: {"model": RunDefinition, "description": "Definition the run started with"}, **_ERRORS},
)
def get_run_definition(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    require_scope(principal, flows_scopes.RUN_STATUS)
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.VIEW)
        version = store_flows.get_flow_version(conn, flow_id=run["flow_id"], version=run["flow_version"])
    if version is None:
        raise run_not_found(run_id)
    flow_roles = roles.effective_flow_roles(principal.urns, store.flow_view(run))
    admin = roles.flow_allows(flow_roles, roles.Permission.VIEW_PRIVATE)
    return run_definition_document(run, version, admin=admin)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    response_model=None,
    responses={202: {"model": RunDocument, "description": "The canceled (or already ended) run"}, **_ERRORS},
)
def cancel_run(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Cancel an active or inactive run (FAILED, FlowCanceled); an ended run is returned unchanged."""
    require_scope(principal, flows_scopes.RUN_MANAGE)

    def cancel(conn: sa.Connection) -> dict[str, Any]:
        load_run(conn, run_id, principal, roles.Permission.CANCEL)
        return store.cancel_run(conn, run_id=run_id, now=service.now())

    run = service.transact(cancel)
    service.wake()
    return run_document(run, urns=principal.urns)


def _resume(service: Service, principal: Principal, run_id: uuid.UUID, flow_id: uuid.UUID | None) -> dict:
    def resume(conn: sa.Connection) -> tuple[dict[str, Any], bool]:
        run = store.get_run(conn, run_id=run_id)
        if run is None or (flow_id is not None and run["flow_id"] != flow_id):
            raise run_not_found(run_id)
        held = roles.effective_run_roles(principal.urns, run, store.flow_view(run))
        if not held:
            raise run_not_found(run_id)
        require_scope(principal, flows_scopes.flow_scope(run["flow_id"]))
        if not roles.run_allows(held, roles.Permission.RESUME):
            raise run_forbidden(run_id, roles.Permission.RESUME.value)
        try:
            return store.resume_run(conn, run_id=run_id, now=service.now())
        except store.InvalidRunState as exc:
            raise StateConflict(str(exc)) from None

    run, changed = service.transact(resume)
    if changed:
        service.wake()
    return run_document(run, urns=principal.urns)


@router.post(
    "/runs/{run_id}/resume",
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The resumed run"}, **_ERRORS_409},
)
def resume_run(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Resume an INACTIVE run (needs the flow's own scope); an ACTIVE run is returned unchanged."""
    return _resume(service, principal, run_id, None)


@router.post(
    "/flows/{flow_id}/{run_id}/resume",
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The resumed run"}, **_ERRORS_409},
)
def resume_flow_run(
    flow_id: uuid.UUID, run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep
) -> dict:
    """Legacy path of resume_run."""
    return _resume(service, principal, run_id, flow_id)


@router.post(
    "/runs/{run_id}/release",
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The released (deleted) run"}, **_ERRORS_409},
)
def release_run(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Delete an ended run and its log (the SDK's delete_run); 409 STATE_CONFLICT while it is not ended."""
    require_scope(principal, flows_scopes.RUN_MANAGE)

    def release(conn: sa.Connection) -> dict[str, Any]:
        load_run(conn, run_id, principal, roles.Permission.RELEASE)
        try:
            return store.release_run(conn, run_id=run_id)
        except store.InvalidRunState as exc:
            raise StateConflict(str(exc)) from None

    run = service.transact(release)
    return run_document(run, urns=principal.urns)


# --- the run log --------------------------------------------------------------------------------------------


def _get_run_logs(
    service: Service,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    flow_id: uuid.UUID | None,
    limit: str | None,
    reverse_order: str | None,
    marker: str | None,
) -> dict:
    require_scope(principal, flows_scopes.RUN_STATUS)
    if marker:
        query, after_raw = decode_marker("log", marker)
        try:
            if query["run"] != str(run_id) or len(after_raw) != 1 or not isinstance(after_raw[0], int):
                raise ValueError("marker")
            size = int(query["limit"])
            reverse = bool(query["reverse"])
            if not 1 <= size <= MAX_LOG_LIMIT:
                raise ValueError("limit")
        except (KeyError, TypeError, ValueError):
            raise BadRequest("Invalid pagination marker") from None
        after_seq: int | None = after_raw[0]
    else:
        size = q.parse_int(limit, name="limit", default=DEFAULT_LOG_LIMIT, minimum=1, maximum=MAX_LOG_LIMIT)
        reverse = q.parse_bool(reverse_order, name="reverse_order")
        after_seq = None
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.MONITOR)
        if flow_id is not None and run["flow_id"] != flow_id:
            raise run_not_found(run_id)
        rows, next_seq = store.get_run_logs(
            conn, run_id=run_id, after_seq=after_seq, reverse=reverse, limit=size
        )
    doc: dict[str, Any] = {
        "entries": [log_entry_document(row) for row in rows],
        "limit": size,
        "has_next_page": next_seq is not None,
    }
    if next_seq is not None:
        doc["marker"] = encode_marker(
            "log", {"run": str(run_id), "limit": size, "reverse": reverse}, [next_seq]
        )
    return doc


_LIMIT_DOC = f"1-{MAX_LOG_LIMIT}, default {DEFAULT_LOG_LIMIT}"


@router.get(
    "/runs/{run_id}/log",
    response_model=None,
    responses={200: {"model": LogPage, "description": "A page of run-log entries"}, **_ERRORS},
)
def get_run_logs(
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    limit: Annotated[str | None, Query(description=_LIMIT_DOC)] = None,
    reverse_order: Annotated[str | None, Query(description="True: newest first")] = None,
    marker: Annotated[str | None, Query()] = None,
    pagination_token: Annotated[str | None, Query(deprecated=True, description="Alias of marker")] = None,
) -> dict:
    return _get_run_logs(
        service,
        principal,
        run_id,
        flow_id=None,
        limit=limit,
        reverse_order=reverse_order,
        marker=marker or pagination_token,
    )


@router.get(
    "/flows/{flow_id}/runs/{run_id}/log",
    response_model=None,
    responses={200: {"model": LogPage, "description": "A page of run-log entries"}, **_ERRORS},
)
def get_flow_run_logs(
    flow_id: uuid.UUID,
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    limit: Annotated[str | None, Query(description=_LIMIT_DOC)] = None,
    reverse_order: Annotated[str | None, Query()] = None,
    marker: Annotated[str | None, Query()] = None,
    pagination_token: Annotated[str | None, Query(deprecated=True)] = None,
) -> dict:
    return _get_run_logs(
        service,
        principal,
        run_id,
        flow_id=flow_id,
        limit=limit,
        reverse_order=reverse_order,
        marker=marker or pagination_token,
    )
