"""`LocalDelegationSource`: runs act as their users through OpenFlows' own Auth, in process.

- **Consent** (`check`): the token that starts the run rests on root consents (`tokens.consent_ids`); one of
  them must be to the flow's scope and cover, below it, every dependent scope the flow has now, recursively
  (the registered dependent scopes of a provider's scope included, e.g. Groups for an action provider that
  looks up its callers' groups). Two kinds of token act as themselves and need no consent: an
  administrator's (`*`, `openflows tokens create` without `--scope`) and a client's own (the
  client-credentials grant: a client consents by asking, as with Globus Auth's dependent-token grant).
- **Grant** (`obtain`): the dependent-token grant for the flow's own client (the flow id owns the flow's
  scope), with refresh tokens, written in the run's transaction: one refresh token and one access token per
  resource server. Tokens obtained under consent rest on the consents below the flow's scope (`consent_ids`)
  and on no other token, so they outlive the token that started the run and `globus logout`, and die with the
  consent (`authorization.revoke_consent`). Those of a token acting as itself rest on that token.
- **Refresh** (`refresh`): a new access token from the refresh token, if it and its consents still exist.
- **Timers** (`obtain_timer`): a flow timer acts as its owner through the Timers scope's dependency, as with
  the hosted Timers service: the owner's token for the Timers scope must rest on consent to
  `timer[<flow scope>[<its dependent scopes>]]`; the grant is a refresh token for the flow's scope issued to
  the Timers service (its client id owns the Timers scope), resting on the consent to the flow's scope below
  the Timers consent. Each firing refreshes it into an access token for the flow's scope and starts the run
  with that token exactly as `run_flow` does (`check`/`obtain` above: the consents below the flow's scope are
  the run's). Withdrawing the consent kills the grant: the next firing cannot start.
- **Flow identity** (`flow_token`): `RunAs: "Flow"` states act as the flow's own client identity
  (`<flow id>@clients.auth.globus.org`), with short-lived access tokens issued to it directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..store import auth_consents as consent_store
from ..store import auth_tokens as token_store
from ..store import flows as flow_store
from ..store.db import Database
from ..store.identities import ensure_client_identity, get_token
from ..store.schema import tokens
from . import catalog, issuing, scope_registry
from .consents import ConsentNode, covers_under
from .delegation import Access, ConsentRequired, NewGrant, StoredGrant, Subject
from .scope_strings import ScopeRequirement
from .scopes import WILDCARD

#: what `usable` reads of the grants' refresh tokens (built once: it runs before every call to a provider)
_TOKEN_STATES = sa.select(
    tokens.c.id,
    tokens.c.kind,
    tokens.c.revoked_at,
    tokens.c.expires_at,
    tokens.c.last_used_at,
    tokens.c.created_at,
).where(tokens.c.id.in_(sa.bindparam("b_ids", expanding=True)))


@dataclasses.dataclass(frozen=True)
class _Consented:
    """The flow's expanded scope, the scopes it names, and what a grant rests on: the consents below the
    flow's scope by dependent scope, or (`below` None) the token acting as itself (`parent_id`)."""

    requirement: ScopeRequirement
    known: dict[str, Any]
    below: dict[str, list[int]] | None
    parent_id: uuid.UUID | None


class LocalDelegationSource:
    """Delegation through OpenFlows' own Auth (see the module docstring)."""

    def __init__(self, db: Database, *, lifetimes: issuing.Lifetimes, now: Callable[[], dt.datetime]) -> None:
        self.db = db
        self.lifetimes = lifetimes
        self._now = now

    # -- consent -------------------------------------------------------------------------------------------

    def requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        with self.db.read() as conn:
            flow = flow_store.get_flow(conn, flow_id=flow_id, include_deleted=True) or {"id": flow_id}
            requirement, _ = scope_registry.expand_flow(conn, flow)
        return ConsentRequired((str(requirement),))

    def timer_requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        required = self.requirement(flow_id)
        return ConsentRequired(tuple(f"{catalog.TIMERS_TIMER}[{text}]" for text in required.required_scopes))

    def check(self, subject: Subject, flow: Mapping[str, Any]) -> ConsentRequired | None:
        if not flow.get("dependent_scopes"):
            return None
        with self.db.read() as conn:  # a short read of its own (the caller holds no transaction)
            found = self._consent(conn, subject, flow)
        return found if isinstance(found, ConsentRequired) else None

    def _consent(
        self, conn: sa.Connection, subject: Subject, flow: Mapping[str, Any]
    ) -> ConsentRequired | _Consented | None:
        """What the subject's token allows for the flow: None (the flow needs nothing), the consents (or
        none, for a token acting as itself) below the flow's scope by dependent scope, or ConsentRequired."""
        if not flow.get("dependent_scopes"):
            return None
        requirement, known = scope_registry.expand_flow(conn, flow)
        if not requirement.dependencies:
            return None
        row = get_token(conn, subject.token_id) if subject.token_id is not None else None
        if _acts_as_itself(subject, row):
            return _Consented(requirement, known, None, subject.token_id)
        roots = {int(value) for value in (row.consent_ids or [])} if row is not None else set()
        rows = consent_store.list_consents(conn, subject.identity_id) if roots else []
        nodes = [
            ConsentNode(int(r.id), r.client_id, r.scope_string, r.parent_id)
            for r in rows
            if r.status == "approved"
        ]
        if not roots or not covers_under(nodes, roots, requirement):
            return ConsentRequired((str(requirement),))
        below: dict[str, list[int]] = {}  # the consents the dependent tokens rest on (children of the root)
        for node in nodes:
            if node.parent_id in roots and node.client_id == flow["id"]:
                below.setdefault(node.scope_string, []).append(node.id)
        return _Consented(requirement, known, below, None)

    # -- the grant -----------------------------------------------------------------------------------------

    def prepare(self, subject: Subject, flow_id: uuid.UUID) -> Any:
        return None  # everything happens in the run's transaction

    def obtain(
        self,
        conn: sa.Connection,
        subject: Subject,
        flow: Mapping[str, Any],
        prepared: Any,
        *,
        now: dt.datetime,
    ) -> list[NewGrant] | ConsentRequired:
        consent = self._consent(conn, subject, flow)
        if consent is None or isinstance(consent, ConsentRequired):
            return [] if consent is None else consent
        wanted = [dep.scope_string for dep in consent.requirement.dependencies]
        grouped: dict[str, list[str]] = {}
        for text in wanted:
            grouped.setdefault(consent.known[text].resource_server, []).append(text)
        below = consent.below
        if below is not None and any(text not in below for text in wanted):
            return ConsentRequired((str(consent.requirement),))
        issued = issuing.issue(
            conn,
            identity_id=subject.identity_id,
            client_id=flow["id"],
            by_server=grouped,
            refresh_servers=list(grouped),  # a run may last months: always offline
            lifetimes=self.lifetimes,
            now=now,
            parent_id=consent.parent_id,  # a token acting as itself; else the grant rests on the consents
            consent_ids=(
                {
                    server: [cid for text in scopes for cid in below[text]]
                    for server, scopes in grouped.items()
                }
                if below is not None
                else None
            ),
            description=f"run of flow {flow['id']}",
        )
        expires_at = now + self.lifetimes.access
        return [
            NewGrant(
                resource_server=item.resource_server,
                scopes=item.scopes,
                refresh_token=item.refresh_token or "",
                token_id=item.refresh_id,
                access_token=item.access_token,
                expires_at=expires_at,
            )
            for item in issued
        ]

    def obtain_timer(
        self, conn: sa.Connection, subject: Subject, flow: Mapping[str, Any], *, now: dt.datetime
    ) -> NewGrant | ConsentRequired | None:
        if not flow.get("dependent_scopes"):
            return None
        requirement, _ = scope_registry.expand_flow(conn, flow)
        if not requirement.dependencies:
            return None
        timer_client = catalog.client_of_resource_server(catalog.TIMERS_RESOURCE_SERVER)
        scope = requirement.scope_string
        server = catalog.resource_server_of(scope)
        row = get_token(conn, subject.token_id) if subject.token_id is not None else None
        consent_ids: dict[str, list[int]] | None = None
        if not _acts_as_itself(subject, row):
            roots = {int(value) for value in (row.consent_ids or [])} if row is not None else set()
            rows = consent_store.list_consents(conn, subject.identity_id) if roots else []
            nodes = [
                ConsentNode(int(r.id), r.client_id, r.scope_string, r.parent_id)
                for r in rows
                if r.status == "approved"
            ]
            wanted = ScopeRequirement(catalog.TIMERS_TIMER, dependencies=(requirement,))
            if not roots or not covers_under(nodes, roots, wanted):
                return ConsentRequired((str(wanted),))
            # the grant rests on the consents to the flow's scope below the Timers consents
            below = [
                node.id
                for node in nodes
                if node.parent_id in roots and node.client_id == timer_client and node.scope_string == scope
            ]
            consent_ids = {server: below}
        [issued] = issuing.issue(
            conn,
            identity_id=subject.identity_id,
            client_id=timer_client,
            by_server={server: [scope]},
            refresh_servers=[server],  # a timer fires for months
            lifetimes=self.lifetimes,
            now=now,
            parent_id=subject.token_id if consent_ids is None else None,
            consent_ids=consent_ids,
            description=f"timer of flow {flow['id']}",
        )
        return NewGrant(
            resource_server=server,
            scopes=issued.scopes,
            refresh_token=issued.refresh_token or "",
            token_id=issued.refresh_id,
            access_token=issued.access_token,
            expires_at=now + self.lifetimes.access,
        )

    # -- using and ending grants ---------------------------------------------------------------------------

    def usable(self, conn: sa.Connection, grants: Sequence[StoredGrant]) -> bool:
        ids = [grant.token_id for grant in grants if grant.token_id is not None]
        if len(ids) != len(grants):
            return False
        rows = conn.execute(_TOKEN_STATES, {"b_ids": ids}).all()
        now = self._now()
        return len(rows) == len(set(ids)) and all(
            issuing.is_active(row, lifetimes=self.lifetimes, now=now) for row in rows
        )

    def refresh(self, grant: StoredGrant, refresh_token: str) -> Access | None:
        return self.db.transact(self._refresh, refresh_token)

    def _refresh(self, conn: sa.Connection, refresh_token: str) -> Access | None:
        now = self._now()
        row = issuing.find(conn, refresh_token)
        if (
            row is None
            or row.kind != issuing.REFRESH
            or not issuing.is_active(row, lifetimes=self.lifetimes, now=now)
        ):
            return None
        consent_ids = [int(value) for value in row.consent_ids or []]
        if consent_ids:
            alive = consent_store.get_consents(conn, consent_ids)
            if len(alive) != len(set(consent_ids)) or any(c.status != "approved" for c in alive):
                token_store.revoke_cascade(conn, [row.id], now=now)
                return None
        token_store.touch(conn, row.id, now=now)
        [issued] = issuing.issue(
            conn,
            identity_id=row.identity_id,
            client_id=row.client_id,
            by_server={row.resource_server: list(row.scopes)},
            lifetimes=self.lifetimes,
            now=now,
            parent_id=row.id,
            consent_ids={row.resource_server: consent_ids} if consent_ids else None,
            description=row.description,
        )
        return Access(issued.access_token, now + self.lifetimes.access, issued.access_id)

    revokes_in_transaction = True

    def revoke(
        self,
        grants: Sequence[StoredGrant],
        refresh_tokens: Sequence[str | None],
        conn: sa.Connection | None = None,
    ) -> None:
        ids = [grant.token_id for grant in grants if grant.token_id is not None]
        if not ids:
            return
        # a grant's lineage is one level deep: the refresh token and the access tokens issued from it
        if conn is not None:
            token_store.revoke_with_children(conn, ids, now=self._now())
        else:
            self.db.transact(lambda conn: token_store.revoke_with_children(conn, ids, now=self._now()))

    def flow_token(self, flow_id: uuid.UUID, scope: str) -> Access | None:
        return self.db.transact(self._flow_token, flow_id, scope)

    def _flow_token(self, conn: sa.Connection, flow_id: uuid.UUID, scope: str) -> Access | None:
        flow = flow_store.get_flow(conn, flow_id=flow_id, include_deleted=True)
        if flow is None:
            return None
        now = self._now()
        ensure_client_identity(conn, flow_id, name=f"Flow: {flow['title']}"[:256], now=now)
        known = scope_registry.resolve(conn, [scope]).get(scope)
        server = known.resource_server if known is not None else catalog.resource_server_of(scope)
        [issued] = issuing.issue(
            conn,
            identity_id=flow_id,
            client_id=flow_id,
            by_server={server: [scope]},
            lifetimes=self.lifetimes,
            now=now,
            description=f"flow {flow_id} acting as itself",
        )
        return Access(issued.access_token, now + self.lifetimes.access)


def _acts_as_itself(subject: Subject, row: Any) -> bool:
    """An administrator's token (`*`), or a client's own (client credentials: issued to a client, resting on
    no consent): it needs no consent to act as its identity."""
    if WILDCARD in subject.scopes:
        return True
    return row is not None and row.client_id is not None and not row.consent_ids
