"""The executor's handler of timer items (`kinds.TIMER_FIRE`): a timer's next occurrence is one work item, so
timers are fired by the same executor, claims, leases, wake-ups and reaper as runs (no second scheduler).

`TimerItems` is a part of `Executor` (engine/executor.py), kept in its own module for size. One item:
read the timer -> outside any transaction, for a flow timer turn its grant into the owner's token for the
flow's scope (`timers.prepare_run`: it may refresh), for a transfer timer check its body with the transfer
provider as the owner (it looks at the collections) -> one write transaction (`timers.fire_timer`) that
starts the run or inserts the transfer task and commits the timer's next occurrence, guarded by the item's
lease and the timer's version -> after the commit, hand the transfer task to the provider's runner and wake
the executor for the new run. A worker killed before the commit leaves nothing behind: the lease expires, the
reaper returns the item and another worker fires the same occurrence; after the commit, the occurrence is
done.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..store import errors as store_errors
from ..store import timers as store_timers
from ..store import work as store
from . import timers

if TYPE_CHECKING:
    from ..providers.base import ProviderRegistry
    from ..shared.clock import Clock
    from ..shared.metrics import Metrics
    from ..store.db import Database
    from .delegation import Delegations

# the executor's logger: these lines are the executor's
log = logging.getLogger("openflows.engine.executor")


class TimerItems:
    """The timer-item handler of `Executor` (see the module docstring)."""

    db: Database
    clock: Clock
    owner: str
    metrics: Metrics
    registry: ProviderRegistry
    delegations: Delegations | None

    # Also used, from Executor: _complete, _notify, _extra.

    def _do_timer_fire(self, item: store.WorkItem) -> None:
        assert item.timer_id is not None
        with self.db.read() as conn:
            timer = store_timers.get_timer(conn, item.timer_id)
            try:
                owner = timers.owner_principal(conn, timer.owner) if timer is not None else None
                unprepared = None
            except timers.TimerCannotStart as exc:
                owner, unprepared = None, exc
        if timer is None:  # deleted (its item normally goes with it)
            self._complete(item)  # type: ignore[attr-defined]
            return
        prepared: timers.PreparedTransfer | timers.PreparedRun | None = None
        if timer.active and unprepared is None:
            try:
                if timer.timer_type == timers.TRANSFER:
                    assert owner is not None
                    prepared = timers.prepare_transfer(
                        self.registry.get(timers.TRANSFER_PROVIDER), owner, timer.body
                    )
                else:
                    prepared = timers.prepare_run(self.delegations, timer)
            except timers.TimerCannotStart as exc:
                unprepared = exc
        try:
            outcome = self.db.transact(
                timers.fire_timer,
                seen=timer,
                item_id=item.id,
                lease_owner=self.owner,
                now=self.clock.now(),
                prepared=prepared,
                unprepared=unprepared,
            )
        except (store_errors.ConcurrentUpdate, store_errors.UniqueViolation) as exc:
            # the timer changed (paused, renamed, deleted) or the lease was lost: look again
            log.info("timer firing discarded: %s", exc, extra=self._timer_extra("discard_timer", item))
            self.db.transact(store.release_lease, item_id=item.id, owner=self.owner)
            self._notify()  # type: ignore[attr-defined]
            return
        if outcome.rescheduled:
            return
        self._after_fire(item, outcome)

    def _after_fire(self, item: store.WorkItem, outcome: timers.FireOutcome) -> None:
        timer = outcome.timer
        result = "error" if outcome.error is not None else "started"
        self.metrics.timer_firings.inc(type=timer.timer_type, outcome=result)
        if outcome.missed:
            self.metrics.timer_missed.inc(outcome.missed)
        level = logging.WARNING if outcome.error is not None else logging.INFO
        log.log(
            level,
            "timer %s fired occurrence %s: %s",
            timer.id,
            outcome.occurrence,
            outcome.error.message if outcome.error is not None else "started",
            extra=self._timer_extra(
                "fire_timer",
                item,
                occurrence=outcome.occurrence,
                missed=outcome.missed,
                outcome=result,
                timer_status=timer.status,
                **({"run_id": str(outcome.run_id)} if outcome.run_id else {}),
                **({"action_id": str(outcome.action_id)} if outcome.action_id else {}),
            ),
        )
        if outcome.action_id is not None:
            provider = self.registry.get(timers.TRANSFER_PROVIDER)
            runner = getattr(provider, "runner", None)
            if runner is not None:
                runner.submit(provider, str(outcome.action_id))
        if outcome.run_id is not None:
            self._notify()  # type: ignore[attr-defined]

    def _timer_gave_up(self, item: store.WorkItem, exc: Exception) -> None:
        """An item that kept failing unexpectedly: the timer goes inactive (a bug must not make it retry
        forever, nor vanish silently)."""
        error = timers.TimerCannotStart("INTERNAL_ERROR", f"The timer could not be fired: {exc}")

        def give_up(conn: Any) -> None:
            timer = store_timers.get_timer(conn, item.timer_id, for_update=True)
            store_timers.finish_item(conn, item_id=item.id, lease_owner=self.owner)
            if timer is not None and timer.active:
                store_timers.update_timer(
                    conn,
                    timer,
                    {
                        "status": "inactive",
                        "inactive_reason": error.inactive_reason(),
                        "number_of_errors": timer.number_of_errors + 1,
                        "next_run": None,
                    },
                    now=self.clock.now(),
                )

        self.db.transact(give_up)

    def _timer_extra(self, action: str, item: store.WorkItem, **more: Any) -> dict[str, Any]:
        return {
            "action": action,
            "timer_id": str(item.timer_id),
            "item_id": item.id,
            "kind": item.kind,
            "attempt": item.attempts,
            **more,
        }
