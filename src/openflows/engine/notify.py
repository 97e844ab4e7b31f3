"""Wake-ups across processes on PostgreSQL: a listener holds one connection with `LISTEN openflows_work` and
wakes the executor whenever a transaction that enqueued due work commits (`store.work.notify_work`).

Notifications are lost while the connection is down (and do not pass through PgBouncer in transaction mode),
so the executor keeps polling as a fallback, and the listener wakes it once after every (re)connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..store import errors
from ..store.db import Database
from ..store.work import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

#: longest the listener waits for a notification before checking whether it must stop
LISTEN_TIMEOUT_SECONDS = 1.0  # seconds
#: first wait before reconnecting after the connection was lost (doubling)
RECONNECT_INITIAL_SECONDS = 0.5  # seconds
#: cap of the wait before reconnecting
RECONNECT_MAX_SECONDS = 10.0  # seconds


class WorkListener:
    """Calls `on_notify()` for every notification on the work channel until `stop` is set."""

    def __init__(self, db: Database, on_notify: Callable[[], None], *, channel: str = NOTIFY_CHANNEL) -> None:
        if not channel.isidentifier():
            raise ValueError(f"invalid channel name {channel!r}")
        self.db = db
        self.on_notify = on_notify
        self.channel = channel
        #: set while the listener holds a connection with LISTEN active
        self.listening = threading.Event()
        #: how many notifications arrived
        self.received = 0
        #: how many times LISTEN was set up (1 + reconnections)
        self.connections = 0

    def run(self, stop: threading.Event) -> None:
        """Listen until `stop` is set, reconnecting with back-off when the connection fails."""
        import psycopg

        delay = RECONNECT_INITIAL_SECONDS
        while not stop.is_set():
            try:
                conn = self.db.connect_listener()
            except errors.StoreError as exc:
                log.warning(
                    "cannot listen for work (%s); retrying in %.1f s",
                    exc,
                    delay,
                    extra={"action": "listen_error"},
                )
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            try:
                with conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.connections += 1
                    self.listening.set()
                    delay = RECONNECT_INITIAL_SECONDS
                    self.on_notify()  # anything enqueued while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT_SECONDS):
                            self.received += 1
                            self.on_notify()
                            if stop.is_set():
                                break
            except psycopg.Error as exc:
                self.listening.clear()
                if not stop.is_set():
                    log.warning(
                        "lost the LISTEN connection (%s); reconnecting", exc, extra={"action": "listen_error"}
                    )
                    stop.wait(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                self.listening.clear()
