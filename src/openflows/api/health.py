"""`GET /healthz`: 200 `{"status": "ok"}` when the database answers (public, no token needed)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from .deps import ServiceDep
from .errors import ERROR_DESCRIPTIONS, ServiceUnavailable
from .routing import DocumentRoute
from .schemas import ErrorDocument, Health

router = APIRouter(tags=["health"], route_class=DocumentRoute)


@router.get(
    "/healthz",
    response_model=None,
    responses={200: {"model": Health}, 503: {"model": ErrorDocument, "description": ERROR_DESCRIPTIONS[503]}},
)
def get_health(service: ServiceDep) -> dict[str, str]:
    """Liveness and readiness: the database answers a trivial query."""
    try:
        with service.db.read() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any database failure means "not ready"
        raise ServiceUnavailable("The database does not answer") from exc
    return {"status": "ok"}
