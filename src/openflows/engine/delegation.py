"""`Delegations`: a run's right to act as its user, as the API and the engine use it (issue 14).

The API, when a run starts (`obtain`) or is resumed after new consent (`renew`), has the `DelegationSource`
(`auth.delegation`) issue one refresh token per resource server of the flow's dependent scopes and stores
them in `run_delegations`, sealed with the service's secret box (AES-256-GCM, bound to the run and resource
server: a sealed value copied to another row does not open). The engine asks `token_for(run, scope)` before
each call to a provider and gets:
- an access token of the run's user for that scope: from an in-memory cache (tokens obtained or refreshed by
  this process), renewed `REFRESH_MARGIN` before it expires, so a run lasting months keeps working;
- `None`: nothing is delegated for that scope (a provider whose scope this Auth does not know), or
  `NO_DELEGATION`: the run holds no delegation at all (it started before delegation existed);
- `ConsentRequired`: the grant was revoked (its consent withdrawn) or its refresh token no longer works; the
  run goes INACTIVE until the person consents again and resumes it.
Every answer reads the grant's state first (one small read), so a consent withdrawn in another process stops
the run at its next call to a provider.

A flow timer holds one grant (`timer_delegations`): its owner's refresh token for the flow's scope, issued to
the Timers service through the Timers scope's dependency (`obtain_for_timer`, when the timer is created or
resumed). Each firing turns it into a `Subject` (`timer_subject`: an access token of the owner for the flow's
scope) and starts the run with it exactly as `run_flow` starts one with the person's token; a grant that no
longer works answers `ConsentRequired` (the timer goes inactive). Deleting the timer revokes it
(`release_timer`).

A run that ends gives its tokens back (`release`: revoked, then the rows deleted), from a durable work item
queued with the run's last transition; `release_ended` is the backstop for runs released or purged before
that item ran. Nothing here logs or returns a token value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from ..auth.delegation import (
    CONSENT_LOST_MESSAGE,
    TIMER_CONSENT_LOST_MESSAGE,
    Access,
    ConsentRequired,
    DelegationSource,
    NewGrant,
    StoredGrant,
    Subject,
)
from ..auth.keys import SecretBox, SecretBoxError
from ..store import delegations as store
from ..store.db import Database

log = logging.getLogger(__name__)

#: an access token is replaced this long before it expires
REFRESH_MARGIN = dt.timedelta(minutes=5)
#: access tokens kept in memory before the cache is emptied
MAX_CACHED_TOKENS = 10_000  # entries
#: runs whose grants `release_ended` gives back per call
RELEASE_BATCH = 100  # runs
#: an ended run's own release item is given this long before `release_ended` takes over
RELEASE_GRACE = dt.timedelta(minutes=1)
#: grants sealed again per transaction by `reseal`
RESEAL_BATCH = 500  # rows


class _NoDelegation:
    """`token_for`'s answer for a run that holds no delegation at all (started before delegation existed)."""

    def __repr__(self) -> str:
        return "NO_DELEGATION"


NO_DELEGATION = _NoDelegation()


def _purpose(run_id: uuid.UUID, resource_server: str) -> str:
    return f"run delegation {run_id} {resource_server}"


def _timer_purpose(timer_id: uuid.UUID, resource_server: str) -> str:
    return f"timer delegation {timer_id} {resource_server}"


def _timer_stored(row: Any) -> StoredGrant:
    return StoredGrant(
        grant_id=row.grant_id,
        run_id=row.timer_id,
        resource_server=row.resource_server,
        scopes=tuple(row.scopes or ()),
        token_id=row.token_id,
        sealed=row.refresh_token,
    )


def _stored(row: Any) -> StoredGrant:
    return StoredGrant(
        grant_id=row.grant_id,
        run_id=row.run_id,
        resource_server=row.resource_server,
        scopes=tuple(row.scopes or ()),
        token_id=row.token_id,
        sealed=row.refresh_token,
    )


class Delegations:
    """Stores, seals, caches and hands out runs' delegated tokens (see the module docstring)."""

    def __init__(
        self, db: Database, source: DelegationSource, box: SecretBox, *, now: Callable[[], dt.datetime]
    ) -> None:
        self.db = db
        self.source = source
        self.box = box
        self._now = now
        self._lock = threading.Lock()
        #: grant id -> its current access token (this process's)
        self._access: dict[uuid.UUID, Access] = {}
        #: (run id, scope) -> the grant that answered it last (for `token_for(verify=False)`)
        self._by_scope: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        #: (flow id, scope) -> an access token of the flow's own identity
        self._flow_access: dict[tuple[uuid.UUID, str], Access] = {}

    def __repr__(self) -> str:
        return f"Delegations(source={type(self.source).__name__})"

    # -- the API's side ------------------------------------------------------------------------------------

    def check(self, subject: Subject, flow: Mapping[str, Any]) -> ConsentRequired | None:
        """Whether the subject consented to everything the flow needs (None: yes). Call it with no
        transaction open: an upstream source asks over the network here."""
        return self.source.check(subject, flow)

    def prepare(self, subject: Subject, flow_id: uuid.UUID) -> Any:
        """Call before the run's transaction (an upstream source's network grant happens here)."""
        return self.source.prepare(subject, flow_id)

    def settle(self, prepared: Any, *, committed: bool) -> None:
        """After the transaction `prepare`'s value was for: a source whose `prepare` obtained tokens over
        the network (federation) gives back those no committed run keeps."""
        settle = getattr(self.source, "settle", None)
        if settle is not None and prepared is not None:
            settle(prepared, committed=committed)

    def publish(self, flow_id: uuid.UUID, dependent_scopes: Any) -> None:
        """After a flow was created or updated (outside any transaction): a source that keeps flows' scopes
        elsewhere (federation: at the upstream Auth) records the flow's dependent scopes there."""
        publish = getattr(self.source, "publish", None)
        if publish is not None:
            publish(flow_id, dependent_scopes)

    def obtain(
        self,
        conn: sa.Connection,
        *,
        run_id: uuid.UUID,
        subject: Subject,
        flow: Mapping[str, Any],
        prepared: Any,
        now: dt.datetime,
    ) -> ConsentRequired | None:
        """Obtain and store the run's grants in the run's transaction (None: done, or nothing needed)."""
        grants = self.source.obtain(conn, subject, flow, prepared, now=now)
        if isinstance(grants, ConsentRequired):
            return grants
        self._store(conn, run_id, grants, now=now)
        return None

    def renew(
        self,
        conn: sa.Connection,
        *,
        run_id: uuid.UUID,
        subject: Subject,
        flow: Mapping[str, Any],
        prepared: Any,
        now: dt.datetime,
    ) -> ConsentRequired | bool:
        """For a resume by the run's user: obtain the grants again if the run had some and they no longer
        work. True if they were renewed, False if nothing had to be done."""
        rows = store.list_grants(conn, run_id)
        if not rows or self.source.usable(conn, [_stored(row) for row in rows]):
            return False
        grants = self.source.obtain(conn, subject, flow, prepared, now=now)
        if isinstance(grants, ConsentRequired):
            return grants
        store.delete_grants(conn, [row.grant_id for row in rows])  # their tokens are dead already
        self._forget([row.grant_id for row in rows])
        self._store(conn, run_id, grants, now=now)
        return True

    def holds_usable(self, conn: sa.Connection, run_id: uuid.UUID) -> bool:
        """Whether the run holds grants and they still work (a redrive keeps them: engine/redrive.py)."""
        rows = store.list_grants(conn, run_id)
        return bool(rows) and self.source.usable(conn, [_stored(row) for row in rows])

    def _store(
        self, conn: sa.Connection, run_id: uuid.UUID, grants: list[NewGrant], *, now: dt.datetime
    ) -> None:
        rows = []
        fresh: dict[uuid.UUID, Access] = {}
        for grant in grants:
            grant_id = uuid.uuid4()
            sealed = self.box.seal(
                grant.refresh_token.encode(), purpose=_purpose(run_id, grant.resource_server)
            )
            rows.append(
                {
                    "run_id": run_id,
                    "resource_server": grant.resource_server,
                    "grant_id": grant_id,
                    "scopes": list(grant.scopes),
                    "token_id": grant.token_id,
                    "refresh_token": sealed,
                    "created_at": now,
                }
            )
            if grant.access_token is not None and grant.expires_at is not None:
                fresh[grant_id] = Access(grant.access_token, grant.expires_at)
        store.insert_grants(conn, rows)
        # kept for this process's executor (a rolled-back run leaves entries nobody asks for)
        with self._lock:
            self._trim()
            self._access.update(fresh)

    # -- flow timers -----------------------------------------------------------------------------------------

    def obtain_for_timer(
        self,
        conn: sa.Connection,
        *,
        timer_id: uuid.UUID,
        subject: Subject,
        flow: Mapping[str, Any],
        now: dt.datetime,
    ) -> ConsentRequired | None:
        """Obtain and store the timer's grant in the transaction that creates or resumes it (None: done, or
        nothing needed); a grant it replaces is revoked."""
        grant = self.source.obtain_timer(conn, subject, flow, now=now)
        if isinstance(grant, ConsentRequired):
            return grant
        if grant is None:
            old = store.delete_timer_grant(conn, timer_id)
        else:
            grant_id = uuid.uuid4()
            sealed = self.box.seal(
                grant.refresh_token.encode(), purpose=_timer_purpose(timer_id, grant.resource_server)
            )
            old = store.put_timer_grant(
                conn,
                {
                    "timer_id": timer_id,
                    "resource_server": grant.resource_server,
                    "grant_id": grant_id,
                    "scopes": list(grant.scopes),
                    "token_id": grant.token_id,
                    "refresh_token": sealed,
                    "created_at": now,
                },
            )
            if grant.access_token is not None and grant.expires_at is not None:
                with self._lock:
                    self._trim()
                    self._access[grant_id] = Access(grant.access_token, grant.expires_at, grant.token_id)
        if old is not None:
            self._give_back(_timer_stored(old), conn)
        return None

    def timer_subject(
        self, timer_id: uuid.UUID, *, identity_id: uuid.UUID, flow_id: uuid.UUID
    ) -> Subject | ConsentRequired:
        """Who a firing of the timer acts as: its owner with an access token for the flow's scope from the
        timer's grant (outside any transaction: it may refresh), the owner without a token when the timer
        holds no grant (its flow needed nothing on their behalf), or ConsentRequired when the grant no
        longer works."""
        with self.db.read() as conn:
            row = store.get_timer_grant(conn, timer_id)
            if row is None:
                return Subject(identity_id=identity_id, scopes=frozenset())
            grant = _timer_stored(row)
            usable = self.source.usable(conn, [grant])
        access: Access | None = None
        if usable:
            with self._lock:
                access = self._access.get(grant.grant_id)
            if access is None or access.token_id is None or access.expires_at - REFRESH_MARGIN <= self._now():
                refresh_token = self._open(grant, purpose=_timer_purpose(timer_id, grant.resource_server))
                access = self.source.refresh(grant, refresh_token) if refresh_token is not None else None
                if access is not None:
                    with self._lock:
                        self._trim()
                        self._access[grant.grant_id] = access
        if access is None:
            self._forget([grant.grant_id])
            required = self.source.timer_requirement(flow_id)
            return dataclasses.replace(required, message=TIMER_CONSENT_LOST_MESSAGE)
        return Subject(
            identity_id=identity_id,
            scopes=frozenset(grant.scopes),
            token_id=access.token_id,
            bearer=access.token,
        )

    def release_timer(self, conn: sa.Connection, timer_id: uuid.UUID) -> None:
        """Forget a deleted timer's grant, in the transaction that deletes it, and revoke its tokens (there,
        when the source revokes without network; else best effort right away)."""
        old = store.delete_timer_grant(conn, timer_id)
        if old is not None:
            self._give_back(_timer_stored(old), conn)

    def _give_back(self, grant: StoredGrant, conn: sa.Connection) -> None:
        self._forget([grant.grant_id])
        if self.source.revokes_in_transaction:
            self.source.revoke([grant], [None], conn)
        else:
            purpose = _timer_purpose(grant.run_id, grant.resource_server)
            self.source.revoke([grant], [self._open(grant, purpose=purpose)])

    # -- the engine's side ---------------------------------------------------------------------------------

    def token_for(
        self, run_id: uuid.UUID, flow_id: uuid.UUID, scope: str | None, *, verify: bool = True
    ) -> str | ConsentRequired | _NoDelegation | None:
        """An access token of the run's user for `scope` (see the module docstring); `NO_DELEGATION` when
        the run holds no grant at all. `verify=False` (best-effort calls: cancel, release) answers a token
        this process holds for that run and scope without reading the grant."""
        if not verify:
            cached = self._cached(run_id, scope)
            if cached is not None:
                return cached
        with self.db.read() as conn:
            rows = store.list_grants(conn, run_id)
            if not rows:
                return NO_DELEGATION
            row = next((row for row in rows if scope and scope in (row.scopes or ())), None)
            if row is None:
                return None
            grant = _stored(row)
            usable = self.source.usable(conn, [grant])
        if not usable:
            self._forget([grant.grant_id])
            return self._lost(flow_id)
        with self._lock:
            cached = self._access.get(grant.grant_id)
            if cached is not None:
                self._by_scope[(run_id, scope or "")] = grant.grant_id
        if cached is not None and cached.expires_at - REFRESH_MARGIN > self._now():
            return cached.token
        refresh_token = self._open(grant)
        access = self.source.refresh(grant, refresh_token) if refresh_token is not None else None
        if access is None:
            self._forget([grant.grant_id])
            return self._lost(flow_id)
        with self._lock:
            self._trim()
            self._access[grant.grant_id] = access
            self._by_scope[(run_id, scope or "")] = grant.grant_id
        return access.token

    def _cached(self, run_id: uuid.UUID, scope: str | None) -> str | None:
        with self._lock:
            grant_id = self._by_scope.get((run_id, scope or ""))
            cached = self._access.get(grant_id) if grant_id is not None else None
        if cached is not None and cached.expires_at - REFRESH_MARGIN > self._now():
            return cached.token
        return None

    def flow_token(self, flow_id: uuid.UUID, scope: str | None) -> str | None:
        """A token of the flow's own client identity for `scope` (`RunAs: "Flow"`), cached until near
        expiry."""
        if not scope:
            return None
        key = (flow_id, scope)
        with self._lock:
            cached = self._flow_access.get(key)
        if cached is not None and cached.expires_at - REFRESH_MARGIN > self._now():
            return cached.token
        access = self.source.flow_token(flow_id, scope)
        if access is None:
            return None
        with self._lock:
            if len(self._flow_access) >= MAX_CACHED_TOKENS:
                self._flow_access.clear()
            self._flow_access[key] = access
        return access.token

    def _lost(self, flow_id: uuid.UUID) -> ConsentRequired:
        required = self.source.requirement(flow_id)
        return dataclasses.replace(required, message=CONSENT_LOST_MESSAGE)

    def _open(self, grant: StoredGrant, *, purpose: str | None = None) -> str | None:
        try:
            purpose = purpose or _purpose(grant.run_id, grant.resource_server)
            return self.box.open(grant.sealed, purpose=purpose).decode()
        except SecretBoxError:
            log.warning(
                "a delegated token of run %s cannot be opened (was the secret key it was sealed with "
                "removed?)",
                grant.run_id,
                extra={"action": "open_delegation", "run_id": str(grant.run_id)},
            )
            return None

    def _forget(self, grant_ids: list[uuid.UUID]) -> None:
        with self._lock:
            for grant_id in grant_ids:
                self._access.pop(grant_id, None)

    def _trim(self) -> None:
        if len(self._access) >= MAX_CACHED_TOKENS or len(self._by_scope) >= MAX_CACHED_TOKENS:
            self._access.clear()
            self._by_scope.clear()

    # -- ending ----------------------------------------------------------------------------------------------

    def release(self, run_id: uuid.UUID, *, finish: Callable[[sa.Connection], Any] | None = None) -> int:
        """Revoke the run's tokens and forget them; the number of grants released. `finish` runs in the
        transaction that forgets them (the executor completes its work item there). A source that revokes
        without network does everything in that one transaction."""
        in_transaction = self.source.revokes_in_transaction
        grants: list[StoredGrant] = []
        if not in_transaction:  # over the network: before the transaction
            with self.db.read() as conn:
                grants = [_stored(row) for row in store.list_grants(conn, run_id)]
            if grants:
                self.source.revoke(grants, [self._open(grant) for grant in grants])

        def forget(conn: sa.Connection) -> list[StoredGrant]:
            held = [_stored(row) for row in store.list_grants(conn, run_id)] if in_transaction else grants
            if held and in_transaction:
                self.source.revoke(held, [None] * len(held), conn)
            store.delete_grants(conn, [grant.grant_id for grant in held])
            if finish is not None:
                finish(conn)
            return held

        released = self.db.transact(forget)
        self._forget([grant.grant_id for grant in released])
        if released:
            log.info(
                "run %s: %d delegated grant(s) revoked",
                run_id,
                len(released),
                extra={"action": "release_delegation", "run_id": str(run_id), "count": len(released)},
            )
        return len(released)

    def release_ended(self, *, limit: int = RELEASE_BATCH) -> int:
        """Release the grants of runs that ended a while ago or no longer exist; how many runs."""
        cutoff = self._now() - RELEASE_GRACE
        with self.db.read() as conn:
            run_ids = store.ended_run_ids(conn, ended_before=cutoff, limit=limit)
        for run_id in run_ids:
            self.release(run_id)
        return len(run_ids)

    def reseal(self) -> int:
        """Seal again, with the current secret key, every grant sealed with an older one (key rotation);
        how many. Grants that no configured key opens are left as they are (their runs will ask for
        consent)."""
        runs = self._reseal(
            store.list_sealed, store.reseal, lambda row: _purpose(row.run_id, row.resource_server)
        )
        timers = self._reseal(
            store.list_sealed_timer_grants,
            store.reseal_timer_grant,
            lambda row: _timer_purpose(row.timer_id, row.resource_server),
        )
        return runs + timers

    def _reseal(
        self,
        list_page: Callable[..., list[Any]],
        write: Callable[..., None],
        purpose_of: Callable[[Any], str],
    ) -> int:
        count = 0
        after: uuid.UUID | None = None
        while True:
            with self.db.read() as conn:
                rows = list_page(conn, after=after, limit=RESEAL_BATCH)
            if not rows:
                return count
            after = rows[-1].grant_id
            changes = []
            for row in rows:
                if self.box.is_current(row.refresh_token):
                    continue
                purpose = purpose_of(row)
                try:
                    plain = self.box.open(row.refresh_token, purpose=purpose)
                except SecretBoxError:
                    continue
                changes.append((row.grant_id, self.box.seal(plain, purpose=purpose)))
            if changes:
                self.db.transact(lambda conn, changes=changes: [write(conn, *c) for c in changes])
                count += len(changes)
