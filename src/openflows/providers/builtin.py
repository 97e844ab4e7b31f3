"""The set of built-in providers a server runs, the hosted URLs each one answers for, and the hook that wakes
a run as soon as one of its background actions ends.

`create_builtin_providers` is what `server.build_server` and `server.run_worker` register; `hosted_url_table`
is the table in docs/providers.md (a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from ..shared.clock import Clock, SystemClock
from ..store.db import Database
from ..store.work import hasten_action_poll
from .base import Provider, run_id_of
from .compute import ComputeProvider
from .config import ProviderSettings
from .expression_eval import ExpressionEvalProvider
from .filesystem import DeleteProvider, LsProvider, MkdirProvider, StatProvider
from .hello_world import HelloWorldProvider
from .notification import NotificationProvider
from .permissions import ManagePermissionProvider
from .runner import ActionRunner
from .search import SearchDeleteProvider, SearchIngestProvider
from .transfer import TransferProvider
from .weboption import WebOptionProvider

__all__ = ["create_builtin_providers", "hosted_url_table", "make_poll_waker", "run_id_of"]

log = logging.getLogger(__name__)


def create_builtin_providers(
    db: Database,
    provider_settings: ProviderSettings,
    *,
    runner: ActionRunner,
    clock: Clock | None = None,
    public_url: str | None = None,
) -> list[Provider]:
    """Every built-in provider, sharing `db`, `clock` and the background `runner`; `public_url` is where the
    server is reached (the weboption provider's links)."""
    clock = clock or SystemClock()
    common = {"clock": clock, "runner": runner}
    return [
        HelloWorldProvider(db, clock=clock),
        TransferProvider(db, copy_threads=provider_settings.transfer_threads, **common),
        DeleteProvider(db, **common),
        LsProvider(db, **common),
        MkdirProvider(db, **common),
        StatProvider(db, **common),
        ManagePermissionProvider(db, **common),
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
        WebOptionProvider(db, base_url=public_url, **common),
    ]


def hosted_url_table(providers: list[Provider]) -> list[tuple[str, str]]:
    """(hosted URL, provider name) for every Globus-hosted URL the built-ins stand in for."""
    return [(url, provider.name) for provider in providers for url in provider.hosted_urls]


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
