"""Who is calling: an identity, its groups and the scopes of the token it presented."""

from __future__ import annotations

import dataclasses
import uuid

from . import scopes as scopes_module

IDENTITY_URN_PREFIX = "urn:globus:auth:identity:"
GROUP_URN_PREFIX = "urn:globus:groups:id:"


def identity_urn(identity_id: uuid.UUID | str) -> str:
    """`urn:globus:auth:identity:<uuid>`."""
    return f"{IDENTITY_URN_PREFIX}{uuid.UUID(str(identity_id))}"


def group_urn(group_id: uuid.UUID | str) -> str:
    """`urn:globus:groups:id:<uuid>`."""
    return f"{GROUP_URN_PREFIX}{uuid.UUID(str(group_id))}"


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

    @property
    def urns(self) -> frozenset[str]:
        """The identity URN and every group URN: the principals role lists are matched against."""
        return frozenset({self.identity_urn, *self.group_urns})

    def has_scope(self, scope: str) -> bool:
        """Whether the token grants `scope` (`all` implies the service scopes, `*` everything)."""
        return scopes_module.grants(self.scopes, scope)
