"""Store operations for runs' delegated tokens (`run_delegations`, sealed by the caller), flow timers' grants
(`timer_delegations`) and the cache of
external action providers' scopes (`provider_scopes`). The rules are in `engine.delegation` and
`engine.provider_scopes`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .identities import insert_statement
from .schema import provider_scopes, run_delegations, runs, timer_delegations
from .work import TERMINAL_STATUSES

_INSERT = sa.insert(run_delegations)
_DELETE = sa.delete(run_delegations).where(
    run_delegations.c.grant_id.in_(sa.bindparam("b_ids", expanding=True))
)
_LIST = sa.select(run_delegations).where(run_delegations.c.run_id == sa.bindparam("b_run"))
_ANY = sa.select(run_delegations.c.run_id).where(run_delegations.c.run_id == sa.bindparam("b_run")).limit(1)


def insert_grants(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert grant rows (their refresh tokens already sealed)."""
    if rows:
        conn.execute(_INSERT, list(rows))


def list_grants(conn: sa.Connection, run_id: uuid.UUID) -> list[sa.Row[Any]]:
    """The run's grants, one per resource server."""
    return list(conn.execute(_LIST, {"b_run": run_id}))


def has_grants(conn: sa.Connection, run_id: uuid.UUID) -> bool:
    return conn.execute(_ANY, {"b_run": run_id}).first() is not None


def delete_grants(conn: sa.Connection, grant_ids: Iterable[uuid.UUID]) -> int:
    wanted = list(dict.fromkeys(grant_ids))
    if not wanted:
        return 0
    done = conn.execute(_DELETE, {"b_ids": wanted})
    return int(done.rowcount or 0)


def ended_run_ids(conn: sa.Connection, *, ended_before: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Runs holding grants that ended before `ended_before` or no longer exist (released, purged)."""
    query = (
        sa.select(run_delegations.c.run_id)
        .select_from(run_delegations.outerjoin(runs, runs.c.id == run_delegations.c.run_id))
        .where(
            sa.or_(
                runs.c.id.is_(None),
                sa.and_(runs.c.status.in_(TERMINAL_STATUSES), runs.c.completion_time < ended_before),
            )
        )
        .distinct()
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def list_sealed(conn: sa.Connection, *, after: uuid.UUID | None, limit: int) -> list[sa.Row[Any]]:
    """A page of every grant (grant id order), for sealing them again under a new key."""
    query = sa.select(run_delegations).order_by(run_delegations.c.grant_id).limit(limit)
    if after is not None:
        query = query.where(run_delegations.c.grant_id > after)
    return list(conn.execute(query))


def reseal(conn: sa.Connection, grant_id: uuid.UUID, sealed: str) -> None:
    conn.execute(
        sa.update(run_delegations).where(run_delegations.c.grant_id == grant_id).values(refresh_token=sealed)
    )


# --- timers' grants ---------------------------------------------------------------------------------------


def put_timer_grant(conn: sa.Connection, row: dict[str, Any]) -> sa.Row[Any] | None:
    """Store a timer's grant (its refresh token sealed), replacing the one it had; the replaced row."""
    old = get_timer_grant(conn, row["timer_id"])
    if old is not None:
        conn.execute(sa.delete(timer_delegations).where(timer_delegations.c.timer_id == row["timer_id"]))
    conn.execute(sa.insert(timer_delegations), [row])
    return old


def get_timer_grant(conn: sa.Connection, timer_id: uuid.UUID) -> sa.Row[Any] | None:
    return conn.execute(sa.select(timer_delegations).where(timer_delegations.c.timer_id == timer_id)).first()


def delete_timer_grant(conn: sa.Connection, timer_id: uuid.UUID) -> sa.Row[Any] | None:
    """Forget a timer's grant; the row it was."""
    old = get_timer_grant(conn, timer_id)
    if old is not None:
        conn.execute(sa.delete(timer_delegations).where(timer_delegations.c.timer_id == timer_id))
    return old


def list_sealed_timer_grants(
    conn: sa.Connection, *, after: uuid.UUID | None, limit: int
) -> list[sa.Row[Any]]:
    """A page of every timer grant (grant id order), for sealing them again under a new key."""
    query = sa.select(timer_delegations).order_by(timer_delegations.c.grant_id).limit(limit)
    if after is not None:
        query = query.where(timer_delegations.c.grant_id > after)
    return list(conn.execute(query))


def reseal_timer_grant(conn: sa.Connection, grant_id: uuid.UUID, sealed: str) -> None:
    conn.execute(
        sa.update(timer_delegations)
        .where(timer_delegations.c.grant_id == grant_id)
        .values(refresh_token=sealed)
    )


# --- provider scopes ----------------------------------------------------------------------------------------


def get_provider_scopes(conn: sa.Connection, action_urls: Iterable[str]) -> dict[str, sa.Row[Any]]:
    """The cached rows of these (normalised) action URLs."""
    wanted = list(dict.fromkeys(action_urls))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(provider_scopes).where(provider_scopes.c.action_url.in_(wanted)))
    return {row.action_url: row for row in rows}


def put_provider_scope(
    conn: sa.Connection, action_url: str, *, scope: str | None, error: str | None, now: dt.datetime
) -> None:
    """Remember what a provider's introspection document said (or why it could not be read)."""
    values = {"scope": scope, "error": error, "fetched_at": now}
    conn.execute(
        insert_statement(conn, provider_scopes)
        .values(action_url=action_url, **values)
        .on_conflict_do_update(index_elements=["action_url"], set_=values)
    )
