"""The Timers API (docs/timers.md), at the paths globus-sdk's `TimersClient` uses when
`GLOBUS_SDK_SERVICE_URL_TIMER` names this server: `POST /v2/timer` (`create_timer` with a `FlowTimer` or a
`TransferTimer`), the legacy `POST /jobs/` (`create_job` with a `TimerJob`), `GET /jobs/`, `GET|PATCH|DELETE
/jobs/{job_id}`, `POST /jobs/{job_id}/pause|resume`. They share no path with the Flows API.

Every route needs a token for the Timers scope (`https://auth.globus.org/scopes/524230d7-.../timer`); a timer
is seen and managed by its owner only (anyone else gets a 404). A new flow timer is checked as `run_flow`
would check its first run (the flow, the caller's role, the input schema), a transfer timer by the transfer
provider (collections, paths), and the schedule against `OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS`, so a timer
that could never start is refused at once rather than made inactive later. Errors are Flows error documents,
which globus-sdk's `TimersAPIError` reads (`error.code`, `error.detail`).

A flow timer acts as its owner (docs/timers.md, docs/auth.md "Delegation"): creating one needs the caller's
Timers token to rest on consent to `timer[<flow scope>[<its dependent scopes>]]` (the scope globus-cli asks
for) when the flow acts on their behalf anywhere; without it the answer is a 403 ConsentRequired GARE naming
that scope. The timer then holds a grant obtained through that dependency, from which every firing starts
its run as `run_flow` would. Resuming with `update_credentials` (what `globus timer resume` sends for a
timer that lost its consent) obtains the grant again from the caller's token; deleting a timer revokes it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlparse

import sqlalchemy as sa
from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationError

from ..auth import catalog
from ..auth.delegation import DelegationUnsupported, Subject
from ..auth.principal import Principal
from ..engine import timers as engine
from ..engine.schedules import Schedule, ScheduleError, parse_schedule
from ..providers.transfer import TransferProvider
from ..store import flows as store_flows
from ..store import timers as store
from . import query as q
from .bodies import RunStart
from .delegation import consent_error, subject_of, with_scopes
from .deps import PrincipalDep, Service, ServiceDep, require_scope
from .errors import (
    BadRequest,
    FlowInputError,
    Forbidden,
    NotFound,
    StateConflict,
    problem,
)
from .errors import Unprocessable as _Unprocessable
from .pagination import decode_marker, encode_marker
from .routing import DocumentRoute
from .schemas import COMMON_ERRORS, error_responses
from .security import globus_auth
from .timer_documents import timer_document

router = APIRouter(tags=["timers"], route_class=DocumentRoute)

TIMER_SCOPE = catalog.TIMERS_TIMER
#: a timer's name
MAX_NAME_CHARS = 256
DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
#: `order`: "submitted_at", optionally followed by blanks and asc or desc, in any letter case
_ORDER_PATTERN = (
    f"^[ \\t]*{q.case_insensitive('submitted_at')}(?:[ \\t]+(?:{q.one_of(('asc', 'desc'))}))?[ \\t]*$"
)
#: fields `PATCH /jobs/{id}` may change
UPDATABLE = ("name",)
#: the action URLs a legacy `TimerJob` may call (besides this server's own): the Transfer action providers
TRANSFER_CALLBACKS = (
    ("actions.automate.globus.org", "/transfer/transfer/run"),
    ("actions.globus.org", "/transfer/transfer/run"),
    ("transfer.actions.globus.org", "/transfer/run"),
    ("transfer.actions.integration.globus.org", "/transfer/run"),
)


class Unprocessable(_Unprocessable):
    """A 422 whose error also carries `title` (the summary message): globus-sdk's `TimersAPIError` takes its
    messages from `detail` or `title` strings, and `detail` is the list of problems."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.error_fields = {"title": self.message}


def unprocessable(loc: list[str], msg: str, type_: str = "value_error") -> Unprocessable:
    return Unprocessable([problem(loc, msg, type_)])


_ERRORS = error_responses(*COMMON_ERRORS)
_ERRORS_409 = error_responses(*COMMON_ERRORS, 409)


def _base_url(service: Service, request: Request) -> str:
    return service.base_url(request)


def _document(
    conn: sa.Connection, timer: store.Timer, base_url: str, *, status: str | None = None
) -> dict[str, Any]:
    results = store.recent_results(conn, [timer.id])[timer.id]
    return timer_document(timer, results, base_url=base_url, status=status)


def _load(conn: sa.Connection, job_id: uuid.UUID, principal: Principal, *, lock: bool = False) -> store.Timer:
    """The caller's timer, or 404 (a timer of someone else is not there for them)."""
    timer = store.get_timer(conn, job_id, for_update=lock)
    if timer is None or timer.owner != principal.identity_urn:
        raise NotFound(f"No timer exists with id value {job_id}")
    return timer


# --- request documents (/openapi.json) ----------------------------------------------------------------------
# The structure each creation states; what lies inside `schedule` and a body (times relative to now, the
# administrator's minimum interval, the collections and paths of a TransferData, a flow's own input schema)
# is checked by the server, and its problems are located there.

_UUID_STRING: dict[str, Any] = {"type": "string", "format": "uuid"}
_NAME: dict[str, Any] = {"type": "string", "maxLength": MAX_NAME_CHARS}
_TIMER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["timer"],
    "properties": {
        "timer": {
            "oneOf": [
                {
                    "title": "FlowTimer",
                    "type": "object",
                    "required": ["timer_type", "flow_id", "schedule", "body"],
                    "properties": {
                        "timer_type": {"const": engine.FLOW},
                        "flow_id": _UUID_STRING,
                        "name": _NAME,
                        "schedule": {"type": "object"},
                        "body": {"type": "object", "description": "What run_flow takes: body, label, tags…"},
                    },
                },
                {
                    "title": "TransferTimer",
                    "type": "object",
                    "required": ["timer_type", "schedule", "body"],
                    "properties": {
                        "timer_type": {"const": engine.TRANSFER},
                        "name": _NAME,
                        "schedule": {"type": "object"},
                        "body": {"type": "object", "description": "A TransferData document"},
                    },
                },
            ]
        }
    },
}
_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["start", "callback_url", "callback_body"],
    "properties": {
        "name": _NAME,
        "start": {"type": "string", "format": "date-time"},
        "interval": {"type": ["integer", "null"], "minimum": 1},
        "stop_after": {"type": ["string", "null"], "format": "date-time"},
        "stop_after_n": {"type": ["integer", "null"], "minimum": 1},
        "callback_url": {"type": "string", "format": "uri"},
        "callback_body": {"type": "object"},
    },
}
_UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _NAME},
    "additionalProperties": False,
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# --- request parsing ----------------------------------------------------------------------------------------


def _name(value: Any, loc: list[str], default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
        raise unprocessable(loc, f"must be a string of at most {MAX_NAME_CHARS} characters")
    return value


def _schedule(document: Any, loc: list[str], service: Service) -> Schedule:
    try:
        return parse_schedule(
            document, now=service.now(), min_interval_seconds=service.settings.timers_min_interval_seconds
        )
    except ScheduleError as exc:
        raise unprocessable([*loc, *exc.loc], exc.message) from None


def _run_request(value: Any, loc: list[str]) -> dict[str, Any]:
    """A flow timer's body: the request `run_flow` takes (body, label, tags, run_managers, run_monitors)."""
    if not isinstance(value, dict):
        raise unprocessable(loc, "must be an object holding the run's body (and optionally label, tags...)")
    try:
        parsed = RunStart.model_validate(value)
    except ValidationError as exc:
        raise Unprocessable(
            [
                problem([*loc, *(p for p in err["loc"] if isinstance(p, str | int))], err["msg"], err["type"])
                for err in exc.errors()
            ]
        ) from None
    return parsed.model_dump(mode="json", exclude_none=True)


def _check_flow(
    conn: sa.Connection, flow_id: uuid.UUID, principal: Principal, request: dict[str, Any]
) -> None:
    """run_flow's checks, with run_flow's errors (404, 403, 400 FLOW_INPUT_ERROR)."""
    try:
        engine.check_flow_start(conn, flow_id, principal, request.get("body") or {})
    except engine.TimerCannotStart as exc:
        if exc.code == "FLOW_NOT_FOUND":
            raise NotFound(exc.message) from None
        if exc.code == "FORBIDDEN":
            raise Forbidden(exc.message) from None
        raise FlowInputError(exc.problems or exc.message, message=exc.message) from None


def _check_transfer(service: Service, owner: Principal, body: dict[str, Any], loc: list[str]) -> None:
    """The transfer provider's checks of the body as the owner (collections exist, the owner may use them,
    paths stay inside them), as 422."""
    try:
        engine.prepare_transfer(TransferProvider(service.db), owner, body)
    except engine.TimerCannotStart as exc:
        raise unprocessable(loc, exc.message, exc.code) from None


def _delegate(
    conn: sa.Connection,
    service: Service,
    timer_id: uuid.UUID,
    flow_id: uuid.UUID,
    subject: Subject,
) -> None:
    """Obtain the flow timer's grant from the caller's token, in the transaction that creates or resumes the
    timer (403 ConsentRequired when their consent does not cover `timer[<flow scope>[...]]`)."""
    delegations = service.delegations
    if delegations is None:
        return
    flow = store_flows.get_flow(conn, flow_id=flow_id)
    if flow is None:  # the firing will say so
        return
    flow = with_scopes(conn, service, flow)
    try:
        missing = delegations.obtain_for_timer(
            conn, timer_id=timer_id, subject=subject, flow=flow, now=service.now()
        )
    except DelegationUnsupported as exc:
        raise unprocessable(["timer", "flow_id"], str(exc), "delegation_unsupported") from None
    if missing is not None:
        raise consent_error(missing)


def _create(
    service: Service,
    principal: Principal,
    request: Request,
    *,
    timer_type: str,
    name: str,
    schedule: Schedule,
    flow_id: uuid.UUID | None,
    body: dict[str, Any],
    body_loc: list[str],
) -> store.Timer:
    if timer_type == engine.TRANSFER:
        _check_transfer(service, principal, body, body_loc)
    timer_id = uuid.uuid4()
    subject = subject_of(principal, request)

    def create(conn: sa.Connection) -> store.Timer:
        if flow_id is not None:
            _check_flow(conn, flow_id, principal, body)
            _delegate(conn, service, timer_id, flow_id, subject)
        return engine.create_timer(
            conn,
            timer_id=timer_id,
            owner=principal.identity_urn,
            name=name,
            timer_type=timer_type,
            flow_id=flow_id,
            body=body,
            schedule=schedule,
            now=service.now(),
        )

    timer = service.transact(create)
    service.wake()
    return timer


def _uuid(value: Any, loc: list[str]) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise unprocessable(loc, "must be a UUID") from None


# --- creating -----------------------------------------------------------------------------------------------


@router.post(
    "/v2/timer",
    openapi_extra=globus_auth(TIMER_SCOPE) | _body(_TIMER_SCHEMA),
    status_code=201,
    response_model=None,
    responses={201: {"description": '{"timer": <the new timer>}'}, **_ERRORS},
)
def create_timer(
    payload: Annotated[dict[str, Any], Body()], principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """Create a flow timer (`timer_type` flow: `flow_id`, `body` as run_flow takes it) or a transfer timer
    (`timer_type` transfer: `body` a TransferData document), with a `schedule`."""
    require_scope(principal, TIMER_SCOPE)
    spec = payload.get("timer")
    if not isinstance(spec, dict):
        raise unprocessable(["timer"], "must be an object (a FlowTimer or a TransferTimer)")
    timer_type = spec.get("timer_type")
    if timer_type not in (engine.FLOW, engine.TRANSFER):
        raise unprocessable(["timer", "timer_type"], "must be flow or transfer")
    name = _name(spec.get("name"), ["timer", "name"], default=f"{timer_type} timer")
    schedule = _schedule(spec.get("schedule"), ["timer", "schedule"], service)
    if timer_type == engine.FLOW:
        flow_id = _uuid(spec.get("flow_id"), ["timer", "flow_id"])
        body = _run_request(spec.get("body"), ["timer", "body"])
    else:
        flow_id = None
        body = spec.get("body")
        if not isinstance(body, dict):
            raise unprocessable(["timer", "body"], "must be a TransferData object")
        body = {k: v for k, v in body.items() if k not in ("submission_id", "skip_activation_check")}
    timer = _create(
        service,
        principal,
        request,
        timer_type=timer_type,
        name=name,
        schedule=schedule,
        flow_id=flow_id,
        body=body,
        body_loc=["timer", "body"],
    )
    with service.db.read() as conn:
        return {"timer": _document(conn, timer, _base_url(service, request))}


def _legacy_target(url: Any, service: Service, request: Request) -> tuple[str, uuid.UUID | None]:
    """What a legacy `callback_url` calls: ("flow", flow id) or ("transfer", None); 422 otherwise."""
    if not isinstance(url, str):
        raise unprocessable(["callback_url"], "field required", "value_error.missing")
    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p]
    if len(parts) == 3 and parts[0] == "flows" and parts[2] == "run":
        return engine.FLOW, _uuid(parts[1], ["callback_url"])
    if (parsed.netloc, parsed.path.rstrip("/")) in TRANSFER_CALLBACKS:
        return engine.TRANSFER, None
    own = urlparse(_base_url(service, request))
    if parsed.netloc == own.netloc and parsed.path.rstrip("/") == "/actions/transfer/run":
        return engine.TRANSFER, None
    raise unprocessable(
        ["callback_url"],
        "must be a flow's run URL (…/flows/<id>/run) or a Transfer action provider's run URL",
    )


def _legacy_schedule(payload: dict[str, Any], service: Service) -> Schedule:
    start = payload.get("start")
    if start is None:
        raise unprocessable(["start"], "field required", "value_error.missing")
    interval = payload.get("interval")
    if interval is None or payload.get("stop_after_n") == 1:
        return _schedule({"type": "once", "datetime": start}, [], service)
    document: dict[str, Any] = {"type": "recurring", "interval_seconds": interval, "start": start}
    if payload.get("stop_after") is not None:
        document["end"] = {"condition": "time", "datetime": payload["stop_after"]}
    elif payload.get("stop_after_n") is not None:
        document["end"] = {"condition": "iterations", "count": payload["stop_after_n"]}
    return _schedule(document, [], service)


@router.post(
    "/jobs/",
    openapi_extra=globus_auth(TIMER_SCOPE) | _body(_JOB_SCHEMA),
    status_code=201,
    response_model=None,
    responses={201: {"description": "The new timer (legacy TimerJob)"}, **_ERRORS},
)
def create_job(
    payload: Annotated[dict[str, Any], Body()], principal: PrincipalDep, service: ServiceDep, request: Request
) -> dict:
    """The legacy creation (`TimerJob`): `callback_url` names a flow's run URL or a Transfer action provider,
    `callback_body` is what it is sent, `start`, `interval` (seconds; none: once), `stop_after`,
    `stop_after_n`."""
    require_scope(principal, TIMER_SCOPE)
    missing = [problem([f], "field required", "value_error.missing") for f in ("start", "callback_url")]
    missing = [p for p in missing if payload.get(p["loc"][0]) is None]
    if missing:
        raise Unprocessable(missing)
    timer_type, flow_id = _legacy_target(payload.get("callback_url"), service, request)
    callback_body = payload.get("callback_body")
    if not isinstance(callback_body, dict):
        raise unprocessable(["callback_body"], "must be an object")
    schedule = _legacy_schedule(payload, service)
    if timer_type == engine.FLOW:
        body = _run_request(callback_body, ["callback_body"])
    else:
        body = callback_body.get("body")
        if not isinstance(body, dict):
            raise unprocessable(["callback_body", "body"], "must be the Transfer action's body")
    name = _name(payload.get("name"), ["name"], default=f"{timer_type} timer")
    timer = _create(
        service,
        principal,
        request,
        timer_type=timer_type,
        name=name,
        schedule=schedule,
        flow_id=flow_id,
        body=body,
        body_loc=["callback_body", "body"],
    )
    with service.db.read() as conn:
        return _document(conn, timer, _base_url(service, request))


# --- reading ------------------------------------------------------------------------------------------------


@router.get(
    "/jobs/",
    openapi_extra=globus_auth(TIMER_SCOPE),
    response_model=None,
    responses={200: {"description": '{"jobs": [...]}'}, **_ERRORS},
)
def list_jobs(
    principal: PrincipalDep,
    service: ServiceDep,
    request: Request,
    order: Annotated[
        str | None,
        Query(
            description="submitted_at asc (default) or submitted_at desc (any case)", pattern=_ORDER_PATTERN
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT), q.QUERY_INT] = DEFAULT_LIMIT,
    marker: Annotated[str | None, Query(description="from the previous page's next_marker")] = None,
) -> dict:
    """The caller's timers, oldest first (or newest first), with their recent results."""
    require_scope(principal, TIMER_SCOPE)
    if marker:
        query, after_raw = decode_marker("jobs", marker)
        try:
            descending, size = bool(query["desc"]), int(query["limit"])
            after = (dt.datetime.fromisoformat(after_raw[0]), uuid.UUID(after_raw[1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise BadRequest("Invalid pagination marker") from None
    else:
        descending = _order(order)
        size = limit
        after = None
    with service.db.read() as conn:
        found = store.list_timers(
            conn, owner=principal.identity_urn, descending=descending, after=after, limit=size + 1
        )
        page = found[:size]
        results = store.recent_results(conn, [t.id for t in page])
    base = _base_url(service, request)
    doc: dict[str, Any] = {"jobs": [timer_document(t, results[t.id], base_url=base) for t in page]}
    if len(found) > size:
        last = page[-1]
        doc["next_marker"] = encode_marker(
            "jobs", {"desc": descending, "limit": size}, [last.submitted_at.isoformat(), str(last.id)]
        )
    return doc


def _order(value: str | None) -> bool:
    """True for newest first; the value already matched `_ORDER_PATTERN`."""
    words = (value or "").lower().split()
    return words[1:] == ["desc"]


@router.get(
    "/jobs/{job_id}",
    openapi_extra=globus_auth(TIMER_SCOPE),
    response_model=None,
    responses={200: {"description": "The timer"}, **_ERRORS},
)
def get_job(job_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    require_scope(principal, TIMER_SCOPE)
    with service.db.read() as conn:
        return _document(conn, _load(conn, job_id, principal), _base_url(service, request))


# --- changing -----------------------------------------------------------------------------------------------


@router.patch(
    "/jobs/{job_id}",
    openapi_extra=globus_auth(TIMER_SCOPE) | _body(_UPDATE_SCHEMA),
    response_model=None,
    responses={200: {"description": "The updated timer"}, **_ERRORS},
)
def update_job(
    job_id: uuid.UUID,
    payload: Annotated[dict[str, Any], Body()],
    principal: PrincipalDep,
    service: ServiceDep,
    request: Request,
) -> dict:
    """Change a timer's name (the one field that can change: delete and create a timer for another schedule
    or body)."""
    require_scope(principal, TIMER_SCOPE)
    refused = [
        problem([key], f"cannot be changed (only {', '.join(UPDATABLE)} can)")
        for key in payload
        if key not in UPDATABLE
    ]
    if refused:
        raise Unprocessable(refused)

    def update(conn: sa.Connection) -> dict[str, Any]:
        timer = _load(conn, job_id, principal, lock=True)
        if "name" in payload:
            timer = store.update_timer(
                conn, timer, {"name": _name(payload["name"], ["name"], timer.name)}, now=service.now()
            )
        return _document(conn, timer, _base_url(service, request))

    return service.transact(update)


@router.delete(
    "/jobs/{job_id}",
    openapi_extra=globus_auth(TIMER_SCOPE),
    response_model=None,
    responses={200: {"description": "The deleted timer"}, **_ERRORS},
)
def delete_job(job_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """Delete a timer (it fires no more; the runs and transfers it started stay)."""
    require_scope(principal, TIMER_SCOPE)

    def delete(conn: sa.Connection) -> dict[str, Any]:
        timer = _load(conn, job_id, principal, lock=True)
        doc = _document(conn, timer, _base_url(service, request), status="deleted")
        store.delete_timer(conn, timer.id)
        if service.delegations is not None:  # its grant is revoked with it
            service.delegations.release_timer(conn, timer.id)
        return doc

    return service.transact(delete)


@router.post(
    "/jobs/{job_id}/pause",
    openapi_extra=globus_auth(TIMER_SCOPE),
    response_model=None,
    responses={200: {"description": '{"message": ...}'}, **_ERRORS_409},
)
def pause_job(job_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Make the timer inactive until it is resumed (a paused timer's occurrences are skipped)."""
    require_scope(principal, TIMER_SCOPE)

    def pause(conn: sa.Connection) -> None:
        timer = _load(conn, job_id, principal, lock=True)
        if timer.status == "ended":
            raise StateConflict(f"Timer {job_id} has ended; it cannot be paused")
        engine.pause_timer(conn, timer, now=service.now())

    service.transact(pause)
    return {"message": f"Successfully paused job {job_id}."}


@router.post(
    "/jobs/{job_id}/resume",
    openapi_extra=globus_auth(TIMER_SCOPE),
    response_model=None,
    responses={200: {"description": '{"message": ...}'}, **_ERRORS_409},
)
def resume_job(
    job_id: uuid.UUID,
    principal: PrincipalDep,
    service: ServiceDep,
    request: Request,
    payload: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict:
    """Make an inactive timer fire again from its next occurrence. `update_credentials: true` (what
    `globus timer resume` sends for a timer that lost its consent) obtains a flow timer's grant again from
    the caller's token (403 ConsentRequired when their consent still does not cover it)."""
    require_scope(principal, TIMER_SCOPE)
    update = isinstance(payload, dict) and payload.get("update_credentials") is True
    subject = subject_of(principal, request)

    def resume(conn: sa.Connection) -> None:
        timer = _load(conn, job_id, principal, lock=True)
        if timer.status == "ended":
            raise StateConflict(f"Timer {job_id} has ended; it cannot be resumed")
        if update and timer.status == "inactive" and timer.flow_id is not None:
            _delegate(conn, service, timer.id, timer.flow_id, subject)
        engine.resume_timer(conn, timer, now=service.now())

    service.transact(resume)
    service.wake()
    return {"message": f"Successfully resumed job {job_id}."}
