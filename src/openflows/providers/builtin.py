"""The set of built-in providers a server runs, the hosted URLs each one answers for, and the hook that wakes
a run as soon as one of its background actions ends.

`create_builtin_providers` is what `server.build_server` and `server.run_worker` register; `hosted_url_table`
is the table in docs/providers.md (a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable

from ..engine.clock import Clock, SystemClock
from ..store.db import Database
from ..store.work import hasten_action_poll
from .base import Provider
from .compute import ComputeProvider
from .config import ProviderSettings
from .expression_eval import ExpressionEvalProvider
from .filesystem import DeleteProvider, LsProvider, MkdirProvider, StatProvider
from .hello_world import HelloWorldProvider
from .notification import NotificationProvider
from .runner import ActionRunner
from .search import SearchDeleteProvider, SearchIngestProvider
from .transfer import TransferProvider

log = logging.getLogger(__name__)


def create_builtin_providers(
    db: Database,
    provider_settings: ProviderSettings,
    *,
    runner: ActionRunner,
    clock: Clock | None = None,
) -> list[Provider]:
    """Every built-in provider, sharing `db`, `clock` and the background `runner`."""
    clock = clock or SystemClock()
    common = {"clock": clock, "runner": runner}
    return [
        HelloWorldProvider(db, clock=clock),
        TransferProvider(db, copy_threads=provider_settings.transfer_threads, **common),
        DeleteProvider(db, **common),
        LsProvider(db, **common),
        MkdirProvider(db, **common),
        StatProvider(db, **common),
        ExpressionEvalProvider(db, **common),
        ComputeProvider(
            db,
            timeout_seconds=provider_settings.compute_timeout_seconds,
            memory_mb=provider_settings.compute_memory_mb,
            **common,
        ),
        NotificationProvider(db, settings=provider_settings, **common),
        SearchIngestProvider(db, **common),
        SearchDeleteProvider(db, **common),
    ]


def hosted_url_table(providers: list[Provider]) -> list[tuple[str, str]]:
    """(hosted URL, provider name) for every Globus-hosted URL the built-ins stand in for."""
    return [(url, provider.name) for provider in providers for url in provider.hosted_urls]


def run_id_of(request_id: str) -> uuid.UUID | None:
    """The run id the engine put in an action's `request_id` (`<run_id>/<state>/<attempt>`), if any."""
    head = request_id.split("/", 1)[0]
    try:
        return uuid.UUID(head)
    except ValueError:
        return None


def make_poll_waker(
    db: Database, clock: Clock, wake: Callable[[], None] | None
) -> Callable[[str, str, str], None]:
    """An `ActionRunner.on_finished` hook: make the pending poll of the action's run due now, then wake the
    executor, so a finished transfer is noticed at once rather than at the next poll back-off."""

    def on_finished(provider: str, action_id: str, request_id: str) -> None:
        run_id = run_id_of(request_id)
        if run_id is None:
            return
        now: dt.datetime = clock.now()
        db.transact(lambda conn: hasten_action_poll(conn, run_id, now=now))
        if wake is not None:
            wake()

    return on_finished
