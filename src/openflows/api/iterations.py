"""A run's iterations (issue 19, an OpenFlows extension: the hosted Globus Flows service has no Map or
Parallel). The items of a Map and the branches of a Parallel are child runs, which are not runs to the API
(404 by id, never listed); these routes read them through the run they belong to, summarised instead of one
endless list:

- `GET /runs/{run_id}/iterations`: per Map or Parallel state, the counts by status of its latest visit;
- `GET /runs/{run_id}/iterations/items?state=S[&status=..][&limit][&marker]`: those counts and a page of
  items in index order (index, status, times, error summary);
- `GET /runs/{run_id}/iterations/items/{index}?state=S`: one item: input, output (or current state), error;
- `GET /runs/{run_id}/iterations/items/{index}/log?state=S[&limit][&marker]`: a page of its run log.

The state name is a query parameter (a state's name may hold any character, `/` included). Scope
`run_status`, roles as for the run log (the run's owner, managers and monitors); private data is redacted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..engine.inline_logs import began_inline, inline_log
from ..language.model import Limits, isoformat
from ..language.redact import redact
from ..shared import roles
from ..store import iteration_reads as reads
from ..store import runs as store
from ..store.children import IterationsKey
from ..store.work import get_flow_version_definition
from . import query as q
from .deps import PrincipalDep, ServiceDep, require_scope
from .documents import log_entry_document
from .errors import BadRequest, NotFound
from .pagination import MARKER_CONSTRAINTS, MARKER_DOC, decode_marker, encode_marker
from .routing import DocumentRoute
from .runs import load_run
from .schemas import COMMON_ERRORS, LogPage, error_responses
from .security import globus_auth

router = APIRouter(tags=["runs"], route_class=DocumentRoute)

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
DEFAULT_LOG_LIMIT = 10
MAX_LOG_LIMIT = 100
#: longest error cause shown in a page of items (the item document has it whole)
SUMMARY_CAUSE_CHARS = 200
#: longest state name accepted (ASL allows 80 characters; room for older definitions)
MAX_STATE_CHARS = 1000

_ERRORS = error_responses(*COMMON_ERRORS)
_STATE: dict[str, Any] = {
    "description": "The Map or Parallel state's name",
    "min_length": 1,
    "max_length": MAX_STATE_CHARS,
}
_STATUSES: dict[str, Any] = {
    "description": "Item statuses (any case), repeated or comma-joined",
    "json_schema_extra": {
        "items": q.list_items_schema(q.one_of(reads.ITERATION_STATUSES), enum=reads.ITERATION_STATUSES)
    },
}


def _reader(principal: PrincipalDep) -> Principal:
    """The caller, once its token has `run_status` (checked before the query is, so that a token without it
    learns nothing else)."""
    require_scope(principal, flows_scopes.RUN_STATUS)
    return principal


ReaderDep = Annotated[Principal, Depends(_reader)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class StateIterationsDoc(_Doc):
    state: str
    type: str | None = Field(description="Map or Parallel (null when the definition does not say)")
    visit: str = Field(description="`<visit>/<attempt>` of the state these iterations belong to")
    total: int
    counts: dict[str, int] = Field(description="Number of items by status")


class IterationSummaries(_Doc):
    run_id: str
    states: list[StateIterationsDoc]


class ItemSummary(_Doc):
    index: int
    status: str
    start_time: str | None
    completion_time: str | None
    error: str | None
    cause: str | None


class ItemPage(StateIterationsDoc):
    items: list[ItemSummary]
    limit: int
    has_next_page: bool
    marker: str | None = Field(default=None, description="absent on the last page")


class ItemDocument(ItemSummary):
    cause: Any = Field(description="The error's cause, whole")
    state: str
    visit: str
    details: Any
    input: Any
    output: Any = Field(description="The item's result once SUCCEEDED, else its current state")


def _state_types(conn: sa.Connection, run: dict[str, Any]) -> dict[str, str]:
    definition = get_flow_version_definition(conn, run["flow_id"], run["flow_version"])
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict):
        return {}
    return {
        name: state["Type"]
        for name, state in states.items()
        if isinstance(state, dict) and isinstance(state.get("Type"), str)
    }


def _summary_document(summary: reads.StateIterations, types: dict[str, str]) -> dict[str, Any]:
    return {
        "state": summary.state,
        "type": types.get(summary.state),
        "visit": summary.visit,
        "total": summary.total,
        "counts": dict(sorted(summary.counts.items())),
    }


def _error_of(details: Any) -> tuple[str | None, Any]:
    inner = details.get("details") if isinstance(details, dict) else None
    if not isinstance(inner, dict):
        return None, None
    error = inner.get("error")
    return (error if isinstance(error, str) else None), redact(inner.get("cause"))


def _cause_text(cause: Any) -> str | None:
    if cause is None:
        return None
    text = cause if isinstance(cause, str) else str(cause)
    return text if len(text) <= SUMMARY_CAUSE_CHARS else text[: SUMMARY_CAUSE_CHARS - 1] + "…"


def _item_summary(row: dict[str, Any]) -> dict[str, Any]:
    error, cause = _error_of(row["details"]) if row["status"] in ("FAILED", "ENDED") else (None, None)
    queued = row["status"] == "QUEUED"
    return {
        "index": row["iteration"],
        "status": row["status"],
        "start_time": None if queued or row["start_time"] is None else isoformat(row["start_time"]),
        "completion_time": isoformat(row["completion_time"]) if row["completion_time"] else None,
        "error": error,
        "cause": _cause_text(cause),
    }


def _load(
    conn: sa.Connection, run_id: uuid.UUID, principal: Principal, state: str
) -> tuple[dict[str, Any], reads.StateIterations]:
    run, _ = load_run(conn, run_id, principal, roles.Permission.MONITOR)
    summary = reads.latest_iterations(conn, run_id=run_id, state=state)
    if summary is None:
        raise NotFound(f"Run {run_id} has no iterations of a state named {state[:100]!r}")
    return run, summary


@router.get(
    "/runs/{run_id}/iterations",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": IterationSummaries, "description": "Items by status per state"}, **_ERRORS},
)
def get_run_iterations(run_id: uuid.UUID, principal: ReaderDep, service: ServiceDep) -> dict:
    """OpenFlows extension: for each Map or Parallel state the run entered, its items counted by status."""
    with service.db.read() as conn:
        run, _ = load_run(conn, run_id, principal, roles.Permission.MONITOR)
        summaries = reads.summarise_iterations(conn, run_id=run_id)
        types = _state_types(conn, run) if summaries else {}
    return {"run_id": str(run_id), "states": [_summary_document(s, types) for s in summaries]}


@router.get(
    "/runs/{run_id}/iterations/items",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": ItemPage, "description": "A page of a state's items"}, **_ERRORS},
)
def list_run_iterations(
    run_id: uuid.UUID,
    principal: ReaderDep,
    service: ServiceDep,
    state: Annotated[str, Query(**_STATE)],
    status: Annotated[list[str], Query(default_factory=list, **_STATUSES)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT), q.QUERY_INT] = DEFAULT_LIMIT,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
) -> dict:
    """OpenFlows extension: a state's items counted by status, and a page of them in index order."""
    after: int | None = None
    if marker:
        query, after_raw = decode_marker("iterations", marker)
        try:
            if query["run"] != str(run_id) or len(after_raw) != 1 or type(after_raw[0]) is not int:
                raise ValueError("marker")
            state, statuses, size = str(query["state"]), list(query["statuses"]), int(query["limit"])
            if not 1 <= size <= MAX_LIMIT or not set(statuses) <= set(reads.ITERATION_STATUSES):
                raise ValueError("marker")
        except (KeyError, TypeError, ValueError):
            raise BadRequest("Invalid pagination marker") from None
        after = after_raw[0]
    else:
        statuses = q.parse_statuses(status, name="status", allowed=reads.ITERATION_STATUSES)
        size = limit
    with service.db.read() as conn:
        run, summary = _load(conn, run_id, principal, state)
        key = IterationsKey(run_id, state, summary.visit)
        rows, next_index = reads.list_iterations(
            conn, key=key, statuses=statuses, after_index=after, limit=size
        )
        types = _state_types(conn, run)
    doc = _summary_document(summary, types)
    next_marker = None
    if next_index is not None:
        next_marker = encode_marker(
            "iterations",
            {"run": str(run_id), "state": state, "statuses": statuses, "limit": size},
            [next_index],
        )
    doc.update(
        items=[_item_summary(row) for row in rows],
        limit=size,
        has_next_page=next_marker is not None,
    )
    if next_marker is not None:
        doc["marker"] = next_marker
    return doc


_INDEX_DOC = "The item's index (the branch's, for a Parallel state)"
#: the largest index a database integer holds
MAX_INDEX = 2**31 - 1


def _item(conn: sa.Connection, run_id: uuid.UUID, principal: Principal, state: str, index: int) -> dict:
    _, summary = _load(conn, run_id, principal, state)
    row = reads.get_iteration(conn, key=IterationsKey(run_id, state, summary.visit), index=index)
    if row is None:
        raise NotFound(f"State {state[:100]!r} of run {run_id} has no item {index}")
    return {**row, "visit": summary.visit}


@router.get(
    "/runs/{run_id}/iterations/items/{index}",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": ItemDocument, "description": "One item"}, **_ERRORS},
)
def get_run_iteration(
    run_id: uuid.UUID,
    index: Annotated[int, Path(ge=0, le=MAX_INDEX, description=_INDEX_DOC), q.QUERY_INT],
    principal: ReaderDep,
    service: ServiceDep,
    state: Annotated[str, Query(**_STATE)],
) -> dict:
    """OpenFlows extension: one item of a state's latest visit: its status, input, output and error."""
    with service.db.read() as conn:
        row = _item(conn, run_id, principal, state, index)
    doc = _item_summary(row)
    _, cause = _error_of(row["details"]) if row["status"] in ("FAILED", "ENDED") else (None, None)
    doc.update(
        state=state,
        visit=row["visit"],
        cause=cause,
        details=redact(row["details"]),
        input=redact(row["input"]),
        output=redact(row["run_state"]),
    )
    return doc


@router.get(
    "/runs/{run_id}/iterations/items/{index}/log",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": LogPage, "description": "A page of the item's run log"}, **_ERRORS},
)
def get_run_iteration_log(
    run_id: uuid.UUID,
    index: Annotated[int, Path(ge=0, le=MAX_INDEX, description=_INDEX_DOC), q.QUERY_INT],
    principal: ReaderDep,
    service: ServiceDep,
    state: Annotated[str, Query(**_STATE)],
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT), q.QUERY_INT] = DEFAULT_LOG_LIMIT,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
) -> dict:
    """OpenFlows extension: a page of one item's run log, oldest first."""
    after: int | None = None
    size = limit
    if marker:
        query, after_raw = decode_marker("iteration-log", marker)
        try:
            if (
                query["run"] != str(run_id)
                or query["state"] != state
                or query["index"] != index
                or len(after_raw) != 1
                or type(after_raw[0]) is not int
            ):
                raise ValueError("marker")
            size = int(query["limit"])
            if not 1 <= size <= MAX_LOG_LIMIT:
                raise ValueError("limit")
        except (KeyError, TypeError, ValueError):
            raise BadRequest("Invalid pagination marker") from None
        after = after_raw[0]
    with service.db.read() as conn:
        row = _item(conn, run_id, principal, state, index)
        entries, next_seq = _item_log_page(conn, row["id"], after, size, service)
    doc: dict[str, Any] = {
        "entries": [log_entry_document(entry) for entry in entries],
        "limit": size,
        "has_next_page": next_seq is not None,
    }
    if next_seq is not None:
        doc["marker"] = encode_marker(
            "iteration-log", {"run": str(run_id), "state": state, "index": index, "limit": size}, [next_seq]
        )
    return doc


def _item_log_page(
    conn: sa.Connection, item_id: uuid.UUID, after: int | None, size: int, service: Any
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of an item's log: for an item that ran its first step inline (no stored entries for it:
    engine/inline_logs.py), that step's entries rebuilt, numbered -k..-1 before the stored ones (0, 1...);
    returns (entries, the number to continue after, or None)."""
    rebuilt: list[dict[str, Any]] = []
    if (after is None or after < 0) and began_inline(conn, item_id):
        limits = Limits(max_run_state_bytes=service.settings.max_run_state_bytes)
        rebuilt = [
            {**entry.as_dict(), "time": dt.datetime.fromisoformat(entry.time)}
            for entry in inline_log(conn, item_id, limits=limits)
        ]
    first = -len(rebuilt)
    start = first - 1 if after is None else after
    page = rebuilt[max(start + 1 - first, 0) :][:size]
    last = start + len(page)
    stored, next_seq = (
        store.get_run_logs(
            conn, run_id=item_id, after_seq=last if last >= 0 else None, reverse=False, limit=size - len(page)
        )
        if len(page) < size
        else ([], None)
    )
    if len(page) == size:  # the page ends inside the rebuilt entries: is anything after them?
        more = last < -1 or bool(
            store.get_run_logs(conn, run_id=item_id, after_seq=None, reverse=False, limit=1)[0]
        )
        return page, (last if more else None)
    return page + stored, next_seq
