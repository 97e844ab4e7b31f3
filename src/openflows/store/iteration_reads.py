"""Reading a run's iterations (issue 19): the child runs of its Map and Parallel states, summarised per state
and paged per item, for the API, the CLI and the dashboard. Read-only; store/children.py writes them.

A state's iterations are those of its latest visit and attempt (`parent_visit` `<visit>/<attempt>`, compared
as numbers): while the state runs, the ones it is running; once the run has moved on, the ones it ran last.
Only the run's own children are read (a Map nested inside an iteration has the iteration as its parent);
`iteration_id` gives an iteration's own id, so that the API can read the iterations nested in it (`within`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .children import IterationsKey
from .schema import runs

#: the statuses an iteration can have (QUEUED: waiting for its turn under MaxConcurrency)
ITERATION_STATUSES = ("QUEUED", "ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED")


@dataclass(frozen=True, slots=True)
class StateIterations:
    """The iterations of the latest visit of one Map or Parallel state, counted by status."""

    state: str
    visit: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _visit_order(visit: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in visit.split("/"))
    except ValueError:
        return (-1,)


def summarise_iterations(conn: sa.Connection, *, run_id: uuid.UUID) -> list[StateIterations]:
    """One summary per state of the run that started iterations, in the order their latest visits began
    (visits are numbered per run)."""
    stmt = (
        sa.select(runs.c.parent_state, runs.c.parent_visit, runs.c.status, sa.func.count())
        .where(runs.c.parent_run_id == run_id)
        .group_by(runs.c.parent_state, runs.c.parent_visit, runs.c.status)
    )
    visits: dict[str, dict[str, dict[str, int]]] = {}
    for state, visit, status, count in conn.execute(stmt):
        visits.setdefault(state, {}).setdefault(visit, {})[status] = int(count)
    out = []
    for state, by_visit in visits.items():
        latest = max(by_visit, key=_visit_order)
        out.append(StateIterations(state=state, visit=latest, counts=by_visit[latest]))
    return sorted(out, key=lambda s: (_visit_order(s.visit), s.state))


def latest_iterations(conn: sa.Connection, *, run_id: uuid.UUID, state: str) -> StateIterations | None:
    """The summary of `state`'s latest visit, or None when that state started no iterations."""
    stmt = (
        sa.select(runs.c.parent_visit, runs.c.status, sa.func.count())
        .where(runs.c.parent_run_id == run_id, runs.c.parent_state == state)
        .group_by(runs.c.parent_visit, runs.c.status)
    )
    by_visit: dict[str, dict[str, int]] = {}
    for visit, status, count in conn.execute(stmt):
        by_visit.setdefault(visit, {})[status] = int(count)
    if not by_visit:
        return None
    latest = max(by_visit, key=_visit_order)
    return StateIterations(state=state, visit=latest, counts=by_visit[latest])


_ITEM_COLUMNS = (
    runs.c.id,
    runs.c.iteration,
    runs.c.status,
    runs.c.start_time,
    runs.c.completion_time,
    runs.c.details,
)


def list_iterations(
    conn: sa.Connection,
    *,
    key: IterationsKey,
    statuses: list[str],
    after_index: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of iterations of `key` in index order (only `statuses` when given) after `after_index`.
    Returns (rows, the index to continue after if there are more, else None)."""
    stmt = sa.select(*_ITEM_COLUMNS).where(*key.where())
    if statuses:
        stmt = stmt.where(runs.c.status.in_(statuses))
    if after_index is not None:
        stmt = stmt.where(runs.c.iteration > after_index)
    stmt = stmt.order_by(runs.c.iteration).limit(limit + 1)
    rows = [dict(row._mapping) for row in conn.execute(stmt)]
    more = len(rows) > limit
    page = rows[:limit]
    return page, (page[-1]["iteration"] if more and page else None)


def get_iteration(conn: sa.Connection, *, key: IterationsKey, index: int) -> dict[str, Any] | None:
    """One iteration of `key` with its input, current state and details, or None."""
    stmt = sa.select(*_ITEM_COLUMNS, runs.c.input, runs.c.run_state, runs.c.cursor).where(
        *key.where(), runs.c.iteration == index
    )
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def iteration_id(conn: sa.Connection, *, key: IterationsKey, index: int) -> uuid.UUID | None:
    """The id of iteration `index` of `key` (the child run a `within` path steps into), or None."""
    stmt = sa.select(runs.c.id).where(*key.where(), runs.c.iteration == index)
    return conn.execute(stmt).scalar_one_or_none()
