"""The common machinery of the built-in providers whose actions live in the `provider_actions` table.

A `StoredProvider` implements the whole Action Provider interface (spec/flows-language.md §11) once: request
validation, idempotent `/run` on `(provider, creator, request_id)`, who may see or manage an action (the
creator, `monitor_by`, `manage_by`), cancel, release (then 404), resume and log. A concrete provider only says
what its body means:

- a synchronous provider (ls, mkdir, expression_eval, ...) implements `perform(body, caller)` and answers
  `/run` with a terminal status;
- an asynchronous one (transfer, delete, compute) sets `background = True` and implements
  `work(job)`, which an `ActionRunner` (providers/runner.py) calls in a background thread after `/run` stored
  the ACTIVE action. The work reports progress through the job and is stopped by a cancel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..shared.clock import Clock, SystemClock
from ..store import errors as store_errors
from ..store.db import Database
from ..store.schema import provider_actions
from .base import (
    TERMINAL_ACTION_STATUSES,
    ActionConflict,
    ActionNotFound,
    BadActionRequest,
    Caller,
    ForbiddenRequest,
    Provider,
)
from .outcomes import Outcome, failure, storable_outcome

if TYPE_CHECKING:
    from .runner import ActionRunner, Job

#: the default `release_after` of an action
DEFAULT_RELEASE_AFTER = "P30D"


def iso(t: dt.datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC (None stays None)."""
    return None if t is None else t.astimezone(dt.UTC).isoformat()


class StoredProvider(Provider):
    """A built-in provider whose actions are rows of `provider_actions`."""

    title: str = ""
    subtitle: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    #: every `/run` answers with a terminal status
    synchronous: bool = True
    #: the work happens in an `ActionRunner` after `/run` (asynchronous providers)
    background: bool = False
    input_schema: dict[str, Any] = {"type": "object"}  # noqa: RUF012 - read-only class data

    def __init__(
        self, db: Database, *, clock: Clock | None = None, runner: ActionRunner | None = None
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.runner = runner
        if self.background and runner is not None:
            runner.register(self)

    # -- what a concrete provider implements ---------------------------------------------------------------

    def stored_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body as stored (and compared for idempotency): providers redact secrets here."""
        return body

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Validate the body (raise `BadActionRequest`); return what the work needs (stored as `state`)."""
        return {}

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        """A synchronous provider's whole action."""
        raise NotImplementedError

    def initial_details(self, body: dict[str, Any], state: dict[str, Any], now: dt.datetime) -> Any:
        """An asynchronous action's `details` when it starts."""
        return {"description": "The action is queued"}

    def work(self, job: Job) -> Outcome:
        """An asynchronous action's work (in a runner thread). Return its final outcome; call
        `job.progress(details)` now and then (it raises `ActionCanceled` once the action was canceled)."""
        raise NotImplementedError

    # -- description ---------------------------------------------------------------------------------------

    def introspect(self) -> dict[str, Any]:
        return {
            "types": ["Action"],
            "api_version": "1.0",
            "title": self.title or self.name,
            "subtitle": self.subtitle,
            "description": self.description,
            "keywords": list(self.keywords),
            "globus_auth_scope": self.globus_auth_scope,
            "admin_contact": "openflows",
            "visible_to": ["public"],
            "runnable_by": ["all_authenticated_users"],
            "administered_by": [],
            "synchronous": self.synchronous,
            "log_supported": True,
            "maximum_deadline": "P30D",
            "input_schema": self.input_schema,
            "event_types": None,
        }

    # -- operations ----------------------------------------------------------------------------------------

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        request_id, body, extras = check_request(request)
        stored = self.stored_body(body)
        existing = self._find(caller, request_id, stored)
        if existing is not None:
            return existing, False
        state = self.check_body(body, caller)
        now = self.clock.now()
        values = self.new_action(request_id, body, state, caller, extras=extras, now=now)
        if not self.background:
            outcome = storable_outcome(self.perform(body, state, caller))
            values.update(
                status=outcome.status,
                display_status=outcome.display_status or outcome.status,
                details=outcome.details,
                completion_time=max(self.clock.now(), now),
            )
        try:
            self.db.transact(insert_action, values)
        except store_errors.UniqueViolation:
            # another request with the same request_id won the race: answer with its action
            existing = self._find(caller, request_id, stored)
            if existing is None:  # pragma: no cover - the winner's row is there
                raise
            return existing, False
        if self.background and self.runner is not None:
            self.runner.submit(self, str(values["id"]))
            with self.db.read() as conn:
                row = conn.execute(
                    sa.select(provider_actions).where(provider_actions.c.id == values["id"])
                ).one()
            return document(dict(row._mapping)), True
        return document(values), True

    def new_action(
        self,
        request_id: str,
        body: dict[str, Any],
        state: dict[str, Any],
        caller: Caller,
        *,
        extras: dict[str, Any],
        now: dt.datetime,
    ) -> dict[str, Any]:
        """The `provider_actions` row of a new action of `caller` (`state` from `check_body`); an
        asynchronous action starts ACTIVE with its initial details, and its runner picks it up once the row
        is committed (`runner.submit`, or `recover` within a lease period). A timer inserts such a row in the
        transaction of its firing (`engine.timers`)."""
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "provider": self.name,
            "creator_id": caller.identity,
            "request_id": request_id,
            "body": self.stored_body(body),
            "label": extras.get("label"),
            "monitor_by": extras.get("monitor_by") or [],
            "manage_by": extras.get("manage_by") or [],
            "release_after": extras.get("release_after"),
            "start_time": now,
            "state": state,
        }
        if self.background:
            values.update(
                status="ACTIVE", display_status="ACTIVE", details=self.initial_details(body, state, now)
            )
        return values

    def _find(self, caller: Caller, request_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = find_action(conn, self.name, caller.identity, request_id)
        if row is None:
            return None
        if row.body != body:
            raise ActionConflict(f"request_id {request_id!r} was already used with a different body")
        if row.released_at is not None:
            raise ActionNotFound(f"the action for request_id {request_id!r} was released")
        return document(dict(row._mapping))

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        with self.db.read() as conn:
            return document(self._load(conn, action_id, caller, manage=False))

    def status_in(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any] | None:
        if type(self).status is not StoredProvider.status:  # its status does more than read the row
            return None
        return document(self._load(conn, action_id, caller, manage=False))

    def cancel(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._cancel, action_id, caller, self.clock.now())

    def _cancel(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._load(conn, action_id, caller, manage=True)
        if row["status"] in TERMINAL_ACTION_STATUSES:
            return document(row)
        details = row.get("details")
        canceled = failure("ActionCanceled", "The action was canceled")
        if isinstance(details, dict) and details.get("DATA_TYPE") == "task":
            canceled = {**details, **canceled, "status": "FAILED", "nice_status": "Canceled"}
        changes = {
            "status": "FAILED",
            "display_status": "CANCELED",
            "details": canceled,
            "completion_time": now,
            "due_at": None,
        }
        update_action(conn, row["id"], changes)
        if self.runner is not None:
            self.runner.cancel(action_id)
        return document({**row, **changes})

    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._release, action_id, caller, self.clock.now())

    def release_in(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any] | None:
        return self._release(conn, action_id, caller, now)

    def _release(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._load(conn, action_id, caller, manage=True)
        if row["status"] not in TERMINAL_ACTION_STATUSES:
            raise ActionConflict(
                f"action {action_id} is still {row['status']}; cancel it before releasing it"
            )
        update_action(conn, row["id"], {"released_at": now})
        return document(row)

    def resume(self, action_id: str, caller: Caller) -> dict[str, Any]:
        # no built-in stored provider goes INACTIVE: resume just answers with the status
        with self.db.read() as conn:
            return document(self._load(conn, action_id, caller, manage=True))

    def log(
        self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False
    ) -> dict[str, Any]:
        doc = self.status(action_id, caller)
        entries = [
            {
                "time": doc["start_time"],
                "code": "ActionStarted",
                "description": f"The {self.name} action started",
                "details": {},
            }
        ]
        if doc["completion_time"]:
            entries.append(
                {
                    "time": doc["completion_time"],
                    "code": "ActionSucceeded" if doc["status"] == "SUCCEEDED" else "ActionFailed",
                    "description": f"The action ended with status {doc['status']}",
                    "details": doc["details"],
                }
            )
        if reverse_order:
            entries.reverse()
        limit = max(1, min(int(limit), 100))
        return {"limit": limit, "has_next_page": False, "marker": None, "entries": entries[:limit]}

    # -- helpers -------------------------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, action_id: str, caller: Caller, *, manage: bool) -> dict[str, Any]:
        return load_action(conn, self.name, action_id, caller, manage=manage)


# Statements of the built-in providers' hot path, built once (an action start, its polls and its release
# each run one or two of them).
_ACTION_BY_ID = sa.select(provider_actions).where(
    provider_actions.c.id == sa.bindparam("b_id"), provider_actions.c.provider == sa.bindparam("b_provider")
)
_ACTION_BY_REQUEST = sa.select(provider_actions).where(
    provider_actions.c.provider == sa.bindparam("b_provider"),
    provider_actions.c.creator_id == sa.bindparam("b_creator"),
    provider_actions.c.request_id == sa.bindparam("b_request"),
)
_INSERT_ACTION = sa.insert(provider_actions)
_REQUEST_KEY = ["provider", "creator_id", "request_id"]
_RELEASE_ENDED = (
    sa.update(provider_actions)
    .where(
        provider_actions.c.id == sa.bindparam("b_id"),
        provider_actions.c.provider == sa.bindparam("b_provider"),
        provider_actions.c.creator_id == sa.bindparam("b_creator"),
        provider_actions.c.status.in_(sorted(TERMINAL_ACTION_STATUSES)),
        provider_actions.c.released_at.is_(None),
    )
    .values(released_at=sa.bindparam("b_now"))
    .returning(*provider_actions.c)
)
#: `UPDATE provider_actions` statements by the tuple of columns they set
_UPDATES: dict[tuple[str, ...], Any] = {}


def find_action(conn: sa.Connection, provider: str, creator: str, request_id: str) -> Any:
    """The action `creator` started at `provider` with `request_id` (a row), or None."""
    return conn.execute(
        _ACTION_BY_REQUEST, {"b_provider": provider, "b_creator": creator, "b_request": request_id}
    ).one_or_none()


def insert_action(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Insert a `provider_actions` row."""
    conn.execute(_INSERT_ACTION, values)


def insert_new_action(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """Insert a `provider_actions` row unless the creator's action with its `request_id` exists (no error:
    `ON CONFLICT DO NOTHING`); whether it was inserted."""
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(provider_actions)
        .values(values)
        .on_conflict_do_nothing(index_elements=_REQUEST_KEY)
        .returning(provider_actions.c.id)  # (psycopg reports no row count for it)
    )
    return conn.execute(statement).first() is not None


def release_ended(
    conn: sa.Connection, provider: str, action_id: str, creator: str, now: dt.datetime
) -> dict[str, Any] | None:
    """Release, in one statement, the unreleased action `action_id` of `provider` that `creator` started and
    that is stored as ended; its status document, or None when there is no such action (the caller then
    checks and releases it the long way: another identity, an action not stored as ended, none at all)."""
    try:
        key = uuid.UUID(str(action_id))
    except ValueError:
        return None
    row = conn.execute(
        _RELEASE_ENDED, {"b_id": key, "b_provider": provider, "b_creator": creator, "b_now": now}
    ).one_or_none()
    return None if row is None else document(dict(row._mapping))


def update_action(conn: sa.Connection, action_id: uuid.UUID, changes: dict[str, Any]) -> None:
    """Set `changes` on the action `action_id`."""
    columns = tuple(changes)
    stmt = _UPDATES.get(columns)
    if stmt is None:
        stmt = _UPDATES[columns] = (
            sa.update(provider_actions)
            .where(provider_actions.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(f"b_{name}") for name in columns})
        )
    conn.execute(stmt, {"b_id": action_id, **{f"b_{name}": value for name, value in changes.items()}})


def load_action(
    conn: sa.Connection, provider: str, action_id: str, caller: Caller, *, manage: bool
) -> dict[str, Any]:
    """The unreleased action `action_id` of `provider`, if `caller` may see it (the creator, `monitor_by`,
    `manage_by`) or, with `manage`, manage it (the creator, `manage_by`). An action the caller may not see is
    `ActionNotFound`; one they may see but not manage is `ForbiddenRequest`."""
    try:
        key = uuid.UUID(str(action_id))
    except ValueError:
        raise ActionNotFound(f"no action {action_id!r}") from None
    row = conn.execute(_ACTION_BY_ID, {"b_id": key, "b_provider": provider}).one_or_none()
    if row is None or row.released_at is not None:
        raise ActionNotFound(f"no action {action_id!r}")
    m = dict(row._mapping)
    allowed = {m["creator_id"], *m["manage_by"]}
    if not manage:
        allowed |= set(m["monitor_by"])
    if not (caller.principals & allowed):
        if manage and caller.principals & set(m["monitor_by"]):
            raise ForbiddenRequest(f"you may view action {action_id} but not manage it")
        raise ActionNotFound(f"no action {action_id!r}")
    return m


def document(row: dict[str, Any]) -> dict[str, Any]:
    """The action status document of a `provider_actions` row."""
    return {
        "action_id": str(row["id"]),
        "status": row["status"],
        "display_status": row.get("display_status") or row["status"],
        "details": row.get("details"),
        "creator_id": row["creator_id"],
        "label": row.get("label"),
        "monitor_by": list(row.get("monitor_by") or []),
        "manage_by": list(row.get("manage_by") or []),
        "start_time": iso(row["start_time"]),
        "completion_time": iso(row.get("completion_time")),
        "release_after": row.get("release_after") or DEFAULT_RELEASE_AFTER,
    }


def check_request(request: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Validate an action request envelope (spec §11 "Action Request"): `(request_id, body, extras)`."""
    if not isinstance(request, dict):
        raise BadActionRequest("the action request must be a JSON object")
    request_id = request.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > 256:
        raise BadActionRequest("request_id must be a non-empty string of at most 256 characters")
    body = request.get("body")
    if not isinstance(body, dict):
        raise BadActionRequest("body must be a JSON object")
    extras: dict[str, Any] = {}
    label = request.get("label")
    if label is not None:
        if not isinstance(label, str) or not 1 <= len(label) <= 64:
            raise BadActionRequest("label must be a string of 1 to 64 characters")
        extras["label"] = label
    for key in ("monitor_by", "manage_by"):
        value = request.get(key)
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadActionRequest(f"{key} must be a list of principal URNs")
            extras[key] = value
    release_after = request.get("release_after")
    if release_after is not None:
        extras["release_after"] = str(release_after)[:32]
    return request_id, body, extras


def require_str(body: dict[str, Any], *keys: str, what: str | None = None) -> str:
    """The first of `keys` present in `body`, as a non-empty string (else `BadActionRequest`)."""
    for key in keys:
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise BadActionRequest(f"{key} must be a non-empty string")
            return value
    raise BadActionRequest(f"{what or ' or '.join(keys)} is required")


def optional_bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadActionRequest(f"{key} must be true or false")
    return value
