"""`FederatedAuthenticator`: bearer tokens of an upstream Globus Auth become principals (federation).

A token is first looked up among OpenFlows' own (the administrator's, `openflows tokens create`, its own
Auth's); a token it does not know is introspected at the upstream with OpenFlows' client credentials and
`include=identity_set`. An active answer becomes a `Principal`:
- the identity is the token's `sub` (the upstream's identity id, so a person is the same URN here and at
  every service of that upstream); the other identities of `identity_set` are `linked_urns`;
- the scopes are translated to the local ones (`UpstreamScopes.to_local`);
- the groups come from the upstream's Groups API (`my_groups`) with a Groups token obtained through the
  dependent-token grant; without one (the person did not consent to Groups under OpenFlows' scope) the
  principal has no groups.

Answers are cached, bounded (`max_entries`, oldest first out), each for `cache_seconds` at most and never
past the token's `exp`; so a token revoked at the upstream stops working here within `cache_seconds`. An
inactive answer is cached for `negative_seconds` (a burst of bad tokens does not become a burst of calls
upstream). Groups are cached per identity for `cache_seconds`. Keys are token hashes; no token value is
kept except inside the cached principal's answer, nor logged.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..shared.urns import group_urn, identity_urn
from . import catalog
from .federation import FederationError, UpstreamAuth, UpstreamRefused, UpstreamScopes
from .principal import Principal
from .tokens import MAX_TOKEN_LENGTH, Authenticator, hash_token, parse_bearer, utcnow

log = logging.getLogger(__name__)

#: cached answers (tokens and groups, each) before the oldest are dropped
MAX_ENTRIES = 10_000  # entries
#: how long an inactive (or refused) token's answer is reused
NEGATIVE_SECONDS = 5.0  # seconds


class FederatedAuthenticator:
    """Authenticates OpenFlows' own tokens, then an upstream's (see the module docstring)."""

    def __init__(
        self,
        local: Authenticator,
        upstream: UpstreamAuth,
        *,
        cache_seconds: float = 30.0,
        negative_seconds: float = NEGATIVE_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.local = local
        self.upstream = upstream
        self.scopes = UpstreamScopes(upstream.config.client_id)
        self.cache_seconds = cache_seconds
        self.negative_seconds = negative_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        #: token hash -> (principal or None, deadline on `clock`)
        self._tokens: collections.OrderedDict[str, tuple[Principal | None, float]] = collections.OrderedDict()
        #: identity id -> (group URNs, deadline on `clock`)
        self._groups: collections.OrderedDict[uuid.UUID, tuple[frozenset[str], float]] = (
            collections.OrderedDict()
        )
        #: calls made to the upstream's introspection (for tests and metrics)
        self.introspections = 0

    @property
    def db(self) -> Any:
        return self.local.db

    def authenticate(self, bearer: str | None) -> Principal | None:
        token = parse_bearer(bearer)
        if token is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        principal = self.local.authenticate(token)
        if principal is not None:
            return principal
        key = hash_token(token)
        found, hit = self._cached(key)
        if hit:
            return found
        try:
            principal = self._introspect(token)
        except (FederationError, UpstreamRefused) as exc:
            log.warning("upstream introspection failed: %s", exc, extra={"action": "upstream_introspect"})
            return None  # not cached: the next request asks again
        now = self._clock()
        if principal is None:
            deadline = now + self.negative_seconds
        else:
            left = (principal.expires_at - self._now()).total_seconds() if principal.expires_at else None
            deadline = now + (self.cache_seconds if left is None else min(self.cache_seconds, left))
        self._remember(self._tokens, key, (principal, deadline))
        return principal

    def cached(self, bearer: str | None) -> Principal | None:
        """A principal answered without any network or database access, else None."""
        local = self.local.cached(bearer)
        if local is not None:
            return local
        token = parse_bearer(bearer)
        if token is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        found, _ = self._cached(hash_token(token))
        return found

    def invalidate(self) -> None:
        self.local.invalidate()
        with self._lock:
            self._tokens.clear()
            self._groups.clear()

    def revoke_token(self, token_or_id: str | uuid.UUID) -> Any:
        """Revoke one of OpenFlows' own tokens (upstream tokens are revoked at the upstream)."""
        row = self.local.revoke_token(token_or_id)
        self.invalidate()
        return row

    # -- internals -----------------------------------------------------------------------------------------

    def _cached(self, key: str) -> tuple[Principal | None, bool]:
        with self._lock:
            entry = self._tokens.get(key)
        if entry is None:
            return None, False
        principal, deadline = entry
        if self._clock() >= deadline or (
            principal is not None and principal.expires_at is not None and principal.expires_at <= self._now()
        ):
            return None, False
        return principal, True

    def _remember(self, cache: collections.OrderedDict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > self.max_entries:
                cache.popitem(last=False)

    def _introspect(self, token: str) -> Principal | None:
        self.introspections += 1
        document = self.upstream.introspect(token)
        return self._principal(token, document)

    def _principal(self, token: str, document: Mapping[str, Any]) -> Principal | None:
        if document.get("active") is not True:
            return None
        try:
            identity_id = uuid.UUID(str(document.get("sub")))
        except ValueError:
            return None
        expires_at = None
        if document.get("exp") is not None:
            expires_at = dt.datetime.fromtimestamp(int(document["exp"]), dt.UTC)
            if expires_at <= self._now():
                return None
        audience = document.get("aud") or []
        if isinstance(audience, str):
            audience = [audience]
        if str(self.upstream.config.client_id) not in {str(item) for item in audience}:
            return None  # a token for someone else's resource server: not OpenFlows' to accept
        scopes = self.scopes.to_local(str(document.get("scope") or "").split())
        linked = set()
        for item in document.get("identity_set") or []:
            try:
                other = uuid.UUID(str(item))
            except ValueError:
                continue
            if other != identity_id:
                linked.add(identity_urn(other))
        client_id = None
        with contextlib.suppress(ValueError):
            client_id = uuid.UUID(str(document.get("client_id")))
        username = str(document.get("username") or identity_id)
        return Principal(
            identity_id=identity_id,
            username=username,
            email=document.get("email"),
            name=document.get("name"),
            group_urns=self._groups_of(identity_id, token),
            scopes=scopes,
            client_id=client_id,
            resource_server=str(self.upstream.config.client_id),
            expires_at=expires_at,
            linked_urns=frozenset(linked),
        )

    def _groups_of(self, identity_id: uuid.UUID, token: str) -> frozenset[str]:
        with self._lock:
            entry = self._groups.get(identity_id)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        groups: frozenset[str] = frozenset()
        try:
            answers = self.upstream.dependent_tokens(token, [catalog.GROUPS_VIEW], offline=False)
            groups_token = next(
                (
                    str(item["access_token"])
                    for item in answers
                    if catalog.GROUPS_VIEW in str(item.get("scope", "")).split() and item.get("access_token")
                ),
                None,
            )
            if groups_token is not None:
                groups = frozenset(group_urn(group_id) for group_id in self.upstream.my_groups(groups_token))
                with contextlib.suppress(FederationError):
                    self.upstream.revoke(groups_token)
        except (FederationError, UpstreamRefused, ValueError) as exc:
            log.info(
                "the groups of %s are unknown: %s",
                identity_urn(identity_id),
                exc,
                extra={"action": "upstream_groups"},
            )
        self._remember(self._groups, identity_id, (groups, self._clock() + self.cache_seconds))
        return groups
