"""`POST /batch/runs`: change or cancel several runs at once (spec flows-api.md §9).

Body: `{"filters": {"run_ids": [...]}, "set"?: {tags, run_managers, run_monitors, status: "cancel"}, "add"?:
{tags, run_managers, run_monitors}, "remove"?: {...}}`. All or nothing, in one transaction: every run must be
visible to the caller (else 404) and manageable (else 403; cancelling needs the cancel right). Lists are
replaced (`set`), then extended (`add`), then pruned (`remove`). Answer: 202 `{"runs": [<run document>...]}`
in the order of `run_ids`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from ..auth import scopes as flows_scopes
from ..shared import roles
from ..store import runs as store
from .bodies import BatchRuns
from .deps import PrincipalDep, ServiceDep, require_scope
from .documents import run_document
from .routing import DocumentRoute
from .runs import load_run
from .schemas import COMMON_ERRORS, BatchResult, error_responses
from .security import globus_auth

router = APIRouter(tags=["runs"], route_class=DocumentRoute)

_LIST_KEYS = ("tags", "run_managers", "run_monitors")


def _lists(change: Any) -> dict[str, list[str]]:
    if change is None:
        return {}
    given = change.given()
    return {key: list(given[key]) for key in _LIST_KEYS if key in given}


@router.post(
    "/batch/runs",
    openapi_extra=globus_auth(flows_scopes.RUN_MANAGE),
    status_code=202,
    response_model=None,
    responses={
        202: {"model": BatchResult, "description": "The runs after the change"},
        **error_responses(*COMMON_ERRORS),
    },
)
def batch_runs(body: BatchRuns, principal: PrincipalDep, service: ServiceDep) -> dict:
    """Apply one change to several runs the caller manages."""
    require_scope(principal, flows_scopes.RUN_MANAGE)
    run_ids = list(dict.fromkeys(body.filters.run_ids))
    set_values = _lists(body.set)
    add = _lists(body.add)
    remove = _lists(body.remove)
    cancel = body.set is not None and body.set.status == "cancel"
    permission = roles.Permission.CANCEL if cancel else roles.Permission.UPDATE

    def apply(conn: sa.Connection) -> list[dict[str, Any]]:
        now = service.now()
        loaded = [load_run(conn, run_id, principal, permission)[0] for run_id in run_ids]
        if (set_values or add or remove) and permission != roles.Permission.UPDATE:
            for run in loaded:
                load_run(conn, run["id"], principal, roles.Permission.UPDATE)
        out = []
        for run in loaded:
            updated = store.change_run_lists(
                conn, run=run, now=now, set_values=set_values, add=add, remove=remove
            )
            if cancel:
                updated = store.cancel_run(conn, run_id=run["id"], now=now)
            out.append(updated)
        return out

    updated_runs = service.transact(apply)
    if cancel:
        service.wake()
    return {"runs": [run_document(run, urns=principal.urns) for run in updated_runs]}
