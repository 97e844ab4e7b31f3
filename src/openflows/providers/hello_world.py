"""The built-in `hello_world` action provider (spec/flows-language.md §12), a stand-in for
`https://actions.globus.org/hello_world`.

Body: `echo_string` (default "hello world"), `sleep_time` (seconds the action stays ACTIVE), and
`required_dependent_scope` (the action is INACTIVE with a ConsentRequired reason until it is resumed).
Output `details`: `{"Hello": "World", "hello": <echo_string>}`.

Actions live in the `provider_actions` table, so they survive restarts; a run with the same `(creator,
request_id)` returns the existing action (idempotent start). Progress is computed from the clock when the
action is read: an ACTIVE action whose `due_at` has passed is SUCCEEDED from `due_at` on.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from typing import Any

import sqlalchemy as sa

from ..auth.scopes import PROVIDER_SCOPES
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
    Provider,
)
from .stored import (
    check_request,
    document,
    find_action,
    insert_new_action,
    load_action,
    release_ended,
    update_action,
)

#: the scope of the hosted Hello World provider
HELLO_WORLD_SCOPE = PROVIDER_SCOPES["hello_world"]
#: longest accepted `sleep_time` (the providers' default maximum deadline, P30D)
MAX_SLEEP_SECONDS = 30 * 24 * 3600  # seconds
#: sleeping actions whose wake-up time a provider keeps in memory (see `HelloWorldProvider._due`)
MAX_REMEMBERED = 10_000
#: `echo_string` when the body has none
DEFAULT_ECHO_STRING = "hello world"

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "echo_string": {"type": "string", "description": "A string to echo back in the action's details"},
        "sleep_time": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_SLEEP_SECONDS,
            "description": "Seconds the action stays ACTIVE before it succeeds",
        },
        "required_dependent_scope": {
            "type": "string",
            "description": "Make the action INACTIVE (consent required for this scope) until it is resumed",
        },
    },
    "additionalProperties": True,
}


class HelloWorldProvider(Provider):
    """Hello World: echo a string, optionally after sleeping or after a (simulated) consent."""

    name = "hello_world"
    hosted_urls = (
        "https://actions.globus.org/hello_world",
        "https://actions.automate.globus.org/hello_world",
    )
    globus_auth_scope = HELLO_WORLD_SCOPE

    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        #: when this process's sleeping actions wake (`next_change_at` without a read), the newest
        #: MAX_REMEMBERED; an action's `due_at` is set once, when it starts ACTIVE, and cleared when it ends
        self._due: dict[uuid.UUID, dt.datetime] = {}
        self._due_lock = threading.Lock()

    # -- description ---------------------------------------------------------------------------------------

    def introspect(self) -> dict[str, Any]:
        return {
            "types": ["Action"],
            "api_version": "1.0",
            "title": "Hello World",
            "subtitle": "An action provider that says hello",
            "description": "Echoes echo_string; sleep_time keeps the action ACTIVE that long; "
            "required_dependent_scope makes it INACTIVE (consent required) until resumed.",
            "keywords": ["hello", "test"],
            "globus_auth_scope": self.globus_auth_scope,
            "admin_contact": "openflows",
            "visible_to": ["public"],
            "runnable_by": ["all_authenticated_users"],
            "administered_by": [],
            "synchronous": False,
            "log_supported": True,
            "maximum_deadline": "P30D",
            "input_schema": INPUT_SCHEMA,
            "event_types": None,
        }

    # -- operations ----------------------------------------------------------------------------------------

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        request_id, body, extras = _check_request(request)
        now = self.clock.now()
        try:
            return self.db.transact(self._run, caller, request_id, body, extras, now)
        except store_errors.UniqueViolation:
            # another request with the same request_id won the race: answer with its action
            return self.db.transact(self._run, caller, request_id, body, extras, now)

    def run_in(
        self, conn: sa.Connection, request: dict[str, Any], caller: Caller, now: dt.datetime
    ) -> tuple[dict[str, Any], bool]:
        request_id, body, extras = _check_request(request)
        return self._run(conn, caller, request_id, body, extras, now)

    def _run(
        self,
        conn: sa.Connection,
        caller: Caller,
        request_id: str,
        body: dict[str, Any],
        extras: dict,
        now: dt.datetime,
    ) -> tuple[dict[str, Any], bool]:
        echo = body.get("echo_string", DEFAULT_ECHO_STRING)
        sleep = float(body.get("sleep_time") or 0)
        scope = body.get("required_dependent_scope")
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "provider": self.name,
            "creator_id": caller.identity,
            "request_id": request_id,
            "body": body,
            "label": extras.get("label"),
            "monitor_by": extras.get("monitor_by") or [],
            "manage_by": extras.get("manage_by") or [],
            "release_after": extras.get("release_after"),
            "start_time": now,
            "state": {"echo_string": echo, "sleep_time": sleep},
        }
        if scope:
            values.update(status="INACTIVE", display_status="INACTIVE", details=_consent_details(scope))
        elif sleep > 0:
            values.update(
                status="ACTIVE",
                display_status="ACTIVE",
                details={"description": f"Sleeping for {_seconds(sleep)} seconds"},
                due_at=now + dt.timedelta(seconds=sleep),
            )
        else:
            values.update(
                status="SUCCEEDED", display_status="SUCCEEDED", details=_output(echo), completion_time=now
            )
        if not insert_new_action(conn, values):  # a repeated request (a replay, or a race it lost)
            existing = find_action(conn, self.name, caller.identity, request_id)
            if existing is None:  # pragma: no cover - the row the insert met is there
                raise ActionConflict(f"request_id {request_id!r} is in use")
            if existing.body != body:
                raise ActionConflict(f"request_id {request_id!r} was already used with a different body")
            if existing.released_at is not None:
                raise ActionNotFound(f"the action for request_id {request_id!r} was released")
            return document(self._advance(conn, existing._mapping, now)), False
        if values.get("due_at") is not None:  # (a rolled-back start leaves a hint no one asks for)
            self._remember(values["id"], values["due_at"])
        return document(values), True

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._status, action_id, caller, self.clock.now())

    def status_in(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        return self._status(conn, action_id, caller, now)

    def _status(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._load(conn, action_id, caller, manage=False)
        return document(self._advance(conn, row, now))

    def cancel(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._cancel, action_id, caller, self.clock.now())

    def _cancel(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._advance(conn, self._load(conn, action_id, caller, manage=True), now)
        if row["status"] in TERMINAL_ACTION_STATUSES:
            return document(row)
        changes = {
            "status": "FAILED",
            "display_status": "CANCELED",
            "details": {"code": "ActionCanceled", "description": "The action was canceled"},
            "completion_time": now,
            "due_at": None,
        }
        return document(self._update(conn, row, changes))

    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._release, action_id, caller, self.clock.now())

    def release_in(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any] | None:
        # the engine releases, as the creator, an action its step has just seen end: one UPDATE, else the
        # whole check (another identity, an action not stored as ended)
        released = release_ended(conn, self.name, action_id, caller.identity, now)
        return released if released is not None else self._release(conn, action_id, caller, now)

    def _release(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._advance(conn, self._load(conn, action_id, caller, manage=True), now)
        if row["status"] not in TERMINAL_ACTION_STATUSES:
            raise ActionConflict(
                f"action {action_id} is still {row['status']}; cancel it before releasing it"
            )
        return document(self._update(conn, row, {"released_at": now}))

    def resume(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self.db.transact(self._resume, action_id, caller, self.clock.now())

    def _resume(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        row = self._advance(conn, self._load(conn, action_id, caller, manage=True), now)
        if row["status"] != "INACTIVE":
            return document(row)
        state = row["state"] or {}
        sleep = float(state.get("sleep_time") or 0)
        if sleep > 0:
            changes = {
                "status": "ACTIVE",
                "display_status": "ACTIVE",
                "details": {"description": f"Sleeping for {_seconds(sleep)} seconds"},
                "due_at": now + dt.timedelta(seconds=sleep),
            }
        else:
            changes = {
                "status": "SUCCEEDED",
                "display_status": "SUCCEEDED",
                "details": _output(state.get("echo_string", DEFAULT_ECHO_STRING)),
                "completion_time": now,
            }
        return document(self._update(conn, row, changes))

    def log(
        self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False
    ) -> dict[str, Any]:
        doc = self.status(action_id, caller)
        entries = [
            {
                "time": doc["start_time"],
                "code": "ActionStarted",
                "description": "The action started",
                "details": {"request": "hello"},
            }
        ]
        if doc["status"] == "INACTIVE":
            entries.append(
                {
                    "time": doc["start_time"],
                    "code": "ActionInactive",
                    "description": "Consent required",
                    "details": {},
                }
            )
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

    def next_change_at(self, action_id: str) -> dt.datetime | None:
        try:
            key = uuid.UUID(str(action_id))
        except ValueError:
            return None
        with self._due_lock:
            remembered = self._due.get(key)
        if remembered is not None:  # started by this process and not ended here: no read (a Map of actions)
            return remembered
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(provider_actions.c.status, provider_actions.c.due_at).where(
                    provider_actions.c.id == key, provider_actions.c.provider == self.name
                )
            ).one_or_none()
        if row is None or row.status != "ACTIVE":
            return None
        return row.due_at

    # -- helpers -------------------------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, action_id: str, caller: Caller, *, manage: bool) -> dict[str, Any]:
        return load_action(conn, self.name, action_id, caller, manage=manage)

    def _advance(self, conn: sa.Connection, row: Any, now: dt.datetime) -> dict[str, Any]:
        """Bring an ACTIVE action whose sleep is over to SUCCEEDED (persisted)."""
        row = dict(row)
        due = row.get("due_at")
        if row["status"] == "ACTIVE" and due is not None and now >= due:
            state = row.get("state") or {}
            changes = {
                "status": "SUCCEEDED",
                "display_status": "SUCCEEDED",
                "details": _output(state.get("echo_string", DEFAULT_ECHO_STRING)),
                "completion_time": max(due, row["start_time"]),
                "due_at": None,
            }
            return self._update(conn, row, changes)
        return row

    def _update(self, conn: sa.Connection, row: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        update_action(conn, row["id"], changes)
        if "due_at" in changes:
            self._remember(row["id"], changes["due_at"])
        return {**row, **changes}

    def _remember(self, action_id: uuid.UUID, due: dt.datetime | None) -> None:
        with self._due_lock:
            if due is None:
                self._due.pop(action_id, None)
                return
            self._due[action_id] = due
            while len(self._due) > MAX_REMEMBERED:
                del self._due[next(iter(self._due))]


def _output(echo: Any) -> dict[str, Any]:
    return {"Hello": "World", "hello": echo}


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _consent_details(scope: str) -> dict[str, Any]:
    return {
        "code": "ConsentRequired",
        "description": f"Consent is required for the scope {scope}",
        "required_scope": scope,
        "authorization_parameters": {
            "session_message": "The Hello World action needs your consent to continue",
            "required_scopes": [scope],
        },
    }


def _check_request(request: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Validate an action request (spec §11 "Action Request") and the hello_world body."""
    request_id, body, extras = check_request(request)
    echo = body.get("echo_string", DEFAULT_ECHO_STRING)
    if not isinstance(echo, str):
        raise BadActionRequest("echo_string must be a string")
    sleep = body.get("sleep_time", 0)
    if sleep is None:
        sleep = 0
    if isinstance(sleep, bool) or not isinstance(sleep, int | float) or not math.isfinite(sleep):
        raise BadActionRequest("sleep_time must be a number of seconds")
    if not 0 <= sleep <= MAX_SLEEP_SECONDS:
        raise BadActionRequest(f"sleep_time must be between 0 and {MAX_SLEEP_SECONDS} seconds")
    scope = body.get("required_dependent_scope")
    if scope is not None and not isinstance(scope, str):
        raise BadActionRequest("required_dependent_scope must be a string")
    return request_id, body, extras
