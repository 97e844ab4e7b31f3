"""`GET /metrics`: Prometheus metrics of this process (text exposition format, see `shared.metrics`).

The executor's counters are included when this process runs one (`openflows serve`); the gauges read from
the database (due work and its lag, runs by status, this process's connection pool) are there in every
process. The endpoint needs no token and shows only counts; keep it on an internal network.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..shared.clock import Clock, SystemClock
from ..shared.metrics import CONTENT_TYPE, Metrics, render
from ..store.db import Database
from ..store.gauges import database_gauges


def create_metrics_router(db: Database, metrics: Metrics | None, *, clock: Clock | None = None) -> APIRouter:
    """A router serving `GET /metrics` for `db` and (when this process runs an executor) its `metrics`."""
    router = APIRouter()
    now = (clock or SystemClock()).now

    @router.get("/metrics", include_in_schema=False)
    def get_metrics() -> Response:
        return Response(render(metrics, database_gauges(db, now=now())), media_type=CONTENT_TYPE)

    return router
