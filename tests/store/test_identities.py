"""Identities, groups and memberships in the store."""

from __future__ import annotations

import datetime as dt

from openflows.store.db import Database
from openflows.store.identities import (
    add_group_member,
    ensure_group,
    ensure_identity,
    get_identity,
    list_group_ids,
    remove_group_member,
)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def test_ensure_identity_creates_once_and_keeps_the_id(db: Database) -> None:
    first = db.transact(ensure_identity, "alice", email="alice@example.org", now=NOW)
    again = db.transact(ensure_identity, "alice", now=LATER)
    renamed = db.transact(ensure_identity, "alice", name="Alice A.", now=LATER)
    assert first.id == again.id == renamed.id
    assert (again.email, again.name, again.created_at) == ("alice@example.org", None, NOW)
    assert (renamed.email, renamed.name) == ("alice@example.org", "Alice A.")
    with db.read() as conn:
        assert get_identity(conn, first.id).username == "alice"
    other = db.transact(ensure_identity, "bob", now=NOW)
    assert other.id != first.id


def test_groups_and_members(db: Database) -> None:
    alice = db.transact(ensure_identity, "alice", now=NOW)
    team = db.transact(ensure_group, "team", now=NOW)
    assert db.transact(ensure_group, "team", now=LATER).id == team.id
    lab = db.transact(ensure_group, "lab", now=NOW)
    for _ in range(2):  # adding twice is harmless
        db.transact(add_group_member, group_id=team.id, identity_id=alice.id)
    db.transact(add_group_member, group_id=lab.id, identity_id=alice.id)
    with db.read() as conn:
        assert list_group_ids(conn, alice.id) == sorted([team.id, lab.id])
    assert db.transact(remove_group_member, group_id=lab.id, identity_id=alice.id) is True
    assert db.transact(remove_group_member, group_id=lab.id, identity_id=alice.id) is False
    with db.read() as conn:
        assert list_group_ids(conn, alice.id) == [team.id]
