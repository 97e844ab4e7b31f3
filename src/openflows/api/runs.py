"""Run routes (spec flows-api.md §3, §9): start and validate runs, list, get, update, cancel, resume, release,
the run definition and the run log, plus the legacy flow-scoped paths.

Each handler: check the token scope -> load the run (or flow) and check the caller's role -> call a store
operation in one transaction -> wake the executor when work is due -> return the document for this caller.

Delegation (issue 14): `run_flow` needs the caller's token for the flow's scope to rest on consent to the
flow's dependent scopes (else 403 MISSING_SCOPE with a ConsentRequired GARE at the root of the body, which
gladier and the globus CLI both act on; `validate_run` answers the same); the run's delegated tokens are
then obtained in the run's own transaction (`engine.delegation`). `resume_run` by the run's user obtains them
again when the old ones no longer work (the consent was withdrawn, then given again).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from ..auth import scopes as flows_scopes
from ..auth.delegation import ConsentRequired
from ..auth.principal import Principal
from ..engine.run_start import Acting, RunRequest, start_run
from ..language.redact import is_private_location
from ..language.schema_check import compile_input_validator
from ..shared import roles
from ..store import flows as store_flows
from ..store import identities as store_identities
from ..store import runs as store
from ..store.keyset import build_order, decode_key, encode_key
from . import query as q
from .bodies import RunStart, RunUpdate
from .delegation import (
    commit_delegated,
    consent_error,
    prepare_resume,
    renew_delegation,
    subject_of,
    with_scopes,
)
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
from .pagination import MARKER_CONSTRAINTS, MARKER_DOC, decode_marker, encode_marker, page_document
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
from .security import globus_auth

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
    if run is None or run.get("parent_run_id") is not None:  # a child run (a Map item) is not a run
        raise run_not_found(run_id)
    held = roles.effective_run_roles(principal.urns, run, store.flow_view(run))
    if not held:
        raise run_not_found(run_id)
    if not roles.run_allows(held, permission):
        raise run_forbidden(run_id, permission.value)
    return run, held


# --- starting runs ------------------------------------------------------------------------------------------


def _shown_message(loc: Any, msg: str) -> str:
    """A schema message about private input (`_tokens`, `_private*`) without the value it would quote."""
    if any(isinstance(part, str) and is_private_location(part) for part in loc):
        return "The value does not match the input schema (it is private, so it is not shown)."
    return msg


def _check_input(flow: dict[str, Any], body: dict[str, Any]) -> None:
    try:
        validator = compile_input_validator(flow["input_schema"], key=(str(flow["id"]), flow["version"]))
    except ValueError as exc:
        raise FlowInputError(f"The flow's input schema cannot be used: {exc}") from None
    problems = validator.errors(body)
    if problems:
        count = len(problems)
        raise FlowInputError(
            [{"loc": list(p.loc), "type": p.type, "msg": _shown_message(p.loc, p.msg)} for p in problems],
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
    openapi_extra=globus_auth(None),
    status_code=201,
    response_model=None,
    responses={201: {"model": RunDocument, "description": "The new run (ACTIVE)"}, **_ERRORS},
)
def run_flow(
    flow_id: uuid.UUID, body: RunStart, principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """Start a run of the flow's current version; needs the flow's own scope (resting on consent to what the
    flow does as the user) and the flow_starter role."""
    run_id = uuid.uuid4()
    subject = subject_of(principal, request)
    delegations = service.delegations
    prepared = delegations.prepare(subject, flow_id) if delegations is not None else None

    def start(conn: sa.Connection) -> dict[str, Any]:
        flow = _prepare_start(conn, flow_id, body, principal)
        now = service.now()
        if delegations is not None:
            flow = with_scopes(conn, service, flow)
        policy = body.activity_notification_policy
        started = start_run(
            conn,
            run_id=run_id,
            flow=flow,
            principal=principal,
            request=RunRequest(
                body=body.body,
                label=body.label,
                tags=body.tags or [],
                run_managers=body.run_managers or [],
                run_monitors=body.run_monitors or [],
                activity_notification_policy={"status": list(policy.status)} if policy is not None else None,
            ),
            acting=Acting(delegations, subject, prepared),
            token_info=_token_info(conn, principal, now),
            now=now,
        )
        if isinstance(started, ConsentRequired):
            raise consent_error(started)
        return started

    run = commit_delegated(service, start, prepared)
    service.wake()
    return run_document(run, urns=principal.urns)


@router.post(
    "/flows/{flow_id}/validate_run",
    openapi_extra=globus_auth(None),
    response_model=None,
    responses={200: {"model": ValidateRunResult, "description": "The run would start"}, **_ERRORS},
)
def validate_run(
    flow_id: uuid.UUID, body: RunStart, principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """The checks of run_flow (scope, consent, role, input, label, tags, roles) without starting anything."""
    with service.db.read() as conn:
        flow = _prepare_start(conn, flow_id, body, principal)
    # the transaction is closed: the consent check may ask an upstream Auth over the network (DESIGN.md,
    # invariant 2), and must not hold a connection (or SQLite's lock) while it waits
    if service.delegations is not None and flow.get("dependent_scopes"):
        missing = service.delegations.check(subject_of(principal, request), flow)
        if missing is not None:
            raise consent_error(missing)
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
    per_page: int,
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
        "per_page": per_page,
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


_ROLE_ITEM = q.role_item(_RUN_ROLE_NAMES)
_ROLES: dict[str, Any] = {
    "description": "Run roles (singular, plural or legacy names, any case), repeated or comma-joined; "
    "empty = any role",
    "json_schema_extra": {"items": q.list_items_schema(_ROLE_ITEM, enum=q.role_names(_RUN_ROLE_NAMES))},
}
_ROLE: dict[str, Any] = {
    "description": "Run role(s) (legacy)",
    "json_schema_extra": {"pattern": q.comma_list(_ROLE_ITEM)},
}
_FLOW_IDS: dict[str, Any] = {
    "description": "Flow ids, repeated or comma-joined",
    "json_schema_extra": {"items": q.list_items_schema(q.UUID_ITEM)},
}
_STATUSES: dict[str, Any] = {
    "description": "Statuses (any case), repeated or comma-joined",
    "json_schema_extra": {"items": q.list_items_schema(q.one_of(store.STATUSES), enum=store.STATUSES)},
}
_ORDERBY: dict[str, Any] = {
    "description": "'FIELD', 'FIELD ASC' or 'FIELD DESC' (any case; spaces, '+' or ':' between), repeated or "
    "comma-joined; default start_time DESC",
    "json_schema_extra": {
        "items": q.list_items_schema(q.orderby_item(RUN_ORDER_FIELDS), enum=q.orderby_enum(RUN_ORDER_FIELDS))
    },
}
_RANGE: dict[str, Any] = {
    "description": "'START,END': ISO 8601 dates or date-times (half-open, either side optional; no offset = "
    "UTC)",
    "json_schema_extra": {"pattern": q.TIME_RANGE_PATTERN},
}


@router.get(
    "/runs",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": RunList, "description": "A page of runs"}, **_ERRORS},
)
def list_runs(
    principal: PrincipalDep,
    service: ServiceDep,
    *,
    filter_flow_id: Annotated[list[str], Query(default_factory=list, **_FLOW_IDS)],
    filter_roles: Annotated[list[str], Query(default_factory=list, **_ROLES)],
    filter_role: Annotated[str, Query(deprecated=True, **_ROLE)] = "",
    filter_status: Annotated[list[str], Query(default_factory=list, **_STATUSES)],
    filter_label: Annotated[str | None, Query(max_length=1024, description="Label substring")] = None,
    filter_flow_title: Annotated[
        str | None, Query(max_length=1024, description="Flow title substring")
    ] = None,
    filter_tags: Annotated[
        list[str],
        Query(default_factory=list, description="Tags the run must carry, repeated or comma-joined"),
    ],
    filter_start_time: Annotated[str, Query(**_RANGE)] = "",
    filter_completion_time: Annotated[str, Query(**_RANGE)] = "",
    orderby: Annotated[list[str], Query(default_factory=list, **_ORDERBY)],
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE), q.QUERY_INT] = DEFAULT_PER_PAGE,
    page: Annotated[int, Query(deprecated=True, description="Ignored; use marker"), q.QUERY_INT] = 1,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
    pagination_token: Annotated[
        str, Query(deprecated=True, description="Alias of marker", **MARKER_CONSTRAINTS)
    ] = "",
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
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": RunList, "description": "A page of the flow's runs"}, **_ERRORS},
)
def list_flow_runs(
    flow_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    *,
    filter_roles: Annotated[list[str], Query(default_factory=list, **_ROLES)],
    filter_role: Annotated[str, Query(deprecated=True, **_ROLE)] = "",
    filter_status: Annotated[list[str], Query(default_factory=list, **_STATUSES)],
    filter_label: Annotated[str | None, Query(max_length=1024, description="Label substring")] = None,
    filter_tags: Annotated[
        list[str],
        Query(default_factory=list, description="Tags the run must carry, repeated or comma-joined"),
    ],
    filter_start_time: Annotated[str, Query(**_RANGE)] = "",
    filter_completion_time: Annotated[str, Query(**_RANGE)] = "",
    orderby: Annotated[list[str], Query(default_factory=list, **_ORDERBY)],
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE), q.QUERY_INT] = DEFAULT_PER_PAGE,
    page: Annotated[int, Query(deprecated=True, description="Ignored; use marker"), q.QUERY_INT] = 1,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
    pagination_token: Annotated[
        str, Query(deprecated=True, description="Alias of marker", **MARKER_CONSTRAINTS)
    ] = "",
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
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The run"}, **_ERRORS},
)
def get_run(
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    include_flow_description: Annotated[
        q.QueryBool, Query(description="True: add the flow's title, description and owner")
    ] = False,
) -> dict:
    require_scope(principal, flows_scopes.RUN_STATUS)
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.VIEW)
    return run_document(run, urns=principal.urns, include_flow_description=include_flow_description)


@router.put(
    "/runs/{run_id}",
    openapi_extra=globus_auth(flows_scopes.RUN_MANAGE),
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The updated run"}, **_ERRORS},
)
def update_run(run_id: uuid.UUID, body: RunUpdate, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Change label, tags, run_managers, run_monitors, activity_notification_policy: absent or null =
    unchanged, [] = clear. A new policy applies from the run's next status change."""
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
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
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
    openapi_extra=globus_auth(flows_scopes.RUN_MANAGE),
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


def _resume(
    service: Service, principal: Principal, run_id: uuid.UUID, flow_id: uuid.UUID | None, request: Request
) -> dict:
    subject = subject_of(principal, request)
    prepared = prepare_resume(service, subject, run_id, flow_id)

    def resume(conn: sa.Connection) -> tuple[dict[str, Any], bool]:
        run = store.get_run(conn, run_id=run_id)
        if (
            run is None
            or run.get("parent_run_id") is not None
            or (flow_id is not None and run["flow_id"] != flow_id)
        ):
            raise run_not_found(run_id)
        held = roles.effective_run_roles(principal.urns, run, store.flow_view(run))
        if not held:
            raise run_not_found(run_id)
        require_scope(principal, flows_scopes.flow_scope(run["flow_id"]))
        if not roles.run_allows(held, roles.Permission.RESUME):
            raise run_forbidden(run_id, roles.Permission.RESUME.value)
        renew_delegation(conn, service, run, subject, prepared)
        try:
            return store.resume_run(conn, run_id=run_id, now=service.now())
        except store.InvalidRunState as exc:
            raise StateConflict(str(exc)) from None

    run, changed = commit_delegated(service, resume, prepared)
    if changed:
        service.wake()
    return run_document(run, urns=principal.urns)


@router.post(
    "/runs/{run_id}/resume",
    openapi_extra=globus_auth(None),
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The resumed run"}, **_ERRORS_409},
)
def resume_run(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """Resume an INACTIVE run (needs the flow's own scope); an ACTIVE run is returned unchanged. Resumed by
    its user with a token resting on fresh consent, a run whose delegation was lost obtains it again."""
    return _resume(service, principal, run_id, None, request)


@router.post(
    "/flows/{flow_id}/{run_id}/resume",
    openapi_extra=globus_auth(None),
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The resumed run"}, **_ERRORS_409},
)
def resume_flow_run(
    flow_id: uuid.UUID, run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """Legacy path of resume_run."""
    return _resume(service, principal, run_id, flow_id, request)


@router.post(
    "/runs/{run_id}/release",
    openapi_extra=globus_auth(flows_scopes.RUN_MANAGE),
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
    limit: int,
    reverse_order: bool,
    marker: str,
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
        size = limit
        reverse = reverse_order
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


@router.get(
    "/runs/{run_id}/log",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": LogPage, "description": "A page of run-log entries"}, **_ERRORS},
)
def get_run_logs(
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT), q.QUERY_INT] = DEFAULT_LOG_LIMIT,
    reverse_order: Annotated[q.QueryBool, Query(description="True: newest first")] = False,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
    pagination_token: Annotated[
        str, Query(deprecated=True, description="Alias of marker", **MARKER_CONSTRAINTS)
    ] = "",
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
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": LogPage, "description": "A page of run-log entries"}, **_ERRORS},
)
def get_flow_run_logs(
    flow_id: uuid.UUID,
    run_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT), q.QUERY_INT] = DEFAULT_LOG_LIMIT,
    reverse_order: Annotated[q.QueryBool, Query(description="True: newest first")] = False,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
    pagination_token: Annotated[
        str, Query(deprecated=True, description="Alias of marker", **MARKER_CONSTRAINTS)
    ] = "",
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
