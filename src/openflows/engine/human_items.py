"""The executor's handlers of the work items that involve people: `web_input` (a run waits in an
AwaitWebInput state) and `notify` (send one notification).

`HumanItems` is a part of `Executor` (engine/executor.py), like `ActionItems`.

- `web_input`: the item is due when the run starts waiting, when the web input is answered
  (`store.web_inputs.respond` makes it due) and at the state's deadline. The handler looks at the web input
  under a row lock: answered -> step with the response; closed unanswered or not this run's -> step with
  the error; past the deadline -> close the web input (reason `timeout`) in that locked transaction, so a
  late answer is refused (409) rather than recorded and ignored, and step with `WebInputTimeout`; otherwise
  the item goes back to sleep until the deadline (or a day, a safety net) in that same locked transaction,
  so an answer given meanwhile cannot be missed.
- `notify`: render the message (engine/notices.py) and deliver it (providers/mail.py) outside any
  transaction, then mark the row sent and delete the item in one transaction guarded by the lease. A failed
  delivery is tried again with back-off (capped at `RETRY_MAX_SECONDS`) for `NOTIFY_GIVE_UP` at most; the
  run never waits for it. A row already sent is never sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..language.model import Cursor, Event, WebInputAnswered, WebInputUnavailable, WebInputWait
from ..language.webinputs import CLOSED_ERROR, NOT_FOUND_ERROR, TIMEOUT_ERROR
from ..providers.mail import Mailer, MailError
from ..store import notifications as store_notifications
from ..store import web_inputs as store_web_inputs
from ..store import work as store
from . import notices
from .action_items import backoff

if TYPE_CHECKING:
    from ..shared.clock import Clock
    from ..store.db import Database

log = logging.getLogger("openflows.engine.executor")

#: how long a run waiting on a web input without a WaitTime sleeps before looking again (a safety net: an
#: answer makes its item due at once)
WEB_INPUT_RECHECK_SECONDS = 24 * 3600  # seconds
#: a notification not delivered this long after it was made is given up (status `failed`)
NOTIFY_GIVE_UP = dt.timedelta(days=3)


class HumanItems:
    """The web-input and notification handlers of `Executor` (see the module docstring)."""

    db: Database
    clock: Clock
    owner: str
    mailer: Mailer
    public_url: str

    # Also used, from Executor: _load, _complete, _step, _commit, _nudge, _extra.

    # -- WEB_INPUT -----------------------------------------------------------------------------------------

    def _do_web_input(self, item: store.WorkItem) -> None:
        run = self._load(item)
        if run is None:
            return
        wait = Cursor.from_dict(run.cursor).web_input
        if wait is None or wait.id != (item.payload or {}).get("web_input_id"):
            self._complete(item)
            return
        now = self.clock.now()
        event = self.db.transact(self._look_at_web_input, item, run.id, wait, now)
        if event is None:  # still open: the item sleeps again
            return
        decision = self._step(run, event)
        self._commit(item, run, decision)

    def _look_at_web_input(
        self,
        conn: sa.Connection,
        item: store.WorkItem,
        run_id: uuid.UUID,
        wait: WebInputWait,
        now: dt.datetime,
    ) -> Event | None:
        """The event to deliver, or None after putting the item back to sleep (in this transaction, under the
        web input's row lock)."""
        key = uuid.UUID(wait.id)
        row = store_web_inputs.get_web_input(conn, key, for_update=True)
        if row is None or row["run_id"] != run_id:
            return WebInputUnavailable(NOT_FOUND_ERROR, f"No web input {wait.id} was opened by this run")
        timed_out = f"The web input {wait.id} was not answered by {wait.deadline} (the state's WaitTime)"
        if row["status"] != "open":
            if isinstance(row["response"], dict):
                return WebInputAnswered(row["response"])
            if row["close_reason"] == store_web_inputs.TIMED_OUT:  # closed by this wait (a replayed step)
                return WebInputUnavailable(TIMEOUT_ERROR, timed_out)
            cause = f"The web input {wait.id} was closed without an answer ({row['close_reason']})"
            return WebInputUnavailable(CLOSED_ERROR, cause)
        deadline = dt.datetime.fromisoformat(wait.deadline) if wait.deadline else None
        if deadline is not None and now >= deadline:
            store_web_inputs.close_web_input(conn, key, now=now, reason=store_web_inputs.TIMED_OUT)
            return WebInputUnavailable(TIMEOUT_ERROR, timed_out)
        due = now + dt.timedelta(seconds=WEB_INPUT_RECHECK_SECONDS)
        if deadline is not None:
            due = min(due, deadline)
        if not store.release_lease(conn, item_id=item.id, owner=self.owner, due_at=due):
            log.info("lost the lease of web input item %s", item.id, extra=self._extra("web_input", item))
        self._nudge(due)
        return None

    # -- NOTIFY --------------------------------------------------------------------------------------------

    def _do_notify(self, item: store.WorkItem) -> None:
        try:
            notification_id = uuid.UUID(str((item.payload or {}).get("notification_id")))
        except ValueError:
            self._complete(item)
            return
        with self.db.read() as conn:
            row = store_notifications.get_notification(conn, notification_id)
            if row is None or row["status"] != "pending":
                row = None
            else:
                address, name = store_notifications.recipient_address(conn, row["recipient_urn"])
                row = store_notifications.with_flow_title(conn, row)
        if row is None:  # gone with its run, or already sent: never twice
            self._complete(item)
            return
        if address is None and self.mailer.uses_smtp:
            self._give_up(item, notification_id, "the recipient has no email address")
            return
        message = notices.render(
            row, base_url=self.public_url, sender=self.mailer.sender, address=address, name=name
        )
        try:
            delivery = self.mailer.deliver(message, name=notices.file_name(row))
        except MailError as exc:
            self._retry_notification(item, row, exc)
            return
        now = self.clock.now()

        def sent(conn: sa.Connection) -> bool:
            if not store.complete_work_item(conn, item_id=item.id, owner=self.owner):
                return False
            store_notifications.mark_sent(conn, notification_id, delivery=delivery, now=now)
            return True

        if self.db.transact(sent):
            log.info(
                "notification %s sent (%s)",
                notification_id,
                delivery,
                extra=self._extra("send_notification", item, notification_id=str(notification_id)),
            )

    def _retry_notification(self, item: store.WorkItem, row: dict[str, Any], exc: MailError) -> None:
        notification_id = row["id"]
        if not exc.transient or self.clock.now() - row["created_at"] > NOTIFY_GIVE_UP:
            self._give_up(item, notification_id, str(exc))
            return
        delay = backoff(item.attempts)
        due = self.clock.now() + dt.timedelta(seconds=delay)
        log.warning(
            "notification %s not delivered (%s); trying again in %.0f s",
            notification_id,
            exc,
            delay,
            extra=self._extra("send_notification_retry", item, notification_id=str(notification_id)),
        )

        def later(conn: sa.Connection) -> None:
            if store.release_lease(conn, item_id=item.id, owner=self.owner, due_at=due):
                store_notifications.mark_attempt(conn, notification_id, error=str(exc))

        self.db.transact(later)
        self._nudge(due)

    def _give_up(self, item: store.WorkItem, notification_id: uuid.UUID, why: str) -> None:
        log.error(
            "notification %s given up: %s",
            notification_id,
            why,
            extra=self._extra("send_notification_failed", item, notification_id=str(notification_id)),
        )

        def give_up(conn: sa.Connection) -> None:
            if store.complete_work_item(conn, item_id=item.id, owner=self.owner):
                store_notifications.mark_attempt(conn, notification_id, error=why, final=True)

        self.db.transact(give_up)
