"""Who is calling: an identity, its groups and the scopes of the token it presented."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from ..shared.urns import identity_urn
from . import scopes as scopes_module


@dataclasses.dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated caller. `identity_urn` is derived from `identity_id` when not given."""

    identity_id: uuid.UUID
    username: str
    email: str | None = None
    name: str | None = None
    #: `urn:globus:groups:id:<uuid>` of every group the identity belongs to
    group_urns: frozenset[str] = frozenset()
    #: scope strings the token holds (may contain `scopes.WILDCARD`)
    scopes: frozenset[str] = frozenset()
    identity_urn: str = ""
    #: id of the token that authenticated this principal (None when built otherwise)
    token_id: uuid.UUID | None = None
    #: the OAuth client the token was issued to (None: an administrator's token)
    client_id: uuid.UUID | None = None
    #: the resource server the token is for (None: an administrator's token, or one issued before issue 13)
    resource_server: str | None = None
    #: the sign-in session behind the token (authorization-code grants)
    session_id: uuid.UUID | None = None
    #: when the token expires (None: never, or not made from a token)
    expires_at: dt.datetime | None = None
    #: URNs of the other identities of the token's `identity_set` (an upstream Globus Auth's linked
    #: identities, federation): role lists match them too
    linked_urns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        expected = identity_urn(self.identity_id)
        if not self.identity_urn:
            object.__setattr__(self, "identity_urn", expected)
        elif self.identity_urn != expected:
            raise ValueError(
                f"identity_urn {self.identity_urn!r} does not match identity_id {self.identity_id}"
            )
        object.__setattr__(self, "group_urns", frozenset(self.group_urns))
        object.__setattr__(self, "scopes", frozenset(self.scopes))
        object.__setattr__(self, "linked_urns", frozenset(self.linked_urns))

    @property
    def urns(self) -> frozenset[str]:
        """The identity URN and every group URN: the principals role lists are matched against."""
        return frozenset({self.identity_urn, *self.linked_urns, *self.group_urns})

    def has_scope(self, scope: str) -> bool:
        """Whether the token grants `scope` (`all` implies the service scopes, `*` everything)."""
        return scopes_module.grants(self.scopes, scope)
