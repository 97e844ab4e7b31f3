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

Nested iterations: every route takes `within=STATE[INDEX]`, repeated (at most `MAX_WITHIN` times), a path
from the run down to one iteration: `?within=Outer[3]&within=Inner[0]` is item 0 of the state `Inner` inside
item 3 of the run's state `Outer`; the routes then read that iteration's own Map and Parallel states as they
read the run's. The path is resolved from the run the caller may read (a child run's id is never accepted):
each step must name a Map or Parallel state of the sub-machine it is in (else 422, `loc` `["query", "within",
i]`), and an iteration of that state's latest visit (else 404). A marker holds its `within` path and serves no
other.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
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
from .errors import BadRequest, NotFound, Unprocessable, problem
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

#: deepest `within` path: an iteration inside an iteration... at most this many levels down
MAX_WITHIN = 10
#: the largest index a database integer holds
MAX_INDEX = 2**31 - 1
#: longest state name a `within` step names (ASL allows 80): the whole query must fit the HTTP server's
#: request line (about 64 KiB): 10 steps of 256 characters that each take 12 once percent-encoded (4-byte
#: UTF-8) are 32 KiB, beside `state` (12 KiB) and a marker (8 KiB)
MAX_WITHIN_STATE_CHARS = 256
#: longest `within` value: a state's name, `[`, an index of at most 10 digits, `]`
MAX_WITHIN_CHARS = MAX_WITHIN_STATE_CHARS + 12
#: one step of a `within` path, as /openapi.json states it (searched, not matched whole: the state's name, any
#: characters, `[` and `]` included, comes before the last bracketed number, the index); the server checks the
#: very same pattern, so what the document allows is what the server accepts
WITHIN_PATTERN = "[\\s\\S]\\[([0-9]{1,10})\\]$"
_WITHIN_STEP = re.compile(WITHIN_PATTERN)

_ERRORS = error_responses(*COMMON_ERRORS)
_STATE: dict[str, Any] = {
    "description": "The Map or Parallel state's name",
    "min_length": 1,
    "max_length": MAX_STATE_CHARS,
}
_WITHIN: dict[str, Any] = {
    "description": (
        "A path to a nested iteration, one `STATE[INDEX]` per level, repeated (at most "
        f"{MAX_WITHIN}): `within=Outer[3]&within=Inner[0]` reads the iterations inside item 0 of state Inner "
        "inside item 3 of the run's state Outer. Each STATE is a Map or Parallel state of the sub-machine "
        "it is in (else 422); a missing item is a 404"
    ),
    "json_schema_extra": {
        "maxItems": MAX_WITHIN,
        "items": {
            "type": "string",
            "minLength": 4,
            "maxLength": MAX_WITHIN_CHARS,
            "pattern": WITHIN_PATTERN,
        },
    },
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


@dataclass(frozen=True, slots=True)
class Level:
    """One step of a `within` path: iteration `index` of the Map or Parallel state `state`."""

    state: str
    index: int

    def __str__(self) -> str:
        return f"{self.state}[{self.index}]"


def _within_problem(index: int | None, msg: str) -> Unprocessable:
    loc: list[str | int] = ["query", "within"] if index is None else ["query", "within", index]
    return Unprocessable([problem(loc, msg)], where="query")


def parse_within(values: list[str]) -> tuple[Level, ...]:
    """The `within` path of a request (422 for too many levels or a value that is not `STATE[INDEX]`)."""
    if len(values) > MAX_WITHIN:
        raise _within_problem(
            None, f"A `within` path has at most {MAX_WITHIN} levels; this one has {len(values)}"
        )
    levels = []
    for position, value in enumerate(values):
        match = _WITHIN_STEP.search(value) if 4 <= len(value) <= MAX_WITHIN_CHARS else None
        if match is None:
            raise _within_problem(
                position,
                f"{value[:100]!r} is not STATE[INDEX]: a Map or Parallel state's name and the index of one "
                "of its items, e.g. Outer[3]",
            )
        levels.append(Level(value[: match.start() + 1], int(match.group(1))))
    return tuple(levels)


WithinDep = Annotated[list[str], Query(default_factory=list, **_WITHIN)]


def _path_text(within: tuple[Level, ...]) -> list[str]:
    return [str(level) for level in within]


@dataclass(frozen=True, slots=True)
class Target:
    """What a request reads: the run the caller asked for, and the run (that one, or the iteration its
    `within` path leads to) whose Map and Parallel states are read, with the sub-machine that run runs (None:
    not read yet, see `machine_of`)."""

    run: dict[str, Any]
    run_id: uuid.UUID
    within: tuple[Level, ...]
    machine: Any = None

    def where(self) -> str:
        if not self.within:
            return f"run {self.run['id']}"
        steps = " > ".join(f"{level.state[:100]}[{level.index}]" for level in self.within)
        return f"item {steps} of run {self.run['id']}"


def _sub_machine(state: dict[str, Any], index: int) -> Any:
    """The sub-machine iteration `index` of a Map or Parallel state (a raw definition) runs, or None."""
    if state.get("Type") == "Map":
        return state.get("ItemProcessor") or state.get("Iterator")
    branches = state.get("Branches")
    return branches[index] if isinstance(branches, list) and index < len(branches) else None


def _states_of(machine: Any) -> dict[str, Any]:
    states = machine.get("States") if isinstance(machine, dict) else None
    return states if isinstance(states, dict) else {}


def _target(
    conn: sa.Connection, run_id: uuid.UUID, principal: Principal, within: tuple[Level, ...]
) -> Target:
    """The run (404/403 as for its log) and, when `within` is given, the iteration it leads to: each step
    names a Map or Parallel state of the sub-machine reached so far (422) and an item of that state's latest
    visit (404)."""
    run, _ = load_run(conn, run_id, principal, roles.Permission.MONITOR)
    if not within:
        return Target(run, run_id, within)
    machine: Any = get_flow_version_definition(conn, run["flow_id"], run["flow_version"])
    current = run_id
    for depth, level in enumerate(within):
        where = Target(run, current, within[:depth]).where()
        state = _states_of(machine).get(level.state)
        if not isinstance(state, dict) or state.get("Type") not in ("Map", "Parallel"):
            raise _within_problem(depth, f"{level.state[:100]!r} is not a Map or Parallel state of {where}")
        summary = reads.latest_iterations(conn, run_id=current, state=level.state)
        child = (
            None
            if summary is None or level.index > MAX_INDEX  # no database integer holds it: no such item
            else reads.iteration_id(
                conn, key=IterationsKey(current, level.state, summary.visit), index=level.index
            )
        )
        if child is None:
            raise NotFound(f"State {level.state[:100]!r} of {where} has no item {level.index}")
        current, machine = child, _sub_machine(state, level.index)
    return Target(run, current, within, machine)


def machine_of(conn: sa.Connection, target: Target) -> Any:
    """The (raw) sub-machine the target run runs: the run's definition, or the one its `within` reached."""
    if target.within:
        return target.machine
    return get_flow_version_definition(conn, target.run["flow_id"], target.run["flow_version"])


def _check_marker_path(query: dict[str, Any], within: tuple[Level, ...]) -> None:
    """A marker serves only the `within` path it was issued for (400 otherwise)."""
    issued = query.get("within", [])
    if issued != _path_text(within):
        shown = ", ".join(str(step)[:100] for step in issued[:3]) if isinstance(issued, list) else "?"
        shown += ", …" if isinstance(issued, list) and len(issued) > 3 else ""
        raise BadRequest(
            "Invalid pagination marker: it was issued for another `within` path "
            f"({shown or 'none'}; this request has {', '.join(_path_text(within)) or 'none'}): send the same "
            "`within` values as the request that returned it"
        )


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class StateIterationsDoc(_Doc):
    state: str
    type: str | None = Field(description="Map or Parallel (null when the definition does not say)")
    visit: str = Field(description="`<visit>/<attempt>` of the state these iterations belong to")
    total: int
    counts: dict[str, int] = Field(description="Number of items by status")


_PATH_FIELD = Field(
    default=None, description="The request's `within` path, `STATE[INDEX]` per level (absent without one)"
)


class IterationSummaries(_Doc):
    run_id: str
    states: list[StateIterationsDoc]
    within: list[str] | None = _PATH_FIELD


class ItemSummary(_Doc):
    index: int
    status: str
    start_time: str | None
    completion_time: str | None
    error: str | None
    cause: str | None
    reason: str | None = Field(default=None, description="Why an INACTIVE item waits (absent otherwise)")


class ItemPage(StateIterationsDoc):
    items: list[ItemSummary]
    limit: int
    has_next_page: bool
    marker: str | None = Field(default=None, description="absent on the last page")
    within: list[str] | None = _PATH_FIELD


class ItemDocument(ItemSummary):
    cause: Any = Field(description="The error's cause, whole")
    state: str
    visit: str
    details: Any
    input: Any
    output: Any = Field(description="The item's result once SUCCEEDED, else its current state")
    within: list[str] | None = _PATH_FIELD


def _state_types(conn: sa.Connection, target: Target) -> dict[str, str]:
    return {
        name: state["Type"]
        for name, state in _states_of(machine_of(conn, target)).items()
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
    doc = {
        "index": row["iteration"],
        "status": row["status"],
        "start_time": None if queued or row["start_time"] is None else isoformat(row["start_time"]),
        "completion_time": isoformat(row["completion_time"]) if row["completion_time"] else None,
        "error": error,
        "cause": _cause_text(cause),
    }
    if row["status"] == "INACTIVE" and isinstance(row["details"], dict):
        doc["reason"] = redact(row["details"].get("description"))
    return doc


def _load(
    conn: sa.Connection, run_id: uuid.UUID, principal: Principal, state: str, within: tuple[Level, ...]
) -> tuple[Target, reads.StateIterations]:
    target = _target(conn, run_id, principal, within)
    summary = reads.latest_iterations(conn, run_id=target.run_id, state=state)
    if summary is None:
        where = target.where()
        raise NotFound(f"{where[0].upper()}{where[1:]} has no iterations of a state named {state[:100]!r}")
    return target, summary


def _with_path(doc: dict[str, Any], within: tuple[Level, ...]) -> dict[str, Any]:
    """`doc` with the request's `within` path (only when it has one: documents of the run's own states are
    as they were)."""
    if within:
        doc["within"] = _path_text(within)
    return doc


@router.get(
    "/runs/{run_id}/iterations",
    openapi_extra=globus_auth(flows_scopes.RUN_STATUS),
    response_model=None,
    responses={200: {"model": IterationSummaries, "description": "Items by status per state"}, **_ERRORS},
)
def get_run_iterations(
    run_id: uuid.UUID, principal: ReaderDep, service: ServiceDep, within: WithinDep
) -> dict:
    """OpenFlows extension: for each Map or Parallel state the run entered (or the iteration `within` leads
    to), its items counted by status."""
    path = parse_within(within)
    with service.db.read() as conn:
        target = _target(conn, run_id, principal, path)
        summaries = reads.summarise_iterations(conn, run_id=target.run_id)
        types = _state_types(conn, target) if summaries else {}
    doc = {"run_id": str(run_id), "states": [_summary_document(s, types) for s in summaries]}
    return _with_path(doc, path)


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
    within: WithinDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT), q.QUERY_INT] = DEFAULT_LIMIT,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
) -> dict:
    """OpenFlows extension: a state's items counted by status, and a page of them in index order."""
    path = parse_within(within)
    after: int | None = None
    if marker:
        query, after_raw = decode_marker("iterations", marker)
        _check_marker_path(query, path)
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
        target, summary = _load(conn, run_id, principal, state, path)
        key = IterationsKey(target.run_id, state, summary.visit)
        rows, next_index = reads.list_iterations(
            conn, key=key, statuses=statuses, after_index=after, limit=size
        )
        types = _state_types(conn, target)
    doc = _with_path(_summary_document(summary, types), path)
    next_marker = None
    if next_index is not None:
        query = {"run": str(run_id), "state": state, "statuses": statuses, "limit": size}
        next_marker = encode_marker("iterations", {**query, "within": _path_text(path)}, [next_index])
    doc.update(
        items=[_item_summary(row) for row in rows],
        limit=size,
        has_next_page=next_marker is not None,
    )
    if next_marker is not None:
        doc["marker"] = next_marker
    return doc


_INDEX_DOC = "The item's index (the branch's, for a Parallel state)"


def _item(
    conn: sa.Connection,
    run_id: uuid.UUID,
    principal: Principal,
    state: str,
    index: int,
    within: tuple[Level, ...],
) -> dict:
    target, summary = _load(conn, run_id, principal, state, within)
    row = reads.get_iteration(conn, key=IterationsKey(target.run_id, state, summary.visit), index=index)
    if row is None:
        raise NotFound(f"State {state[:100]!r} of {target.where()} has no item {index}")
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
    within: WithinDep,
) -> dict:
    """OpenFlows extension: one item of a state's latest visit: its status, input, output and error."""
    path = parse_within(within)
    with service.db.read() as conn:
        row = _item(conn, run_id, principal, state, index, path)
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
    return _with_path(doc, path)


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
    within: WithinDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT), q.QUERY_INT] = DEFAULT_LOG_LIMIT,
    marker: Annotated[str, Query(description=MARKER_DOC, **MARKER_CONSTRAINTS)] = "",
) -> dict:
    """OpenFlows extension: a page of one item's run log, oldest first."""
    path = parse_within(within)
    after: int | None = None
    size = limit
    if marker:
        query, after_raw = decode_marker("iteration-log", marker)
        _check_marker_path(query, path)
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
        row = _item(conn, run_id, principal, state, index, path)
        entries, next_seq = _item_log_page(conn, row["id"], after, size, service)
    doc: dict[str, Any] = {
        "entries": [log_entry_document(entry) for entry in entries],
        "limit": size,
        "has_next_page": next_seq is not None,
    }
    if next_seq is not None:
        query = {"run": str(run_id), "state": state, "index": index, "limit": size}
        doc["marker"] = encode_marker("iteration-log", {**query, "within": _path_text(path)}, [next_seq])
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
