"""What the run routes do about delegation (issue 14; `engine.delegation`, docs/auth.md "Delegation"): who
the request acts for, the 403 that asks for consent, a flow's dependent scopes computed for a flow stored
before they were, and a resume by the run's user that obtains the run's delegation again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request

from ..auth.delegation import ConsentRequired, Subject
from ..auth.principal import Principal
from ..auth.tokens import parse_bearer
from ..shared.urns import identity_urn
from ..store import flows as store_flows
from ..store import runs as store_runs
from .deps import Service
from .errors import ConsentRequired as ConsentRequiredError
from .flows import flow_scopes

T = TypeVar("T")


def subject_of(principal: Principal, request: Request) -> Subject:
    """The person a request acts for, as the delegation sees them."""
    return Subject(
        identity_id=principal.identity_id,
        scopes=principal.scopes,
        token_id=principal.token_id,
        bearer=parse_bearer(request.headers.get("authorization")) or "",
    )


def consent_error(missing: ConsentRequired) -> ConsentRequiredError:
    return ConsentRequiredError(missing.required_scopes, missing.message)


def with_scopes(conn: sa.Connection, service: Service, flow: dict[str, Any]) -> dict[str, Any]:
    """The flow with its dependent scopes, computed now (from what is known without the network) for a flow
    stored before they were."""
    if flow.get("dependent_scopes") is not None:
        return flow
    found = flow_scopes(service, flow["definition"], fetch=False)
    if found is None:
        return flow
    store_flows.set_dependent_scopes(conn, flow_id=flow["id"], scopes=found.dependent_scopes)
    return {**flow, "dependent_scopes": found.dependent_scopes}


def prepare_resume(service: Service, subject: Subject, run_id: uuid.UUID, flow_id: uuid.UUID | None) -> Any:
    """`delegations.prepare` for a resume (before its transaction), for the run's flow (read here when the
    route names only the run)."""
    delegations = service.delegations
    if delegations is None:
        return None
    if flow_id is None:
        with service.db.read() as conn:
            run = store_runs.get_run(conn, run_id=run_id)
        if run is None:
            return None
        flow_id = run["flow_id"]
    return delegations.prepare(subject, flow_id)


def renew_delegation(
    conn: sa.Connection, service: Service, run: dict[str, Any], subject: Subject, prepared: Any
) -> None:
    """An INACTIVE run resumed by its own user: obtain its delegated tokens again if they no longer work
    (403 ConsentRequired when the user's consent still does not cover the flow's needs)."""
    delegations = service.delegations
    if (
        delegations is None
        or run["status"] != "INACTIVE"
        or run["run_owner"] != identity_urn(subject.identity_id)
    ):
        return
    flow = store_flows.get_flow(conn, flow_id=run["flow_id"], include_deleted=True)
    if flow is None:
        return
    renewed = delegations.renew(
        conn, run_id=run["id"], subject=subject, flow=flow, prepared=prepared, now=service.now()
    )
    if isinstance(renewed, ConsentRequired):
        raise consent_error(renewed)


def commit_delegated(service: Service, fn: Callable[[sa.Connection], T], prepared: Any) -> T:
    """`service.transact(fn)` for a transaction that may keep what `delegations.prepare` obtained; what it
    does not keep (the transaction failed, or did not need it) is given back (federation: revoked at the
    upstream)."""
    delegations = service.delegations
    try:
        result = service.transact(fn)
    except BaseException:
        if delegations is not None:
            delegations.settle(prepared, committed=False)
        raise
    if delegations is not None:
        delegations.settle(prepared, committed=True)
    return result
