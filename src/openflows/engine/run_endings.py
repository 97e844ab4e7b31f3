"""How `Executor` ends runs (a part of it, as `RunEndings`): failing a run whose step cannot go on, ending
one (cancel, timeout) with its work items and side calls, and ending runs older than `run_max_duration_days`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from ..language.model import (
    Cursor,
    LogEntry,
    isoformat,
)
from ..language.storable import escape
from ..store import errors as store_errors
from ..store import kinds
from ..store import work as store
from .fanout import notify_parent
from .run_details import failed_details
from .steps import (
    MAIN_KINDS,
    commit_side_effects,
    log_row,
    status_notice,
    sync_parent,
)

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")

_LOG_FLOW_TIMEOUT = "FlowTimeout"


class RunEndings:
    """Failing and ending runs, for `Executor`."""

    def _fail_run(
        self, item: store.WorkItem, error: str, cause: str, *, run: store.RunForStep | None = None
    ) -> None:
        """End the item's run FAILED (engine-side failure) and drop its pending steps."""
        if run is None:
            with self.db.read() as conn:
                run = store.load_run_for_step(conn, item.run_id)
            if run is None or run.is_terminal:
                self._complete(item)
                return
        now = self.clock.now()
        state = Cursor.from_dict(run.cursor).state
        cause = escape(cause)  # an exception's text may quote a character that cannot be stored
        entry = LogEntry(
            isoformat(now),
            "FlowFailed",
            f"The Flow Instance failed with error {error}",
            {"error": error, "cause": cause, "state_name": state},
        )
        self._end_run(
            run,
            status="FAILED",
            details=failed_details(error, cause, state),
            entry=entry,
            item=item,
        )

    def _end_run(
        self,
        run: store.RunForStep,
        *,
        status: str,
        details: dict[str, Any],
        entry: LogEntry,
        item: store.WorkItem | None,
    ) -> bool:
        now = self.clock.now()
        cursor = Cursor.from_dict(run.cursor)
        side: list[store.NewWorkItem] = []
        if self._holds_delegation(run):
            side.append(self._revoke_item(run, now))
        if cursor.action is not None:
            side.append(
                store.NewWorkItem(
                    run_id=run.id,
                    kind=kinds.ACTION_CANCEL,
                    due_at=now,
                    payload={
                        "action_url": cursor.action.action_url,
                        "action_id": cursor.action.action_id,
                        "request_id": cursor.action.request_id,
                        "run_as": cursor.action.run_as,
                    },
                )
            )
        notice = status_notice(run, status, details, now=now)

        def end(conn: Any) -> None:
            store.commit_transition(
                conn,
                run=run,
                now=now,
                consumed_item_id=item.id if item is not None else None,
                lease_owner=self.owner,
                status=status,
                details=details,
                completion_time=now,
                log_entries=[log_row(entry)],
                next_items=side,
                delete_pending=MAIN_KINDS,
            )
            commit_side_effects(conn, run, now=now, notice=notice, ended=True)
            sync_parent(conn, run, status, now=now)
            notify_parent(conn, run, now=now)

        try:
            self.db.transact(end)
        except store_errors.ConcurrentUpdate:
            return False
        if run.parent_run_id is None:  # an iteration is not a run people count
            self.metrics.runs_finished.inc(status=status)
        if side or notice is not None:
            self._notify()
        return True

    def end_overdue_runs(self) -> int:
        """End (status ENDED, code FlowTimeout) unfinished runs older than `run_max_duration_days`."""
        now = self.clock.now()
        limit_days = self.settings.run_max_duration_days
        with self.db.read() as conn:
            run_ids = store.list_overdue_runs(conn, started_before=now - dt.timedelta(days=limit_days))
        ended = 0
        for run_id in run_ids:
            with self.db.read() as conn:
                run = store.load_run_for_step(conn, run_id)
            if run is None or run.is_terminal:
                continue
            description = f"The Flow run exceeded the maximum run duration of {limit_days} days"
            details = {"code": "FlowTimeout", "description": description}
            entry = LogEntry(
                isoformat(now), _LOG_FLOW_TIMEOUT, description, {"max_duration_days": limit_days}
            )
            if self._end_run(run, status="ENDED", details=details, entry=entry, item=None):
                ended += 1
                log.info(
                    "run %s ended: too old",
                    run_id,
                    extra={"action": "end_overdue_run", "run_id": str(run_id)},
                )
        return ended
