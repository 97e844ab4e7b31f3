"""`POST /runs/{run_id}/redrive` (issue 19, an OpenFlows extension: the hosted Globus Flows service and
globus-sdk have no such operation): a FAILED run starts again at the state that failed, with the input that
state had, on the definition the run started with (`get_run_definition`), not a later version of the flow.

Check the token scope -> load the run and the caller's roles -> decide where it starts again, and inside a
Map or Parallel which iterations run again (`engine.redrive.prepare_redrive`) -> obtain the run's delegation
again (`engine.redrive.redelegate`) -> write the redrive (`engine.redrive.write_redrive`), all in one
transaction -> wake the executor.

Scope: `run_manage` (as for cancel), or the flow's own scope (as for resume; the token a flow-specific
client holds). Obtaining the run's delegation again needs a token for the flow's scope resting on consent to
what the flow does (else 403 ConsentRequired, whose GARE says which scope to ask for). Roles: the run's
owner or one of its run managers (as for resume).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from ..auth import scopes as flows_scopes
from ..auth.principal import Principal
from ..engine.redrive import NotRedrivable, NotRunUser, prepare_redrive, redelegate, write_redrive
from ..language.states import parse_definition
from ..shared import roles
from ..store import flows as store_flows
from ..store import runs as store
from ..store.work import get_flow_version_definition
from .delegation import consent_error, subject_of, with_scopes
from .deps import PrincipalDep, ServiceDep
from .documents import run_document
from .errors import Forbidden, MissingScope, StateConflict, run_forbidden, run_not_found
from .routing import DocumentRoute
from .schemas import COMMON_ERRORS, RunDocument, error_responses
from .security import globus_auth

router = APIRouter(tags=["runs"], route_class=DocumentRoute)

_ERRORS_409 = error_responses(*COMMON_ERRORS, 409)


def _check_scope(principal: Principal, run: dict[str, Any] | None) -> None:
    """`run_manage` or the run's flow's own scope; 403 MISSING_SCOPE naming `run_manage` otherwise (also for
    a run that does not exist, so the answer does not tell whether it does)."""
    if principal.has_scope(flows_scopes.RUN_MANAGE):
        return
    if run is not None and principal.has_scope(flows_scopes.flow_scope(run["flow_id"])):
        return
    raise MissingScope(flows_scopes.RUN_MANAGE)


@router.post(
    "/runs/{run_id}/redrive",
    openapi_extra=globus_auth(flows_scopes.RUN_MANAGE),
    response_model=None,
    responses={200: {"model": RunDocument, "description": "The redriven run (ACTIVE)"}, **_ERRORS_409},
)
def redrive_run(run_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep, request: Request) -> dict:
    """OpenFlows extension: restart a FAILED run at the state that failed, with the input it had there, on
    the definition the run started with; states that succeeded are not run again. The run's owner or a run
    manager, with `run_manage` or the flow's own scope. 409 STATE_CONFLICT for a run that is not FAILED, was
    canceled, failed at a Fail state, or is past the retention period."""
    subject = subject_of(principal, request)
    delegations = service.delegations
    prepared = None
    if delegations is not None:  # an upstream Auth's network grant happens here, before the transaction
        with service.db.read() as conn:
            found = store.get_run(conn, run_id=run_id)
        if found is not None and roles.effective_run_roles(principal.urns, found, store.flow_view(found)):
            prepared = delegations.prepare(subject, found["flow_id"])

    def redrive(conn: sa.Connection) -> dict[str, Any]:
        run = store.get_run(conn, run_id=run_id)
        _check_scope(principal, run)
        if run is None:
            raise run_not_found(run_id)
        held = roles.effective_run_roles(principal.urns, run, store.flow_view(run))
        if not held:
            raise run_not_found(run_id)
        if not roles.run_allows(held, roles.Permission.RESUME):  # the run's owner or a run manager
            raise run_forbidden(run_id, "REDRIVE")
        raw = get_flow_version_definition(conn, run["flow_id"], run["flow_version"])
        try:
            definition = parse_definition(raw) if raw is not None else None
        except Exception:  # a version stored by an older release that no longer parses
            definition = None
        if definition is None:
            raise StateConflict(f"Run {run_id}'s flow version cannot be used any more: start a new run")
        now = service.now()
        try:
            point = prepare_redrive(
                conn,
                run,
                definition,
                now=now,
                retention_days=service.settings.retention_days,
                max_duration_days=service.settings.run_max_duration_days,
            )
            store.drop_pending_revocation(conn, run_id=run_id, now=now)
        except NotRedrivable as exc:
            raise StateConflict(str(exc)) from None
        except store.RevocationInProgress:
            raise StateConflict(
                f"Run {run_id} is giving back the tokens it held for its user right now: redrive it again "
                "in a moment"
            ) from None
        if delegations is not None:
            flow = store_flows.get_flow(conn, flow_id=run["flow_id"], include_deleted=True)
            if flow is not None:
                flow = with_scopes(conn, service, flow)
                try:
                    missing = redelegate(
                        conn,
                        delegations,
                        run=run,
                        flow=flow,
                        subject=subject,
                        prepared=prepared,
                        now=now,
                    )
                except NotRunUser as exc:
                    raise Forbidden(str(exc)) from None
                if missing is not None:
                    raise consent_error(missing)
        return write_redrive(conn, run, point, now=now)

    run = service.transact(redrive)
    service.wake()
    return run_document(run, urns=principal.urns)
