"""Federation's half of delegation: OpenFlows' scopes at the upstream (`UpstreamScopePublisher`) and a run's
delegated tokens from the upstream's dependent-token grant (`FederatedDelegationSource`).

**Scopes at the upstream.** At start-up OpenFlows creates its service scopes under its own client at the
upstream (`UpstreamScopes`), each with Groups as a dependent scope. A flow's scope
(`https://auth.globus.org/scopes/<OpenFlows' client>/flow_<flow id>_user`) is created or updated when the
flow is created or updated, and before each run starts, with the flow's dependent scopes (those the upstream
knows: a provider registered at the upstream has its scope there) plus Groups. `openflows federation sync`
does it for every flow (after the upstream was unreachable, or with a new client). Publishing never fails a
request: a refusal is logged, and the flow's scope is published at the next occasion.

**Delegation.** The person's token (for the flow's scope at the upstream) is traded, in `prepare` (before
the run's transaction: it is a network call), through the upstream's dependent-token grant for one refresh
token per resource server of the flow's dependent scopes (`access_type=offline`); the upstream checks the
person's consent and answers `dependent_consent_required` without it, which becomes `ConsentRequired` naming
the flow's upstream scope with its dependent scopes (the 403 that sends globus-sdk and the CLI to the
consent page). `refresh` and `revoke` go to the upstream too; a refresh token the upstream refuses marks the
grant unusable (the run goes INACTIVE; after new consent, `resume` obtains it again).

Subjects and grants of OpenFlows' own tokens (the administrator's, `openflows tokens create`) keep going to
the local source: a grant with a local token row is local, one without is the upstream's.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..store import flows as flow_store
from ..store.db import Database
from . import catalog
from .delegation import Access, ConsentRequired, DelegationUnsupported, NewGrant, StoredGrant, Subject
from .federation import FederationError, UpstreamAuth, UpstreamRefused, UpstreamScopes
from .local_delegation import LocalDelegationSource

log = logging.getLogger(__name__)

#: published flow scopes remembered (flow id -> what was published) before the memo is emptied
MAX_PUBLISHED = 10_000  # entries
#: grants remembered as refused by the upstream
MAX_DEAD = 10_000  # entries


class _Prepared:
    """Tokens `prepare` obtained from the upstream for one run, until `settle` (their values never shown)."""

    def __init__(self, answers: list[Mapping[str, Any]]) -> None:
        self.answers = answers
        #: `obtain` handed them to a run (kept if its transaction commits)
        self.used = False

    def __repr__(self) -> str:
        return f"_Prepared({len(self.answers)} token answer(s), used={self.used})"


class UpstreamScopePublisher:
    """Creates and updates OpenFlows' scopes at the upstream (see the module docstring)."""

    def __init__(self, upstream: UpstreamAuth) -> None:
        self.upstream = upstream
        self.scopes = UpstreamScopes(upstream.config.client_id)
        self._lock = threading.Lock()
        #: flow id -> the dependent scope strings last published for it
        self._published: dict[uuid.UUID, tuple[str, ...]] = {}

    def ensure_service_scopes(self) -> list[str]:
        """Create the service scopes that do not exist yet; their upstream strings."""
        wanted = {self.scopes.prefix + suffix: suffix for suffix in self.scopes.service_suffixes}
        known = self.upstream.find_scopes([*wanted, catalog.GROUPS_VIEW])
        groups = known.get(catalog.GROUPS_VIEW)
        dependents = [str(groups["id"])] if groups is not None else []
        for text, suffix in wanted.items():
            if text not in known:
                self.upstream.create_scope(
                    suffix=suffix,
                    name=f"OpenFlows {suffix}",
                    description=f"OpenFlows' Flows API: {suffix}",
                    dependent_ids=dependents,
                )
        return list(wanted)

    def publish_flow(self, flow_id: uuid.UUID, dependent_scopes: Sequence[str]) -> str:
        """Create or update the flow's scope at the upstream with these dependent scopes (and Groups); its
        upstream string. Raises `FederationError`/`UpstreamRefused`."""
        wanted = tuple(sorted(set(dependent_scopes)))
        with self._lock:
            if self._published.get(flow_id) == wanted:
                return self.scopes.flow(flow_id)
        text = self.scopes.flow(flow_id)
        known = self.upstream.find_scopes([text, *wanted, catalog.GROUPS_VIEW])
        missing = [scope for scope in wanted if scope not in known]
        if missing:
            log.warning(
                "flow %s: the upstream Auth does not know the scope(s) %s: its runs get no token for them",
                flow_id,
                " ".join(missing),
                extra={"action": "publish_flow_scope", "flow_id": str(flow_id)},
            )
        ids = [str(known[scope]["id"]) for scope in [*wanted, catalog.GROUPS_VIEW] if scope in known]
        current = known.get(text)
        if current is None:
            self.upstream.create_scope(
                suffix=self.scopes.flow_suffix(flow_id),
                name=f"Run flow {flow_id}",
                description="Run this OpenFlows flow, acting as you at the services its steps use",
                dependent_ids=ids,
            )
        else:
            have = sorted(str(item.get("scope")) for item in current.get("dependent_scopes") or [])
            if have != sorted(ids):
                self.upstream.set_dependents(str(current["id"]), ids)
        with self._lock:
            if len(self._published) >= MAX_PUBLISHED:
                self._published.clear()
            self._published[flow_id] = wanted
        return text


class FederatedDelegationSource:
    """Runs' delegated tokens from the upstream (see the module docstring); OpenFlows' own tokens' runs go
    to `local`."""

    revokes_in_transaction = False

    def __init__(
        self,
        db: Database,
        local: LocalDelegationSource,
        upstream: UpstreamAuth,
        publisher: UpstreamScopePublisher,
        *,
        now: Callable[[], dt.datetime],
        reuse: dt.timedelta = dt.timedelta(seconds=30),
        margin: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self.db = db
        self.local = local
        #: an access token from the upstream is handed out again for this long at most, then refreshed, so
        #: a consent withdrawn at the upstream stops the run within that time (the engine replaces a token
        #: `margin` before the expiry it is told)
        self.reuse = reuse
        self.margin = margin
        self.upstream = upstream
        self.publisher = publisher
        self.scopes = publisher.scopes
        self._now = now
        self._lock = threading.Lock()
        #: grants whose refresh token the upstream refused (this process's knowledge)
        self._dead: collections.OrderedDict[uuid.UUID, None] = collections.OrderedDict()

    # -- consent -------------------------------------------------------------------------------------------

    def _dependents(self, flow: Mapping[str, Any] | None) -> list[str]:
        return sorted(set((flow or {}).get("dependent_scopes") or []))

    def _requirement(self, flow_id: uuid.UUID, dependents: Sequence[str]) -> ConsentRequired:
        text = self.scopes.flow(flow_id)
        if not dependents:
            return ConsentRequired((text,))
        return ConsentRequired((f"{text}[{' '.join([*dependents, catalog.GROUPS_VIEW])}]",))

    def requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        with self.db.read() as conn:
            flow = flow_store.get_flow(conn, flow_id=flow_id, include_deleted=True)
        return self._requirement(flow_id, self._dependents(flow))

    def check(self, subject: Subject, flow: Mapping[str, Any]) -> ConsentRequired | None:
        if _is_local(subject):
            return self.local.check(subject, flow)
        dependents = self._dependents(flow)
        if not dependents:
            return None
        # asking the upstream is the only way to know the person's consent: an online grant, given back;
        # no transaction is open here (the protocol's `check` takes no connection)
        found = self._grant(subject, flow["id"], dependents, offline=False)
        if isinstance(found, ConsentRequired):
            return found
        for item in found:
            self._revoke_quietly(str(item.get("access_token") or ""))
        return None

    # -- the grant -----------------------------------------------------------------------------------------

    def prepare(self, subject: Subject, flow_id: uuid.UUID) -> Any:
        if _is_local(subject):
            return self.local.prepare(subject, flow_id)
        with self.db.read() as conn:
            flow = flow_store.get_flow(conn, flow_id=flow_id, include_deleted=True)
        dependents = self._dependents(flow)
        if flow is None or not dependents:
            return []
        try:
            self.publisher.publish_flow(flow_id, dependents)
        except (FederationError, UpstreamRefused) as exc:
            log.warning("flow %s: its scope was not published upstream: %s", flow_id, exc)
        found = self._grant(subject, flow_id, dependents, offline=True)
        return found if isinstance(found, ConsentRequired) else _Prepared(list(found))

    def settle(self, prepared: Any, *, committed: bool) -> None:
        """Give back (revoke at the upstream) the tokens `prepare` obtained that no committed run keeps."""
        if not isinstance(prepared, _Prepared) or (committed and prepared.used):
            return
        for item in prepared.answers:
            self._revoke_quietly(str(item.get("refresh_token") or ""))
            self._revoke_quietly(str(item.get("access_token") or ""))
        prepared.answers = []

    def _grant(
        self, subject: Subject, flow_id: uuid.UUID, dependents: Sequence[str], *, offline: bool
    ) -> list[Mapping[str, Any]] | ConsentRequired:
        try:
            return self.upstream.dependent_tokens(subject.bearer, dependents, offline=offline)
        except UpstreamRefused as exc:
            log.info(
                "flow %s: the upstream refused the dependent-token grant (%s %s)",
                flow_id,
                exc.status,
                exc.error,
                extra={"action": "upstream_dependent_token", "flow_id": str(flow_id)},
            )
            return self._requirement(flow_id, dependents)

    def obtain(
        self,
        conn: sa.Connection,
        subject: Subject,
        flow: Mapping[str, Any],
        prepared: Any,
        *,
        now: dt.datetime,
    ) -> list[NewGrant] | ConsentRequired:
        if _is_local(subject):
            return self.local.obtain(conn, subject, flow, prepared, now=now)
        if isinstance(prepared, ConsentRequired):
            return prepared
        dependents = self._dependents(flow)
        if not dependents:
            return []
        answers = prepared.answers if isinstance(prepared, _Prepared) else []
        grants = []
        covered: set[str] = set()
        for item in answers:
            scopes = tuple(str(item.get("scope") or "").split())
            if not item.get("refresh_token") or not item.get("access_token"):
                continue
            covered.update(scopes)
            grants.append(
                NewGrant(
                    resource_server=str(item.get("resource_server") or scopes[0]),
                    scopes=scopes,
                    refresh_token=str(item["refresh_token"]),
                    token_id=None,
                    access_token=str(item["access_token"]),
                    expires_at=self._reused_until(now, item),
                )
            )
        if any(scope not in covered for scope in dependents):
            return self._requirement(flow["id"], dependents)
        if isinstance(prepared, _Prepared):
            prepared.used = True
        return grants

    # -- using and ending grants ---------------------------------------------------------------------------

    def usable(self, conn: sa.Connection, grants: Sequence[StoredGrant]) -> bool:
        local = [grant for grant in grants if grant.token_id is not None]
        with self._lock:
            dead = any(grant.grant_id in self._dead for grant in grants if grant.token_id is None)
        return not dead and (not local or self.local.usable(conn, local))

    def refresh(self, grant: StoredGrant, refresh_token: str) -> Access | None:
        if grant.token_id is not None:
            return self.local.refresh(grant, refresh_token)
        document = self.upstream.refresh(refresh_token)
        if document is None:
            with self._lock:
                self._dead[grant.grant_id] = None
                while len(self._dead) > MAX_DEAD:
                    self._dead.popitem(last=False)
            return None
        return Access(str(document["access_token"]), self._reused_until(self._now(), document))

    def _reused_until(self, now: dt.datetime, answer: Mapping[str, Any]) -> dt.datetime:
        """The expiry the engine is told: the token's own, or sooner (`reuse`: see `__init__`)."""
        expires = now + dt.timedelta(seconds=int(answer.get("expires_in") or 0))
        return min(expires, now + self.margin + self.reuse)

    def revoke(
        self,
        grants: Sequence[StoredGrant],
        refresh_tokens: Sequence[str | None],
        conn: sa.Connection | None = None,
    ) -> None:
        local = [grant for grant in grants if grant.token_id is not None]
        if local:
            self.local.revoke(local, [None] * len(local), conn)
        for grant, token in zip(grants, refresh_tokens, strict=True):
            if grant.token_id is None and token:
                self._revoke_quietly(token)

    def _revoke_quietly(self, token: str) -> None:
        if not token:
            return
        try:
            self.upstream.revoke(token)
        except FederationError as exc:
            log.warning("a token could not be revoked at the upstream: %s", exc)

    def flow_token(self, flow_id: uuid.UUID, scope: str) -> Access | None:
        """`RunAs: "Flow"` in federation: OpenFlows' own client identity at the upstream (client
        credentials), when the upstream grants it that scope."""
        try:
            token = self.upstream.client_token(scope)
        except (FederationError, UpstreamRefused):
            return None
        return Access(token, self._now() + dt.timedelta(minutes=10))

    # -- publishing ----------------------------------------------------------------------------------------

    # -- flow timers: not federated (a timer's grant would come from the upstream's Timers client) ----------

    def timer_requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        return self.requirement(flow_id)

    def obtain_timer(
        self, conn: sa.Connection, subject: Subject, flow: Mapping[str, Any], *, now: dt.datetime
    ) -> NewGrant | ConsentRequired | None:
        """None for a flow that needs nothing on its user's behalf (the timer's runs act as the owner without
        tokens); otherwise refused: a timer would need a grant of the upstream's Timers service."""
        if not self._dependents(flow):
            return None
        raise DelegationUnsupported(
            "With an upstream Auth (OPENFLOWS_AUTH_UPSTREAM), a flow timer cannot act on its owner's "
            "behalf: this flow calls providers as its user, so run it with run_flow instead (docs/auth.md, "
            "Federation)."
        )

    def publish(self, flow_id: uuid.UUID, dependent_scopes: Sequence[str] | None) -> None:
        """Create or update the flow's scope at the upstream (a refusal is logged, never raised)."""
        try:
            self.publisher.publish_flow(flow_id, list(dependent_scopes or []))
        except (FederationError, UpstreamRefused) as exc:
            log.warning(
                "flow %s: its scope was not published at the upstream Auth (%s); `openflows federation "
                "sync` publishes it",
                flow_id,
                exc,
                extra={"action": "publish_flow_scope", "flow_id": str(flow_id)},
            )


def _is_local(subject: Subject) -> bool:
    """A subject of one of OpenFlows' own tokens (its row is known here)."""
    return subject.token_id is not None
