"""Timers: what creating, pausing, resuming and firing one does (docs/timers.md). The API calls the operations
below inside its transactions; the executor fires due timers through `TimerItems` (engine/timer_items.py),
which uses `fire_timer`.

**Starting a flow timer's run** goes through one function, `start_timer_run`: the run starts exactly as
`run_flow` would start it for the timer's owner (the flow must be live, the owner must hold a role that lets
them start it, the body must match the input schema; label, tags, run managers and monitors from the timer's
body), with a run id derived from the timer and the occurrence, through `engine.run_start.start_run`, the
path `run_flow` takes. The owner acts through the timer's grant (`engine.delegation`): before the firing's
transaction, `prepare_run` turns it into the owner's token for the flow's scope (their consent, given through
the Timers scope's dependency), and the run obtains its delegated tokens with that token as a run started
by the owner would.

A timer whose occurrence cannot start (flow deleted, role removed, input no longer valid, collection gone)
becomes inactive with an `inactive_reason` (cause "error"); one whose owner's consent is gone (revoked, or
no longer covering what the flow needs) with cause "globus_auth_requirements" and a GARE as its detail, as
hosted (`globus timer resume` leads the owner through consent, then resumes with `update_credentials`). It
does not retry forever. Resuming it tries again at its next occurrence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from ..auth import catalog
from ..auth.delegation import TIMER_CONSENT_MESSAGE, ConsentRequired
from ..auth.principal import Principal
from ..language.redact import is_private_location
from ..language.schema_check import compile_input_validator
from ..providers.base import Caller, ProviderError
from ..providers.stored import insert_action
from ..shared import roles
from ..shared.urns import IDENTITY_URN_PREFIX, group_urn
from ..store import errors as store_errors
from ..store import flows as store_flows
from ..store import identities as store_identities
from ..store import timers as store
from ..store.timers import Timer
from .delegation import Delegations
from .run_start import Acting, RunRequest, start_run
from .schedules import Schedule, first_occurrence, from_document, plan_firing, resume_occurrence

FLOW = "flow"
TRANSFER = "transfer"
#: the built-in provider a transfer timer runs
TRANSFER_PROVIDER = "transfer"
#: lifetime reported in a timer-started run's `$._context.token_info` (no token was presented)
RUN_TOKEN_LIFETIME = dt.timedelta(days=365)
#: inactive_reason causes: paused by its owner; an occurrence could not start; the owner's consent is gone
CAUSE_USER = "user"
CAUSE_ERROR = "error"
CAUSE_AUTH = "globus_auth_requirements"


class TimerCannotStart(Exception):
    """An occurrence of a timer cannot start anything: `code` for programs, `message` for people, and for an
    input that fails the schema, the `problems` ({loc, type, msg}) as `run_flow` reports them; for missing
    consent, the `consent` that would fix it."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        problems: list[dict[str, Any]] | None = None,
        consent: ConsentRequired | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems or []
        self.consent = consent

    @classmethod
    def consent_required(cls, missing: ConsentRequired) -> TimerCannotStart:
        return cls("ConsentRequired", missing.message, consent=missing)

    def document(self) -> dict[str, Any]:
        """The `error` of a result (and the `detail` of an inactive_reason, but for missing consent)."""
        doc: dict[str, Any] = {"code": self.code, "detail": self.message}
        if self.problems:
            doc["problems"] = self.problems
        if self.consent is not None:
            doc["authorization_parameters"] = self.consent.authorization_parameters()
        return doc

    def inactive_reason(self) -> dict[str, Any]:
        """The timer's `inactive_reason`: for missing consent a GARE (cause globus_auth_requirements, as
        hosted), else cause "error" with `document()`."""
        if self.consent is not None:
            return {"cause": CAUSE_AUTH, "detail": self.consent.gare()}
        return {"cause": CAUSE_ERROR, "detail": self.document()}


# --- what a flow timer's run is -----------------------------------------------------------------------------


def run_id_for(timer_id: uuid.UUID, occurrence: int) -> uuid.UUID:
    """The id of the run a flow timer starts for `occurrence`: the same for every attempt at that occurrence,
    so an attempt that was (impossibly) committed twice would collide instead of starting two runs."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"openflows:timer:{timer_id}:{occurrence}")


def request_id_for(timer_id: uuid.UUID, occurrence: int) -> str:
    """The action `request_id` of the transfer task a transfer timer starts for `occurrence`."""
    return f"timer/{timer_id}/{occurrence}"


def _owner_id(owner: str) -> uuid.UUID:
    try:
        return uuid.UUID(owner.removeprefix(IDENTITY_URN_PREFIX))
    except ValueError:
        raise TimerCannotStart("OWNER_NOT_FOUND", f"The timer's owner {owner} is not an identity") from None


def owner_principal(conn: sa.Connection, owner: str) -> Principal:
    """The timer owner as a caller: their identity and the groups they belong to now (no token scopes: the
    timer's grant stands for them at the providers)."""
    identity_id = _owner_id(owner)
    row = store_identities.get_identity(conn, identity_id)
    if row is None:
        raise TimerCannotStart("OWNER_NOT_FOUND", f"The timer's owner {owner} no longer exists")
    return Principal(
        identity_id=identity_id,
        username=row.username,
        email=row.email,
        name=row.name,
        group_urns=frozenset(group_urn(g) for g in store_identities.list_group_ids(conn, identity_id)),
    )


def check_flow_start(
    conn: sa.Connection, flow_id: uuid.UUID, principal: Principal, body: dict[str, Any]
) -> dict[str, Any]:
    """`run_flow`'s checks for `principal` starting the flow with `body` (the run input): the live flow, or
    `TimerCannotStart` (FLOW_NOT_FOUND, FORBIDDEN, FLOW_INPUT_ERROR) with run_flow's wording."""
    flow = store_flows.get_flow(conn, flow_id=flow_id)
    held = roles.effective_flow_roles(principal.urns, flow) if flow is not None else frozenset()
    if flow is None or not held:
        raise TimerCannotStart("FLOW_NOT_FOUND", f"No Flow exists with id value {flow_id}")
    if not roles.flow_allows(held, roles.Permission.RUN):
        raise TimerCannotStart(
            "FORBIDDEN",
            "You do not have the necessary permissions to perform this action on the flow with id value "
            f"{flow_id}. Missing permissions: {roles.Permission.RUN.value}.",
        )
    try:
        validator = compile_input_validator(flow["input_schema"], key=(str(flow["id"]), flow["version"]))
    except ValueError as exc:
        raise TimerCannotStart("FLOW_INPUT_ERROR", f"The flow's input schema cannot be used: {exc}") from None
    problems = validator.errors(body)
    if problems:
        count = len(problems)
        shown = [
            {
                "loc": list(p.loc),
                "type": p.type,
                "msg": "The value does not match the input schema (it is private, so it is not shown)."
                if any(isinstance(part, str) and is_private_location(part) for part in p.loc)
                else p.msg,
            }
            for p in problems
        ]
        raise TimerCannotStart(
            "FLOW_INPUT_ERROR",
            f"Input failed schema validation with {count} error{'' if count == 1 else 's'}.",
            problems=shown,
        )
    return flow


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedRun:
    """A flow timer's firing as prepared outside its transaction: who the run acts as (the owner, with a
    token from the timer's grant) for the delegation."""

    acting: Acting


def prepare_run(delegations: Delegations | None, timer: Timer) -> PreparedRun:
    """Turn the timer's grant into its owner's token for the flow's scope (`TimerCannotStart` when the
    consent is gone); without delegation, runs act as their owner by convention."""
    assert timer.flow_id is not None
    if delegations is None:
        return PreparedRun(Acting(None))
    identity_id = _owner_id(timer.owner)
    subject = delegations.timer_subject(timer.id, identity_id=identity_id, flow_id=timer.flow_id)
    if isinstance(subject, ConsentRequired):
        raise TimerCannotStart.consent_required(subject)
    return PreparedRun(Acting(delegations, subject, delegations.prepare(subject, timer.flow_id)))


def start_timer_run(
    conn: sa.Connection, timer: Timer, occurrence: int, now: dt.datetime, prepared: PreparedRun | None = None
) -> dict[str, Any]:
    """Start the run of a flow timer's `occurrence` as the timer's owner, in the caller's transaction, as
    `run_flow` would (see the module docstring); raises `TimerCannotStart` before writing anything.

    This is the one function through which a timer acts for its owner: the owner's principal (their
    groups now) for the roles, their token from the timer's grant (`prepared`) for the delegation."""
    assert timer.flow_id is not None
    request = timer.body
    principal = owner_principal(conn, timer.owner)
    body = request.get("body") or {}
    flow = check_flow_start(conn, timer.flow_id, principal, body)
    started = start_run(
        conn,
        run_id=run_id_for(timer.id, occurrence),
        flow=flow,
        principal=principal,
        request=RunRequest(
            body=body,
            label=request.get("label"),
            tags=request.get("tags") or [],
            run_managers=request.get("run_managers") or [],
            run_monitors=request.get("run_monitors") or [],
            activity_notification_policy=request.get("activity_notification_policy"),
        ),
        acting=prepared.acting if prepared is not None else Acting(None),
        token_info={
            "exp": int((now + RUN_TOKEN_LIFETIME).timestamp()),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
        },
        now=now,
    )
    if isinstance(started, ConsentRequired):  # the flow needs more than the owner consented to
        raise TimerCannotStart.consent_required(
            ConsentRequired(
                tuple(
                    text if text.startswith(f"{catalog.TIMERS_TIMER}[") else f"{catalog.TIMERS_TIMER}[{text}]"
                    for text in started.required_scopes
                ),
                TIMER_CONSENT_MESSAGE,
            )
        )
    return started


# --- what a transfer timer's task is ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedTransfer:
    """A transfer timer's body checked by the transfer provider (outside any transaction: it looks at the
    collections), ready to be inserted as an ACTIVE task when the occurrence fires."""

    provider: Any
    state: dict[str, Any]
    #: the owner as the provider sees them
    caller: Caller


def transfer_caller(principal: Principal) -> Caller:
    """Who a transfer timer's tasks act as: its owner with their groups (collection permissions are checked
    against them, as for the owner's own transfers)."""
    return Caller(identity=principal.identity_urn, groups=tuple(sorted(principal.group_urns)))


def prepare_transfer(provider: Any, owner: Principal, body: dict[str, Any]) -> PreparedTransfer:
    """Check a TransferData body with the built-in transfer provider, as the timer's owner (`TimerCannotStart`
    if it refuses)."""
    if provider is None:
        raise TimerCannotStart("TRANSFER_UNAVAILABLE", "This server has no built-in transfer provider")
    caller = transfer_caller(owner)
    try:
        state = provider.check_body(body, caller)
    except ProviderError as exc:
        raise TimerCannotStart(exc.code, exc.description) from None
    return PreparedTransfer(provider=provider, state=state, caller=caller)


def insert_transfer_task(
    conn: sa.Connection, timer: Timer, occurrence: int, prepared: PreparedTransfer, now: dt.datetime
) -> uuid.UUID:
    """Insert the occurrence's transfer task (an ACTIVE action of the transfer provider, owned by the timer's
    owner) in the caller's transaction; the provider's runner works on it once committed."""
    label = timer.body.get("label")
    extras = {"label": label} if isinstance(label, str) and 1 <= len(label) <= 64 else {}
    values = prepared.provider.new_action(
        request_id_for(timer.id, occurrence),
        timer.body,
        prepared.state,
        prepared.caller,
        extras=extras,
        now=now,
    )
    insert_action(conn, values)
    return uuid.UUID(str(values["id"]))


# --- firing -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FireOutcome:
    """What one firing committed (None fields: nothing of that kind)."""

    timer: Timer
    occurrence: int | None = None
    run_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = None
    error: TimerCannotStart | None = None
    missed: int = 0
    #: the occurrence was not due (the item was only moved to the timer's next run)
    rescheduled: bool = False


def fire_timer(
    conn: sa.Connection,
    *,
    seen: Timer,
    item_id: int,
    lease_owner: str,
    now: dt.datetime,
    prepared: PreparedTransfer | PreparedRun | None = None,
    unprepared: TimerCannotStart | None = None,
) -> FireOutcome:
    """Fire the timer's due occurrence in one write transaction: start its run (or insert its transfer task)
    and commit the timer's next occurrence, the result row and the item's new due time together, guarded by
    the item's lease and the timer's version (as read: `seen`). Raises `store_errors.ConcurrentUpdate` when
    either changed (the caller gives the item back and it is looked at again)."""
    timer = store.get_timer(conn, seen.id, for_update=True)
    if timer is None or timer.version != seen.version:
        raise store_errors.ConcurrentUpdate(f"timer {seen.id} changed")
    schedule = from_document(timer.schedule)
    plan = (
        plan_firing(schedule, next_occurrence=timer.next_occurrence, runs=timer.number_of_runs, now=now)
        if timer.active
        else None
    )
    if plan is None:  # not due (its schedule changed) or no longer active: the item follows the timer
        if timer.active and timer.next_run is not None:
            kept = store.reschedule_item(
                conn,
                item_id=item_id,
                lease_owner=lease_owner,
                due_at=timer.next_run,
                occurrence=timer.next_occurrence,
                now=now,
            )
        else:
            kept = store.finish_item(conn, item_id=item_id, lease_owner=lease_owner)
        if not kept:
            raise store_errors.ConcurrentUpdate(f"timer item {item_id} lost")
        return FireOutcome(timer=timer, rescheduled=True)
    run_id = action_id = None
    error = unprepared
    if error is None:
        try:
            if timer.timer_type == FLOW:
                assert prepared is None or isinstance(prepared, PreparedRun)
                run_id = start_timer_run(conn, timer, plan.occurrence, now, prepared)["id"]
            else:
                assert isinstance(prepared, PreparedTransfer)
                action_id = insert_transfer_task(conn, timer, plan.occurrence, prepared, now)
        except TimerCannotStart as exc:
            error = exc
    result = {
        "occurrence": plan.occurrence,
        "due_at": plan.due_at,
        "ran_at": now,
        "status": "error" if error is not None else "started",
        "run_id": run_id,
        "action_id": action_id,
        "error": error.document() if error is not None else None,
        "missed": plan.missed,
    }
    changes: dict[str, Any] = {"last_ran_at": now, "number_of_missed": timer.number_of_missed + plan.missed}
    if error is not None:
        changes.update(
            status="inactive",
            inactive_reason=error.inactive_reason(),
            number_of_errors=timer.number_of_errors + 1,
            next_occurrence=plan.occurrence + 1,
            next_run=None,
        )
    else:
        changes.update(
            status="loaded" if plan.next_occurrence is not None else "ended",
            number_of_runs=timer.number_of_runs + 1,
            next_occurrence=plan.next_occurrence if plan.next_occurrence is not None else plan.occurrence + 1,
            next_run=plan.next_run,
        )
    updated = store.commit_fire(
        conn, timer=timer, item_id=item_id, lease_owner=lease_owner, result=result, changes=changes, now=now
    )
    return FireOutcome(
        timer=updated,
        occurrence=plan.occurrence,
        run_id=run_id,
        action_id=action_id,
        error=error,
        missed=plan.missed,
    )


# --- the operations of the API ------------------------------------------------------------------------------


def create_timer(
    conn: sa.Connection,
    *,
    timer_id: uuid.UUID,
    owner: str,
    name: str,
    timer_type: str,
    flow_id: uuid.UUID | None,
    body: dict[str, Any],
    schedule: Schedule,
    now: dt.datetime,
) -> Timer:
    """Store a new timer and its work item (the checks of its body were made by the caller)."""
    occurrence = first_occurrence(schedule, now=now)
    values = {
        "id": timer_id,
        "owner": owner,
        "name": name,
        "timer_type": timer_type,
        "flow_id": flow_id,
        "body": body,
        "schedule": schedule.document(),
        "status": "new" if occurrence is not None else "ended",
        "next_occurrence": occurrence if occurrence is not None else 0,
        "next_run": schedule.due(occurrence) if occurrence is not None else None,
    }
    return store.insert_timer(conn, values, now=now)


def pause_timer(conn: sa.Connection, timer: Timer, *, now: dt.datetime) -> Timer:
    """Make an active timer inactive (cause "user") and drop its item; other timers are returned unchanged."""
    if not timer.active:
        return timer
    updated = store.update_timer(
        conn,
        timer,
        {"status": "inactive", "inactive_reason": {"cause": CAUSE_USER, "detail": None}, "next_run": None},
        now=now,
    )
    store.drop_item(conn, timer.id)
    return updated


def resume_timer(conn: sa.Connection, timer: Timer, *, now: dt.datetime) -> Timer:
    """Make an inactive timer fire again from its next occurrence (it ends when none is left); an active or
    ended timer is returned unchanged."""
    if timer.status != "inactive":
        return timer
    schedule = from_document(timer.schedule)
    occurrence = resume_occurrence(schedule, now=now, runs=timer.number_of_runs)
    if occurrence is not None:
        occurrence = max(occurrence, timer.next_occurrence)
    changes: dict[str, Any] = {"inactive_reason": None}
    if occurrence is None or not schedule.exists(occurrence):
        changes.update(status="ended", next_run=None)
    else:
        status = "loaded" if timer.number_of_runs or timer.number_of_errors else "new"
        changes.update(status=status, next_occurrence=occurrence, next_run=schedule.due(occurrence))
    updated = store.update_timer(conn, timer, changes, now=now)
    if updated.active and updated.next_run is not None:
        store.set_item(conn, timer.id, due_at=updated.next_run, occurrence=updated.next_occurrence, now=now)
    return updated
