"""Principals: URNs and scope checks."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from openflows.auth import scopes
from openflows.auth.principal import Principal
from openflows.shared.urns import group_urn, identity_urn

IDENTITY = uuid.UUID("11111111-2222-3333-4444-555555555555")
GROUP = uuid.UUID("66666666-7777-8888-9999-000000000000")


def test_urns() -> None:
    principal = Principal(identity_id=IDENTITY, username="alice", group_urns={group_urn(GROUP)})
    assert principal.identity_urn == "urn:globus:auth:identity:11111111-2222-3333-4444-555555555555"
    assert principal.urns == frozenset(
        {
            "urn:globus:auth:identity:11111111-2222-3333-4444-555555555555",
            "urn:globus:groups:id:66666666-7777-8888-9999-000000000000",
        }
    )
    assert isinstance(principal.group_urns, frozenset)
    assert identity_urn(str(IDENTITY)) == principal.identity_urn


def test_identity_urn_must_match_the_id() -> None:
    assert (
        Principal(identity_id=IDENTITY, username="a", identity_urn=identity_urn(IDENTITY)).identity_id
        == IDENTITY
    )
    with pytest.raises(ValueError, match="does not match"):
        Principal(identity_id=IDENTITY, username="a", identity_urn=identity_urn(GROUP))


def test_principal_is_frozen() -> None:
    principal = Principal(identity_id=IDENTITY, username="alice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.username = "bob"  # type: ignore[misc]


def test_has_scope() -> None:
    flow_scope = scopes.flow_scope(GROUP)
    narrow = Principal(identity_id=IDENTITY, username="a", scopes={scopes.RUN_STATUS})
    assert narrow.has_scope(scopes.RUN_STATUS)
    assert not narrow.has_scope(scopes.RUN)
    broad = Principal(identity_id=IDENTITY, username="a", scopes={scopes.ALL})
    assert broad.has_scope(scopes.MANAGE_FLOWS)
    assert not broad.has_scope(flow_scope)
    everything = Principal(identity_id=IDENTITY, username="a", scopes={scopes.WILDCARD})
    assert everything.has_scope(flow_scope)
