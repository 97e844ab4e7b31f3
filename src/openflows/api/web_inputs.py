"""Web input routes (spec flows-api.md §3, §9; globus-sdk 4.9+ `list_web_inputs`, `get_web_input`,
`respond_to_web_input`): `GET /web_inputs`, `GET /web_inputs/{id}`, `POST /web_inputs/{id}/respond`.

Who sees what: a web input is visible to the principals of its `viewer_urns` and `respondent_urns` (an
identity or one of its groups) and to no one else, its creator included; only respondents may answer.
Documents, summaries and errors have the shapes of globus-sdk's fixtures: 404 `No Web Input exists with id
value <id>` (also for a web input the caller may not see), 403 `User does not have respondent role on web
input <id>`, 409 `Web Input <id> is already closed.`, 422 `'<value>' is not a registered option id for this
input.` The listing pages with a `marker` that is null on the last page (`NullableMarkerPaginator`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from ..auth import scopes as flows_scopes
from ..language.model import isoformat
from ..store import web_inputs as store
from ..store.keyset import build_order, decode_key, encode_key
from . import query as q
from .bodies import RequestBody
from .deps import PrincipalDep, ServiceDep, require_scope
from .errors import APIError, BadRequest, Forbidden, NotFound, StateConflict
from .pagination import decode_marker, encode_marker
from .routing import DocumentRoute
from .schemas import (
    COMMON_ERRORS,
    WebInputDocument,
    WebInputList,
    WebInputResponded,
    error_responses,
)
from .security import globus_auth

router = APIRouter(tags=["web inputs"], route_class=DocumentRoute)

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
#: most flow ids and run ids one listing may filter on (the hosted service's limit)
MAX_FILTER_IDS = 10
ORDER_FIELDS = {name: name for name in store.SORT_FIELDS if name != "id"}
DEFAULT_ORDER = [("created_timestamp", True)]
#: accepted spellings of the two roles (singular, as the SDK sends them, or plural)
_ROLE_NAMES = {
    "viewer": store.VIEWER,
    "viewers": store.VIEWER,
    "respondent": store.RESPONDENT,
    "respondents": store.RESPONDENT,
}
_ERRORS = error_responses(*COMMON_ERRORS)
_ERRORS_409 = error_responses(*COMMON_ERRORS, 409)


class ResponseValue(BaseModel):
    """The answer: any JSON value, `null` included (the web input's own schema decides what it accepts), so
    unlike other bodies an explicit null is kept, not dropped as absent."""

    model_config = ConfigDict(extra="ignore")
    value: Any


class RespondBody(RequestBody):
    response: ResponseValue


def not_found(web_input_id: object) -> NotFound:
    return NotFound(f"No Web Input exists with id value {web_input_id}")


def _time(value: Any) -> str | None:
    return isoformat(value) if value is not None else None


def _flow_and_run(row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    document = row["document"] or {}
    flow = document.get("flow") or {}
    run = document.get("run") or {}
    flow_id = str(row["flow_id"]) if row["flow_id"] is not None else flow.get("id")
    run_id = str(row["run_id"]) if row["run_id"] is not None else run.get("id")
    return (
        {"id": flow_id, "title": row.get("flow_title_now") or flow.get("title")},
        {"id": run_id, "label": row.get("run_label_now") if row["run_id"] is not None else run.get("label")},
    )


def summary_document(row: Mapping[str, Any], urns: Iterable[str]) -> dict[str, Any]:
    """The web input summary (list item) for a caller holding `urns`."""
    flow, run = _flow_and_run(row)
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "user_roles": store.held_roles(row, urns),
        "input_type": row["input_type"],
        "title": row["title"],
        "flow": flow,
        "run": run,
        "created_timestamp": _time(row["created_at"]),
        "edited_timestamp": _time(row["edited_at"]),
        "closed_timestamp": _time(row["closed_at"]),
    }


def web_input_document(row: Mapping[str, Any], urns: Iterable[str]) -> dict[str, Any]:
    """The full web input document for a caller holding `urns`."""
    document = row["document"] or {}
    flow, run = _flow_and_run(row)
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "user_roles": store.held_roles(row, urns),
        "input_type": row["input_type"],
        "input_schema": document.get("input_schema") or {},
        "context": document.get("context") or {},
        "options": list(document.get("options") or []),
        "roles": {
            "viewer_urns": list(row["viewer_urns"] or []),
            "respondent_urns": list(row["respondent_urns"] or []),
        },
        "creator_urn": row["creator_urn"],
        "flow": flow,
        "run": run,
        "created_timestamp": _time(row["created_at"]),
        "edited_timestamp": _time(row["edited_at"]),
        "closed_timestamp": _time(row["closed_at"]),
    }


def _parse_id(web_input_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(web_input_id)
    except ValueError:
        raise not_found(web_input_id) from None


def load_visible(
    conn: sa.Connection, web_input_id: str, urns: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """The web input and the caller's roles on it; 404 when it does not exist or the caller has none."""
    key = _parse_id(web_input_id)
    row = store.get_web_input(conn, key)
    held = store.held_roles(row, urns) if row is not None else []
    if row is None or not held:
        raise not_found(key)
    return row, held


# --- listing ------------------------------------------------------------------------------------------------


def _list_query(
    *,
    filter_roles: Any,
    filter_states: Any,
    filter_flow_ids: Any,
    filter_run_ids: Any,
    orderby: Any,
    per_page: int,
) -> dict[str, Any]:
    wanted = q.parse_enum(filter_roles, name="filter_roles", allowed=_ROLE_NAMES, what="viewer or respondent")
    states = q.parse_enum(
        filter_states, name="filter_states", allowed={s: s for s in store.STATES}, what="open or closed"
    )
    return {
        "roles": wanted,
        "states": states or ["open"],
        "flow_ids": [
            str(v) for v in q.parse_uuids(filter_flow_ids, name="filter_flow_ids", maximum=MAX_FILTER_IDS)
        ],
        "run_ids": [
            str(v) for v in q.parse_uuids(filter_run_ids, name="filter_run_ids", maximum=MAX_FILTER_IDS)
        ],
        "order": [[f, d] for f, d in (q.parse_orderby(orderby, allowed=ORDER_FIELDS) or DEFAULT_ORDER)],
        "per_page": per_page,
    }


def _list(service: Any, urns: frozenset[str], query: dict[str, Any], after_raw: list[Any] | None) -> dict:
    try:
        order = build_order(store.SORT_FIELDS, query["order"])
        after_key = decode_key(order, after_raw) if after_raw is not None else None
        limit = int(query["per_page"])
        if not 1 <= limit <= MAX_PER_PAGE:
            raise ValueError("per_page")
        roles = [r for r in query["roles"] if r in store.ROLES]
        states = [s for s in query["states"] if s in store.STATES]
        flow_ids = [uuid.UUID(v) for v in query["flow_ids"]][:MAX_FILTER_IDS]
        run_ids = [uuid.UUID(v) for v in query["run_ids"]][:MAX_FILTER_IDS]
    except (KeyError, TypeError, ValueError):
        raise BadRequest("Invalid pagination marker") from None
    with service.db.read() as conn:
        rows, next_key = store.list_web_inputs(
            conn,
            urns=sorted(urns),
            filter_roles=roles,
            states=states,
            flow_ids=flow_ids,
            run_ids=run_ids,
            order=order,
            after_key=after_key,
            limit=limit,
        )
    marker = encode_marker("web_inputs", query, encode_key(order, next_key)) if next_key is not None else None
    return {"web_input_summaries": [summary_document(row, urns) for row in rows], "marker": marker}


@router.get(
    "/web_inputs",
    openapi_extra=globus_auth(flows_scopes.WEB_INPUT_VIEW),
    response_model=None,
    responses={200: {"model": WebInputList, "description": "A page of web input summaries"}, **_ERRORS},
)
def list_web_inputs(
    principal: PrincipalDep,
    service: ServiceDep,
    filter_roles: Annotated[
        list[str] | None,
        Query(
            description="viewer, respondent (any case), repeated or comma-joined; default both",
            json_schema_extra={"items": q.list_items_schema(q.one_of(_ROLE_NAMES), enum=sorted(_ROLE_NAMES))},
        ),
    ] = None,
    filter_states: Annotated[
        list[str] | None,
        Query(
            description="open, closed (any case), repeated or comma-joined; default open",
            json_schema_extra={
                "items": q.list_items_schema(q.one_of(store.STATES), enum=sorted(store.STATES))
            },
        ),
    ] = None,
    filter_flow_ids: Annotated[
        list[str] | None,
        Query(
            description=f"At most {MAX_FILTER_IDS} flow ids, repeated or comma-joined",
            json_schema_extra={"items": q.list_items_schema(q.UUID_ITEM)},
        ),
    ] = None,
    filter_run_ids: Annotated[
        list[str] | None,
        Query(
            description=f"At most {MAX_FILTER_IDS} run ids, repeated or comma-joined",
            json_schema_extra={"items": q.list_items_schema(q.UUID_ITEM)},
        ),
    ] = None,
    orderby: Annotated[
        list[str] | None,
        Query(
            description="created_timestamp, edited_timestamp, closed_timestamp + ASC|DESC",
            json_schema_extra={
                "items": q.list_items_schema(q.orderby_item(ORDER_FIELDS), enum=q.orderby_enum(ORDER_FIELDS))
            },
        ),
    ] = None,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description=f"default {DEFAULT_PER_PAGE}"), q.QUERY_INT
    ] = DEFAULT_PER_PAGE,
    marker: Annotated[str | None, Query()] = None,
) -> dict:
    """The web inputs the caller may view or answer (open ones unless filter_states says otherwise)."""
    require_scope(principal, flows_scopes.WEB_INPUT_VIEW)
    if marker:
        query, after_raw = decode_marker("web_inputs", marker)
        return _list(service, principal.urns, query, after_raw)
    query = _list_query(
        filter_roles=filter_roles,
        filter_states=filter_states,
        filter_flow_ids=filter_flow_ids,
        filter_run_ids=filter_run_ids,
        orderby=orderby,
        per_page=per_page,
    )
    return _list(service, principal.urns, query, None)


# --- one web input ------------------------------------------------------------------------------------------


@router.get(
    "/web_inputs/{web_input_id}",
    openapi_extra=globus_auth(flows_scopes.WEB_INPUT_VIEW),
    response_model=None,
    responses={200: {"model": WebInputDocument, "description": "The web input"}, **_ERRORS},
)
def get_web_input(web_input_id: str, principal: PrincipalDep, service: ServiceDep) -> dict:
    require_scope(principal, flows_scopes.WEB_INPUT_VIEW)
    with service.db.read() as conn:
        row, _ = load_visible(conn, web_input_id, principal.urns)
    return web_input_document(row, principal.urns)


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


@router.post(
    "/web_inputs/{web_input_id}/respond",
    openapi_extra=globus_auth(flows_scopes.WEB_INPUT_RESPOND),
    response_model=None,
    responses={200: {"model": WebInputResponded, "description": "The answer was recorded"}, **_ERRORS_409},
)
def respond_to_web_input(
    web_input_id: str, body: RespondBody, principal: PrincipalDep, service: ServiceDep
) -> dict:
    """Answer a web input with one of its `option_id`s (the caller must be a respondent)."""
    require_scope(principal, flows_scopes.WEB_INPUT_RESPOND)
    value = body.response.value

    def respond(conn: sa.Connection) -> None:
        row, held = load_visible(conn, web_input_id, principal.urns)
        if store.RESPONDENT not in held:
            raise Forbidden(f"User does not have respondent role on web input {row['id']}")
        try:
            store.respond(
                conn,
                web_input_id=row["id"],
                value=value,
                respondent_urn=principal.identity_urn,
                now=service.now(),
            )
        except store.WebInputClosed:
            raise StateConflict(f"Web Input {row['id']} is already closed.") from None
        except store.NotAnOption:
            raise APIError(
                f"{_shown(value)} is not a registered option id for this input.",
                code="UNPROCESSABLE_ENTITY",
                status_code=422,
            ) from None

    service.transact(respond)
    service.wake()
    return {"status": "ok"}
