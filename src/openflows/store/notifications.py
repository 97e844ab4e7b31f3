"""The notifications outbox: which messages a status change or a new web input causes, their rows, and the
`notify` work items that deliver them.

A notification row is written in the same transaction as what causes it (the run's status change, the step
that opened a web input), so a crash can neither lose one nor make two: the row's `dedupe_key` names the
cause (`activity:<run id>:<run version>`, `web_input:<id>:<recipient>`) and is unique. Its `notify` work
item is delivered by the executor (engine/notices.py); what the message says is kept as data (`payload`)
and rendered when it is sent.

Activity notifications follow the run's `activity_notification_policy` (`{"status": [...]}` with
INACTIVE, SUCCEEDED, FAILED; absent = INACTIVE only): when a run enters a listed status, its owner (and no
one else) gets one message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from . import kinds
from .schema import flows, group_members, groups, identities, notifications
from .work import NewWorkItem, enqueue_work_item

#: the statuses a policy may list, and the default policy
POLICY_STATUSES = ("INACTIVE", "SUCCEEDED", "FAILED")
DEFAULT_POLICY = ("INACTIVE",)
ACTIVITY = "activity"
WEB_INPUT = "web_input"
#: most people one web input notifies (its respondents, groups expanded)
MAX_WEB_INPUT_RECIPIENTS = 200  # identities
#: the namespace of notification ids: uuid5(NAMESPACE, dedupe_key)
NAMESPACE = uuid.UUID("2f9a3a51-0c0e-5f55-8a43-5d0f3c1a7b64")
IDENTITY_PREFIX = "urn:globus:auth:identity:"
GROUP_PREFIX = "urn:globus:groups:id:"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NewNotification:
    """A notification to store (and deliver)."""

    dedupe_key: str
    kind: str
    run_id: uuid.UUID | None
    recipient_urn: str
    payload: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, self.dedupe_key)


def policy_statuses(policy: Any) -> frozenset[str]:
    """The statuses a run's `activity_notification_policy` asks to be told about."""
    if not isinstance(policy, Mapping) or policy.get("status") is None:
        return frozenset(DEFAULT_POLICY)
    return frozenset(s for s in policy.get("status") or () if s in POLICY_STATUSES)


def activity_notice(
    *,
    run_id: uuid.UUID,
    run_owner: str,
    policy: Any,
    old_status: str,
    new_status: str,
    new_version: int,
    details: Any,
    flow_id: uuid.UUID | str,
    flow_title: str,
    run_label: str | None,
    time: dt.datetime,
) -> NewNotification | None:
    """The notification a status change causes under `policy`, or None (no change, or not listed)."""
    if new_status == old_status or new_status not in policy_statuses(policy):
        return None
    info = details if isinstance(details, Mapping) else {}
    payload: dict[str, Any] = {
        "run_id": str(run_id),
        "status": new_status,
        "previous_status": old_status,
        "code": info.get("code"),
        "description": info.get("description"),
        "flow_id": str(flow_id),
        "flow_title": flow_title,
        "run_label": run_label,
        "time": time.isoformat(),
    }
    inner = info.get("details")
    if new_status == "FAILED" and isinstance(inner, Mapping):
        payload["error"] = inner.get("error")
        payload["cause"] = inner.get("cause")
        payload["state_name"] = inner.get("state_name")
    if new_status == "INACTIVE":
        payload["state_name"] = info.get("state_name")
        payload["required_scope"] = info.get("required_scope")
        payload["resolution_url"] = info.get("resolution_url")
    return NewNotification(
        dedupe_key=f"{ACTIVITY}:{run_id}:{new_version}",
        kind=ACTIVITY,
        run_id=run_id,
        recipient_urn=run_owner,
        payload=payload,
    )


def web_input_notices(
    conn: sa.Connection, document: Mapping[str, Any], *, run_id: uuid.UUID | None
) -> list[NewNotification]:
    """One notification per respondent of a new web input (group respondents: each member); identities
    this server does not know are skipped (there is nowhere to send their message)."""
    roles = document.get("roles") or {}
    recipients = resolve_identities(conn, roles.get("respondent_urns") or ())
    context = document.get("context") or {}
    payload = {
        "web_input_id": document["id"],
        "title": context.get("title"),
        "context": context,
        "options": [option.get("label") for option in document.get("options") or ()],
        "flow_id": (document.get("flow") or {}).get("id"),
        "flow_title": (document.get("flow") or {}).get("title"),
        "run_id": (document.get("run") or {}).get("id"),
        "run_label": (document.get("run") or {}).get("label"),
        "creator_urn": document.get("creator_urn"),
    }
    return [
        NewNotification(
            dedupe_key=f"{WEB_INPUT}:{document['id']}:{urn}",
            kind=WEB_INPUT,
            run_id=run_id,
            recipient_urn=urn,
            payload=payload,
        )
        for urn in recipients[:MAX_WEB_INPUT_RECIPIENTS]
    ]


def resolve_identities(conn: sa.Connection, urns: Iterable[str]) -> list[str]:
    """The identity URNs of `urns` this server knows, groups replaced by their members, de-duplicated."""
    identity_ids: list[uuid.UUID] = []
    group_ids: list[uuid.UUID] = []
    for urn in urns:
        for prefix, into in ((IDENTITY_PREFIX, identity_ids), (GROUP_PREFIX, group_ids)):
            if urn.startswith(prefix):
                with contextlib.suppress(ValueError):
                    into.append(uuid.UUID(urn.removeprefix(prefix)))
    found: list[uuid.UUID] = []
    if identity_ids:
        known = set(
            conn.execute(sa.select(identities.c.id).where(identities.c.id.in_(identity_ids))).scalars()
        )
        found += [i for i in identity_ids if i in known]
    if group_ids:
        members = conn.execute(
            sa.select(group_members.c.identity_id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(group_members.c.group_id.in_(group_ids))
            .order_by(group_members.c.identity_id)
        ).scalars()
        found += list(members)
    return [f"{IDENTITY_PREFIX}{i}" for i in dict.fromkeys(found)]


def enqueue_notifications(
    conn: sa.Connection, items: Sequence[NewNotification], *, now: dt.datetime
) -> list[uuid.UUID]:
    """Store `items` (those whose `dedupe_key` is new) and a `notify` work item for each; return their ids.
    Call it in the transaction of what causes them."""
    if not items:
        return []
    keys = [item.dedupe_key for item in items]
    existing = set(
        conn.execute(
            sa.select(notifications.c.dedupe_key).where(notifications.c.dedupe_key.in_(keys))
        ).scalars()
    )
    stored: list[uuid.UUID] = []
    for item in items:
        if item.dedupe_key in existing or item.run_id is None:
            continue
        existing.add(item.dedupe_key)
        conn.execute(
            sa.insert(notifications).values(
                id=item.id,
                dedupe_key=item.dedupe_key,
                kind=item.kind,
                run_id=item.run_id,
                recipient_urn=item.recipient_urn,
                payload=item.payload,
                status="pending",
                attempts=0,
                created_at=now,
            )
        )
        enqueue_work_item(
            conn,
            NewWorkItem(
                run_id=item.run_id, kind=kinds.NOTIFY, due_at=now, payload={"notification_id": str(item.id)}
            ),
            now=now,
        )
        stored.append(item.id)
    return stored


def get_notification(conn: sa.Connection, notification_id: uuid.UUID) -> dict[str, Any] | None:
    row = conn.execute(sa.select(notifications).where(notifications.c.id == notification_id)).first()
    return dict(row._mapping) if row is not None else None


def recipient_address(conn: sa.Connection, urn: str) -> tuple[str | None, str | None]:
    """(email address, display name) of an identity URN: its email, else its username when that is an
    address; (None, name) when it has neither; (None, None) for an unknown identity."""
    try:
        identity_id = uuid.UUID(urn.removeprefix(IDENTITY_PREFIX))
    except ValueError:
        return None, None
    row = conn.execute(
        sa.select(identities.c.username, identities.c.email, identities.c.name).where(
            identities.c.id == identity_id
        )
    ).first()
    if row is None:
        return None, None
    name = row.name or row.username
    if row.email:
        return row.email, name
    return (row.username if "@" in row.username else None), name


def with_flow_title(conn: sa.Connection, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with the flow's title in its payload when the payload has none (a run started before the title
    was kept in its context)."""
    payload = dict(row["payload"] or {})
    if payload.get("flow_title") or not payload.get("flow_id"):
        return row
    try:
        flow_id = uuid.UUID(str(payload["flow_id"]))
    except ValueError:
        return row
    title = conn.execute(sa.select(flows.c.title).where(flows.c.id == flow_id)).scalar_one_or_none()
    return {**row, "payload": {**payload, "flow_title": title}} if title else row


def mark_sent(conn: sa.Connection, notification_id: uuid.UUID, *, delivery: str, now: dt.datetime) -> None:
    conn.execute(
        sa.update(notifications)
        .where(notifications.c.id == notification_id)
        .values(
            status="sent",
            delivery=delivery[:256],
            sent_at=now,
            attempts=notifications.c.attempts + 1,
            last_error=None,
        )
    )


def mark_attempt(conn: sa.Connection, notification_id: uuid.UUID, *, error: str, final: bool = False) -> None:
    """Record a failed delivery (`final`: it is given up, status `failed`)."""
    values: dict[str, Any] = {"attempts": notifications.c.attempts + 1, "last_error": error[:1024]}
    if final:
        values["status"] = "failed"
    conn.execute(sa.update(notifications).where(notifications.c.id == notification_id).values(**values))


def list_notifications(
    conn: sa.Connection, *, run_id: uuid.UUID | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Notifications (of one run, of one kind), oldest first (for tests and diagnostics)."""
    stmt = sa.select(notifications).order_by(notifications.c.created_at, notifications.c.dedupe_key)
    if run_id is not None:
        stmt = stmt.where(notifications.c.run_id == run_id)
    if kind is not None:
        stmt = stmt.where(notifications.c.kind == kind)
    return [dict(row._mapping) for row in conn.execute(stmt)]
