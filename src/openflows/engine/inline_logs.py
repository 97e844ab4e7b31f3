"""The run log of an iteration that ran to its end in the step that created it (issue 19).

An iteration whose sub-machine needs no I/O runs in memory in its parent's step and is stored ended
(engine/fanout.py); it keeps no run-log rows, so that a 10,000-item pure Map writes 10,000 rows rather than
60,000. Its log is rebuilt when someone reads it: that first step is pure (`fanout.first_step`: the stored
input and `$._context`, the stored start time as the step's `now`, the same seeded random source, the
definition the run started with), so taking it again gives the very entries it logged. A redriven iteration
that began this way keeps rows from its redrive on; its log is those entries, then its rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from ..language.iterations import sub_definition
from ..language.model import Failed, Limits, LogEntry, Succeeded
from ..store import runs as store_runs
from .definitions import DefinitionCache, DefinitionUnavailable
from .fanout import first_step


def began_inline(conn: sa.Connection, run_id: uuid.UUID) -> bool:
    """Whether an iteration's stored log lacks its start (its first stored entry, if any, is not
    FlowStarted): it ran its first step in its parent's step."""
    first, _ = store_runs.get_run_logs(conn, run_id=run_id, after_seq=None, reverse=False, limit=1)
    return not first or first[0]["code"] != "FlowStarted"


def inline_log(conn: sa.Connection, run_id: uuid.UUID, *, limits: Limits) -> list[LogEntry]:
    """The entries the first step of iteration `run_id` logged, taken again; [] when it is not an iteration,
    its definition is gone, or that step does not end it (it did not run inline: a QUEUED or ENDED item that
    never ran, say)."""
    row = store_runs.get_run(conn, run_id=run_id)
    if row is None or row["parent_state"] is None or row["start_time"] is None:
        return []
    try:
        definition = DefinitionCache(limits=limits).get(conn, row["flow_id"], row["flow_version"])
        machine = sub_definition(definition, row["parent_state"], row["iteration"] or 0)
    except (DefinitionUnavailable, KeyError, IndexError):
        return []
    context: Any = row["context"] if isinstance(row["context"], dict) else {}
    decision = first_step(
        machine, row["input"], context, flow_id=row["flow_id"], now=row["start_time"], limits=limits
    )
    if not isinstance(decision.outcome, Succeeded | Failed):
        return []
    return list(decision.log)
