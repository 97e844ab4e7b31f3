"""Named store operations on web inputs: open (in the transaction of the step that created them), read, list
(role filters + keyset), answer, close.

A web input's role lists live as JSON on its row and as `web_input_roles` rows (`viewer`, `respondent`) for
indexed role filters, written together here. Answering locks the row (`FOR UPDATE` on PostgreSQL; SQLite
has one writer at a time), so two answers cannot both win, and makes the run's pending `web_input` work
item due at once, so the run that waits goes on without polling.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..language.model import isoformat
from ..language.webinputs import response_document
from . import kinds
from .keyset import SortKey, after, columns, order_by, row_values
from .schema import flows, runs, web_input_roles, web_inputs, weboption_urls, work_items
from .work import notify_work

VIEWER = "viewer"
RESPONDENT = "respondent"
ROLES = (VIEWER, RESPONDENT)
STATES = ("open", "closed")
#: why a web input closed
ANSWERED = "answered"
TIMED_OUT = "timeout"
RUN_ENDED = "run_ended"

SORT_FIELDS: dict[str, SortKey] = {
    "id": SortKey("id", web_inputs.c.id, "uuid"),
    "created_timestamp": SortKey("created_timestamp", web_inputs.c.created_at, "datetime"),
    "edited_timestamp": SortKey("edited_timestamp", web_inputs.c.edited_at, "datetime"),
    "closed_timestamp": SortKey("closed_timestamp", web_inputs.c.closed_at, "datetime", nullable=True),
}


class WebInputClosed(Exception):
    """The web input is closed: it takes no more answers."""


class NotAnOption(Exception):
    """The answer is not the `option_id` of one of the web input's options."""


def _select() -> sa.Select[Any]:
    """Web input rows with the current title of their flow and label of their run (outer joins)."""
    return sa.select(
        web_inputs,
        flows.c.title.label("flow_title_now"),
        runs.c.label.label("run_label_now"),
    ).select_from(
        web_inputs.outerjoin(flows, flows.c.id == web_inputs.c.flow_id).outerjoin(
            runs, runs.c.id == web_inputs.c.run_id
        )
    )


def open_web_input(
    conn: sa.Connection,
    document: Mapping[str, Any],
    *,
    run_id: uuid.UUID | None,
    flow_id: uuid.UUID | None,
    source: str,
    state_name: str | None,
    now: dt.datetime,
) -> bool:
    """Store a new web input (a `language.webinputs.build_document` document) and its role rows; False if
    one with its id exists already (a step is replayed only when it did not commit, so this is a guard)."""
    key = uuid.UUID(document["id"])
    if conn.execute(sa.select(web_inputs.c.id).where(web_inputs.c.id == key)).first() is not None:
        return False
    roles = document.get("roles") or {}
    viewers = list(dict.fromkeys(roles.get("viewer_urns") or []))
    respondents = list(dict.fromkeys(roles.get("respondent_urns") or []))
    conn.execute(
        sa.insert(web_inputs).values(
            id=key,
            run_id=run_id,
            flow_id=flow_id,
            source=source,
            state_name=state_name,
            status="open",
            input_type=document.get("input_type", "selection"),
            title=str((document.get("context") or {}).get("title") or "")[:256],
            document=dict(document),
            viewer_urns=viewers,
            respondent_urns=respondents,
            creator_urn=document.get("creator_urn") or "",
            created_at=now,
            edited_at=now,
        )
    )
    rows = [{"web_input_id": key, "role": VIEWER, "principal": p} for p in viewers]
    rows += [{"web_input_id": key, "role": RESPONDENT, "principal": p} for p in respondents]
    if rows:
        conn.execute(sa.insert(web_input_roles), rows)
    return True


def get_web_input(
    conn: sa.Connection, web_input_id: uuid.UUID, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The web input row (with `flow_title_now`, `run_label_now`), or None. `for_update` locks the row."""
    if for_update:
        stmt = sa.select(web_inputs).where(web_inputs.c.id == web_input_id).with_for_update()
        row = conn.execute(stmt).first()
        return dict(row._mapping) if row is not None else None
    row = conn.execute(_select().where(web_inputs.c.id == web_input_id)).first()
    return dict(row._mapping) if row is not None else None


def held_roles(row: Mapping[str, Any], urns: Iterable[str]) -> list[str]:
    """The roles `urns` (an identity and its groups) hold on the web input, viewer first."""
    held = set(urns)
    return [
        role
        for role, column in ((VIEWER, "viewer_urns"), (RESPONDENT, "respondent_urns"))
        if held & set(row[column] or ())
    ]


def list_web_inputs(
    conn: sa.Connection,
    *,
    urns: Sequence[str],
    filter_roles: Sequence[str] = (),
    states: Sequence[str] = ("open",),
    flow_ids: Sequence[uuid.UUID] = (),
    run_ids: Sequence[uuid.UUID] = (),
    order: Sequence[SortKey],
    after_key: Sequence[Any] | None = None,
    limit: int,
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """One page of the web inputs on which `urns` hold one of `filter_roles` (any role when empty), in
    `states`, of the given flows and runs. Returns (rows, key of the last row when there are more)."""
    visible = sa.exists().where(
        web_input_roles.c.web_input_id == web_inputs.c.id,
        web_input_roles.c.principal.in_(list(urns)),
        web_input_roles.c.role.in_(list(filter_roles) or list(ROLES)),
    )
    conditions: list[Any] = [visible]
    if states:
        conditions.append(web_inputs.c.status.in_(list(states)))
    if flow_ids:
        conditions.append(web_inputs.c.flow_id.in_(list(flow_ids)))
    if run_ids:
        conditions.append(web_inputs.c.run_id.in_(list(run_ids)))
    if after_key is not None:
        conditions.append(after(order, after_key))
    stmt = (
        _select().add_columns(*columns(order)).where(*conditions).order_by(*order_by(order)).limit(limit + 1)
    )
    rows = [dict(row._mapping) for row in conn.execute(stmt)]
    more = len(rows) > limit
    page = rows[:limit]
    return page, (row_values(order, page[-1]) if more and page else None)


def respond(
    conn: sa.Connection,
    *,
    web_input_id: uuid.UUID,
    value: Any,
    respondent_urn: str | None,
    now: dt.datetime,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer an open web input with an option id: close it with the response (`language.webinputs`
    response shape, plus weboption `parameters`), and make the pending `web_input` item of its run due now.
    Raises LookupError (no such web input), WebInputClosed, NotAnOption. Returns the updated row."""
    row = get_web_input(conn, web_input_id, for_update=True)
    if row is None:
        raise LookupError(str(web_input_id))
    if row["status"] != "open":
        raise WebInputClosed(str(web_input_id))
    options = (row["document"] or {}).get("options") or []
    chosen = next((o for o in options if isinstance(value, str) and o.get("option_id") == value), None)
    if chosen is None:
        raise NotAnOption(value)
    response = response_document(
        web_input=str(web_input_id), option=chosen, respondent_urn=respondent_urn, time=isoformat(now)
    )
    if parameters is not None:
        response["parameters"] = dict(parameters)
    _close(conn, web_input_id, now=now, reason=ANSWERED, response=response)
    if row["run_id"] is not None:
        wake_waiting_run(conn, row["run_id"], now=now)
    row.update(status="closed", closed_at=now, edited_at=now, close_reason=ANSWERED, response=response)
    return row


def wake_waiting_run(conn: sa.Connection, run_id: uuid.UUID, *, now: dt.datetime) -> int:
    """Make the run's pending (unleased) `web_input` item (or action poll: a weboption action waits on
    one) due now and announce it; returns how many."""
    result = conn.execute(
        sa.update(work_items)
        .where(
            work_items.c.run_id == run_id,
            work_items.c.kind.in_((kinds.WEB_INPUT, kinds.ACTION_POLL)),
            work_items.c.lease_owner.is_(None),
            work_items.c.due_at > now,
        )
        .values(due_at=now)
    )
    if result.rowcount:
        notify_work(conn)
    return int(result.rowcount)


def _close(
    conn: sa.Connection,
    web_input_id: uuid.UUID,
    *,
    now: dt.datetime,
    reason: str,
    response: Any = None,
) -> None:
    conn.execute(
        sa.update(web_inputs)
        .where(web_inputs.c.id == web_input_id)
        .values(status="closed", closed_at=now, edited_at=now, close_reason=reason, response=response)
    )


def close_web_input(conn: sa.Connection, web_input_id: uuid.UUID, *, now: dt.datetime, reason: str) -> bool:
    """Close an open web input without an answer (timed out); False if it was not open."""
    result = conn.execute(
        sa.update(web_inputs)
        .where(web_inputs.c.id == web_input_id, web_inputs.c.status == "open")
        .values(status="closed", closed_at=now, edited_at=now, close_reason=reason)
    )
    return result.rowcount == 1


#: built once: every run's end (every iteration of a Map included) runs it
_CLOSE_RUN_WEB_INPUTS = (
    sa.update(web_inputs)
    .where(web_inputs.c.run_id == sa.bindparam("b_run"), web_inputs.c.status == "open")
    .values(
        status="closed",
        closed_at=sa.bindparam("b_now"),
        edited_at=sa.bindparam("b_now"),
        close_reason=RUN_ENDED,
    )
)


def close_run_web_inputs(conn: sa.Connection, run_id: uuid.UUID, *, now: dt.datetime) -> int:
    """Close every open web input of a run that has ended (or was canceled); returns how many."""
    return int(conn.execute(_CLOSE_RUN_WEB_INPUTS, {"b_run": run_id, "b_now": now}).rowcount)


def reopen_run_web_inputs(
    conn: sa.Connection, run_id: uuid.UUID, *, closed_at: dt.datetime, now: dt.datetime
) -> int:
    """Open again the web inputs that the failure of a run closed, at `closed_at` (its completion time): those
    its end closed and the one whose wait timed out, failing it. The run is redriven (engine/redrive.py), so
    its people get another chance to answer. Returns how many; those answered, or closed at another time,
    stay closed."""
    result = conn.execute(
        sa.update(web_inputs)
        .where(
            web_inputs.c.run_id == run_id,
            web_inputs.c.status == "closed",
            web_inputs.c.close_reason.in_((RUN_ENDED, TIMED_OUT)),
            web_inputs.c.closed_at == closed_at,
        )
        .values(status="open", closed_at=None, edited_at=now, close_reason=None)
    )
    return int(result.rowcount)


def add_weboption_urls(
    conn: sa.Connection, web_input_id: uuid.UUID, urls: Sequence[tuple[str, int | None]]
) -> None:
    """Register the URL suffixes of a weboption web input (`(suffix, option index or None)`)."""
    if urls:
        conn.execute(
            sa.insert(weboption_urls),
            [{"suffix": s, "web_input_id": web_input_id, "option_index": i} for s, i in urls],
        )


def taken_suffixes(conn: sa.Connection, suffixes: Sequence[str]) -> list[str]:
    """The suffixes among `suffixes` an open web input already uses."""
    if not suffixes:
        return []
    stmt = (
        sa.select(weboption_urls.c.suffix)
        .join(web_inputs, web_inputs.c.id == weboption_urls.c.web_input_id)
        .where(weboption_urls.c.suffix.in_(list(suffixes)), web_inputs.c.status == "open")
    )
    return list(conn.execute(stmt).scalars())


def release_suffixes(conn: sa.Connection, suffixes: Sequence[str]) -> None:
    """Forget suffixes whose web inputs are closed, so that a new action may use them."""
    if suffixes:
        closed = sa.select(web_inputs.c.id).where(web_inputs.c.status != "open")
        conn.execute(
            sa.delete(weboption_urls).where(
                weboption_urls.c.suffix.in_(list(suffixes)), weboption_urls.c.web_input_id.in_(closed)
            )
        )


def find_by_suffix(conn: sa.Connection, suffix: str) -> tuple[dict[str, Any], int | None] | None:
    """(the web input row, the option index or None for the landing page) of a weboption URL suffix."""
    row = conn.execute(
        sa.select(weboption_urls.c.web_input_id, weboption_urls.c.option_index).where(
            weboption_urls.c.suffix == suffix
        )
    ).first()
    if row is None:
        return None
    found = get_web_input(conn, row.web_input_id)
    return (found, row.option_index) if found is not None else None
