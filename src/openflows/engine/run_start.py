"""Starting a run as a person: the one path shared by `run_flow` (api/runs.py: the person's own token) and a
flow timer's firing (engine/timers.py: the timer owner's token for the flow's scope, from the timer's
grant). The caller has checked the flow, the role and the input; `start_run` obtains the run's delegated
tokens through the subject's token (`engine.delegation`) and writes the run, in the caller's transaction.
A subject whose consent does not cover what the flow needs gets the `ConsentRequired` back and nothing is
written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..auth.delegation import ConsentRequired, Subject
from ..auth.principal import Principal
from ..language.model import Cursor, RunContext
from ..language.redact import redact
from ..store import runs as store_runs
from .delegation import Delegations


@dataclasses.dataclass(frozen=True, slots=True)
class RunRequest:
    """What `run_flow` takes besides the flow: the run's input and its label, tags, roles and policy."""

    body: dict[str, Any]
    label: str | None = None
    tags: Sequence[str] = ()
    run_managers: Sequence[str] = ()
    run_monitors: Sequence[str] = ()
    activity_notification_policy: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Acting:
    """Who a run acts as: the subject (their token) for the delegation, with what `Delegations.prepare`
    returned for it (outside the transaction). `delegations` None: runs act as their owner by convention."""

    delegations: Delegations | None
    subject: Subject | None = None
    prepared: Any = None


def start_run(
    conn: sa.Connection,
    *,
    run_id: uuid.UUID,
    flow: Mapping[str, Any],
    principal: Principal,
    request: RunRequest,
    acting: Acting,
    token_info: dict[str, int],
    now: dt.datetime,
) -> dict[str, Any] | ConsentRequired:
    """Obtain the run's delegation and insert the ACTIVE run as `principal` (see the module docstring)."""
    if acting.delegations is not None and acting.subject is not None:
        missing = acting.delegations.obtain(
            conn, run_id=run_id, subject=acting.subject, flow=flow, prepared=acting.prepared, now=now
        )
        if missing is not None:
            return missing
    context = RunContext(
        flow_id=str(flow["id"]),
        run_id=str(run_id),
        username=principal.username,
        email=principal.email,
        user_id=principal.identity_urn,
        identities=(principal.identity_urn,),
        token_info=token_info,
    )
    return store_runs.create_run(
        conn,
        run_id=run_id,
        flow=flow,
        run_owner=principal.identity_urn,
        body=request.body,
        details_input=redact(request.body),
        # the flow's title is kept beside `$._context` for the documents of the run's web inputs
        context={**context.as_dict(), "flow_title": flow["title"]},
        cursor=Cursor(state=None).as_dict(),
        now=now,
        label=request.label,
        tags=list(request.tags),
        run_managers=list(request.run_managers),
        run_monitors=list(request.run_monitors),
        activity_notification_policy=request.activity_notification_policy,
    )
