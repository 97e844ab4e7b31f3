"""Collections have owners and access rules (issue 14): every filesystem provider checks the acting caller
against them, for every path it reads or writes; rules grant exactly what they say; refusals name only the
path the caller gave. Real files, both databases."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from providerkit import ALICE, BOB, MakeCollection, read_tree, run_action, write_tree

from engine.enginekit import drive, get_run, insert_run
from openflows.engine.executor import Executor
from openflows.providers.base import Caller, Provider, ProviderRegistry
from openflows.providers.collections import Collection, PermissionDenied, load_collection
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.shared.collection_access import (
    ALL_AUTHENTICATED_USERS,
    PUBLIC,
    Access,
    AccessError,
    AccessRule,
    from_transfer,
    parse_allow,
    parse_revoke,
    rule_parts,
    show_rule_path,
    to_transfer,
)
from openflows.store import collections as store
from openflows.store.db import Database
from openflows.store.identities import ensure_identity

CAROL = Caller("urn:globus:auth:identity:cccccccc-cccc-4ccc-8ccc-cccccccccccc")
GROUP = "urn:globus:groups:id:99999999-9999-4999-8999-999999999999"
OTHER_GROUP = "urn:globus:groups:id:88888888-8888-4888-8888-888888888888"


# -- the rules themselves (pure) ----------------------------------------------------------------------------


def test_rule_paths_match_whole_components():
    rule = AccessRule(uuid.uuid4(), BOB.identity, rule_parts("/data/"), "r")
    assert rule.covers(("data",)) and rule.covers(("data", "x", "y"))
    assert not rule.covers(("database",)) and not rule.covers(()) and not rule.covers(("other", "data"))
    whole = AccessRule(uuid.uuid4(), BOB.identity, rule_parts("/"), "r")
    assert whole.covers(()) and whole.covers(("anything",))
    for spelling in ("/data", "/data/", "/~/data/", "~/data", "data", "/data//./"):
        assert rule_parts(spelling) == ("data",), spelling
    assert show_rule_path(("a", "b")) == "/a/b/" and show_rule_path(()) == "/"
    for bad in ("/a/../b", "/x\x00", "/\ud800"):
        with pytest.raises(AccessError):
            rule_parts(bad)
    with pytest.raises(AccessError, match="longer than"):
        rule_parts("/" + "x" * 3000)


def test_access_allows_what_the_rules_grant():
    access = Access(
        ALICE.identity,
        (
            AccessRule(uuid.uuid4(), BOB.identity, ("shared",), "r"),
            AccessRule(uuid.uuid4(), BOB.identity, ("shared", "inbox"), "rw"),
            AccessRule(uuid.uuid4(), GROUP, ("team",), "rw"),
            AccessRule(uuid.uuid4(), ALL_AUTHENTICATED_USERS, ("pub",), "r"),
            AccessRule(uuid.uuid4(), PUBLIC, ("www",), "r"),
        ),
    )
    alice, bob, carol = ALICE.principals, BOB.principals, CAROL.principals
    member = frozenset({CAROL.identity, GROUP})
    assert access.allows(alice, ("anything", "at", "all"), write=True)  # the owner
    assert access.allows(bob, ("shared", "f"), write=False)
    assert not access.allows(bob, ("shared", "f"), write=True)  # read-only
    assert access.allows(bob, ("shared", "inbox", "f"), write=True)  # rules add up
    assert not access.allows(bob, ("sharedx",), write=False) and not access.allows(bob, (), write=False)
    assert access.allows(member, ("team", "x"), write=True) and not access.allows(
        carol, ("team",), write=False
    )
    assert not access.allows(frozenset({CAROL.identity, OTHER_GROUP}), ("team",), write=False)
    for who in (alice, bob, carol):
        assert access.allows(who, ("pub", "x"), write=False) and access.allows(who, ("www",), write=False)
        assert who == alice or not access.allows(who, ("pub", "x"), write=True)
    assert access.is_owner(alice) and not access.is_owner(bob)
    nobody = Access(None)
    assert not nobody.allows(alice, (), write=False) and not nobody.is_owner(alice) and nobody.is_private


def test_command_line_and_transfer_spellings_of_principals():
    urn = BOB.identity
    assert parse_allow("alice") == parse_allow("alice:r") == parse_allow("alice:r:/")
    spec = parse_allow(f"{urn}:rw:/data/sub")
    assert (spec.principal, spec.permissions, spec.path) == (urn, "rw", ("data", "sub"))
    spec = parse_allow(f"{GROUP}:/team/")
    assert (spec.principal, spec.permissions, spec.path) == (GROUP, "r", ("team",))
    spec = parse_allow("all_authenticated_users:r:/a:b/")  # a path may hold colons
    assert (spec.principal, spec.path) == (ALL_AUTHENTICATED_USERS, ("a:b",))
    for bad in ("alice:rwx", "alice:w", ":r", "alice:data"):
        with pytest.raises(AccessError):
            parse_allow(bad)
    assert parse_revoke("alice") == ("alice", None)
    assert parse_revoke(f"{urn}:/data") == (urn, ("data",))
    with pytest.raises(AccessError):
        parse_revoke("alice:rw:/data")
    identity_id = urn.rsplit(":", 1)[1]
    assert from_transfer("identity", identity_id) == urn == from_transfer("identity", urn)
    assert from_transfer("group", GROUP.rsplit(":", 1)[1]) == GROUP
    assert from_transfer("all_authenticated_users", "") == ALL_AUTHENTICATED_USERS
    assert from_transfer("anonymous", None) == PUBLIC
    for principal in (urn, GROUP, ALL_AUTHENTICATED_USERS, PUBLIC):
        assert from_transfer(*to_transfer(principal)) == principal
    for bad in (("identity", "nope"), ("user", identity_id), ("anonymous", identity_id), ("group", "")):
        with pytest.raises(AccessError):
            from_transfer(*bad)


# -- bob and alice's private collection, through every provider ---------------------------------------------


def _private(make_collection: MakeCollection) -> Collection:
    c = make_collection("alice-private")
    write_tree(c.root, {"secret/plan.txt": "alice's plan", "notes.txt": "n"})
    return c


def _bodies(c: Collection, mine: Collection) -> dict[str, list[dict[str, Any]]]:
    """Requests that read or write `c` (bob's own collection `mine` on the other side of transfers)."""
    endpoint = str(c.id)
    return {
        "ls": [{"endpoint_id": endpoint, "path": p} for p in ("/", "/secret", "/missing")],
        "stat": [
            {"endpoint_id": endpoint, "path": p} for p in ("/notes.txt", "/secret/plan.txt", "/missing")
        ],
        "mkdir": [{"endpoint_id": endpoint, "path": p} for p in ("/bobs", "/secret/bobs")],
        "delete": [
            {"endpoint": endpoint, "DATA": [{"path": "/notes.txt"}]},
            {"endpoint": endpoint, "DATA": [{"path": "/secret"}], "recursive": True},
            {"endpoint": endpoint, "DATA": [{"path": "/missing"}], "ignore_missing": True},
        ],
        "transfer": [
            {  # alice's collection as the source
                "source_endpoint": endpoint,
                "destination_endpoint": str(mine.id),
                "DATA": [{"source_path": "/secret", "destination_path": "/loot", "recursive": True}],
            },
            {  # ... and as the destination
                "source_endpoint": str(mine.id),
                "destination_endpoint": endpoint,
                "DATA": [{"source_path": "/mine.txt", "destination_path": "/secret/plan.txt"}],
            },
            {  # legacy shape
                "source_endpoint_id": endpoint,
                "destination_endpoint_id": str(mine.id),
                "transfer_items": [{"source_path": "/notes.txt", "destination_path": "/n.txt"}],
            },
        ],
    }


def test_bob_can_neither_list_read_nor_write_alices_private_collection(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database
):
    c = _private(make_collection)
    mine = make_collection("bobs", owner=BOB.identity)
    write_tree(mine.root, {"mine.txt": "bob's"})
    before, mine_before = read_tree(c.root), read_tree(mine.root)
    refusals = []
    for name, bodies in _bodies(c, mine).items():
        for body in bodies:
            with pytest.raises(PermissionDenied) as caught:
                run_action(providers[name], body, BOB)
            assert caught.value.status_code == 403 and caught.value.code == "PermissionDenied"
            assert caught.value.body() == {
                "code": "PermissionDenied",
                "description": caught.value.description,
            }
            refusals.append(caught.value.description)
    assert read_tree(c.root) == before and read_tree(mine.root) == mine_before
    assert not (c.root / "bobs").exists() and not (mine.root / "loot").exists()
    # a refusal names the path as given, and says nothing of whether it exists or what is in it
    assert f"you may not read '/missing' on collection {c.id}" in refusals[2]
    assert refusals[2].replace("/missing", "/secret") == refusals[1]
    assert not any("plan" in text and "plan.txt" not in text for text in refusals)
    assert all("alice's" not in text and str(c.root) not in text for text in refusals)
    # alice herself is refused nothing on her collection (what is missing is missing, though)
    for name, bodies in _bodies(c, mine).items():
        if name != "transfer":  # bob's collection is bob's
            for body in bodies:
                doc = run_action(providers[name], body, ALICE)
                expected = "FAILED" if body.get("path") == "/missing" else "SUCCEEDED"
                assert doc["status"] == expected, (name, body, doc["details"])
    assert (c.root / "bobs").is_dir() and not (c.root / "secret").exists()


def test_a_flow_run_as_bob_cannot_use_alices_collection(
    db: Database,
    settings: Settings,
    providers: dict[str, Provider],
    clock: FakeClock,
    make_collection: MakeCollection,
):
    c = _private(make_collection)
    mine = make_collection("bobs", owner=BOB.identity)
    registry = ProviderRegistry(providers.values(), base_urls=["http://openflows.test"])
    executor = Executor(db, settings, registry=registry, clock=clock, threads=1)
    copy = {
        "StartAt": "Copy",
        "States": {
            "Copy": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/transfer",
                "Parameters": {
                    "source_endpoint": str(c.id),
                    "destination_endpoint": str(mine.id),
                    "DATA": [{"source_path": "/secret", "destination_path": "/loot", "recursive": True}],
                },
                "ResultPath": "$.copy",
                "End": True,
            }
        },
    }
    as_bob = insert_run(db, copy, {}, now=clock.now(), owner=BOB.identity)
    as_alice_into_bobs = insert_run(db, copy, {}, now=clock.now(), owner=ALICE.identity)
    drive(executor, clock)
    causes = []
    for run_id in (as_bob, as_alice_into_bobs):
        run = get_run(db, run_id)
        assert run["status"] == "FAILED", run["details"]
        assert run["details"]["details"]["error"] == "ActionUnableToRun", run["details"]
        causes.append(run["details"]["details"]["cause"])
    assert [cause["code"] for cause in causes] == ["PermissionDenied", "PermissionDenied"]
    assert "you may not read '/secret'" in causes[0]["description"]
    assert "you may not write to '/loot'" in causes[1]["description"]
    assert not (mine.root / "loot").exists()


# -- rules grant exactly what they say ----------------------------------------------------------------------


def _shared(make_collection: MakeCollection, *rules: tuple[str, tuple[str, ...], str]) -> Collection:
    c = make_collection("shared", rules=rules)
    write_tree(c.root, {"shared/a.txt": "a", "shared/sub/b.txt": "b", "sharedx/no.txt": "x", "top.txt": "t"})
    return c


def test_read_only_confined_to_a_prefix(providers: dict[str, Provider], make_collection: MakeCollection):
    c = _shared(make_collection, (BOB.identity, ("shared",), "r"))
    endpoint = str(c.id)
    listed = run_action(providers["ls"], {"endpoint_id": endpoint, "path": "/shared/"}, BOB)
    assert sorted(e["name"] for e in listed["details"]["DATA"]) == ["a.txt", "sub"]
    stat = run_action(providers["stat"], {"endpoint_id": endpoint, "path": "/~/shared/sub/b.txt"}, BOB)
    assert stat["details"]["size"] == 1
    mine = make_collection("bobs", owner=BOB.identity)
    copied = run_action(
        providers["transfer"],
        {
            "source_endpoint": endpoint,
            "destination_endpoint": str(mine.id),
            "DATA": [{"source_path": "/shared", "destination_path": "/copy", "recursive": True}],
        },
        BOB,
    )
    assert copied["status"] == "SUCCEEDED", copied["details"]
    assert read_tree(mine.root / "copy") == read_tree(c.root / "shared")
    refused = [  # outside the prefix (a sibling with the same beginning too), or a write
        ("ls", {"endpoint_id": endpoint, "path": "/"}),
        ("ls", {"endpoint_id": endpoint, "path": "/sharedx"}),
        ("stat", {"endpoint_id": endpoint, "path": "/top.txt"}),
        ("mkdir", {"endpoint_id": endpoint, "path": "/shared/new"}),
        ("delete", {"endpoint": endpoint, "DATA": [{"path": "/shared/a.txt"}]}),
        (
            "transfer",
            {
                "source_endpoint": str(mine.id),
                "destination_endpoint": endpoint,
                "DATA": [{"source_path": "/copy/a.txt", "destination_path": "/shared/a2.txt"}],
            },
        ),
    ]
    for name, body in refused:
        with pytest.raises(PermissionDenied):
            run_action(providers[name], body, BOB)
    assert not (c.root / "shared" / "new").exists() and (c.root / "shared" / "a.txt").exists()
    assert not (c.root / "shared" / "a2.txt").exists()


def test_read_write_confined_to_a_prefix(providers: dict[str, Provider], make_collection: MakeCollection):
    c = _shared(make_collection, (BOB.identity, ("shared",), "rw"))
    endpoint = str(c.id)
    made = run_action(providers["mkdir"], {"endpoint_id": endpoint, "path": "/shared/new"}, BOB)
    assert made["status"] == "SUCCEEDED" and (c.root / "shared" / "new").is_dir()
    copied = run_action(
        providers["transfer"],
        {
            "source_endpoint": endpoint,
            "destination_endpoint": endpoint,
            "DATA": [{"source_path": "/shared/a.txt", "destination_path": "/shared/new/a.txt"}],
        },
        BOB,
    )
    assert copied["status"] == "SUCCEEDED" and (c.root / "shared" / "new" / "a.txt").read_text() == "a"
    deleted = run_action(
        providers["delete"], {"endpoint": endpoint, "DATA": [{"path": "/shared/a.txt"}]}, BOB
    )
    assert deleted["status"] == "SUCCEEDED" and not (c.root / "shared" / "a.txt").exists()
    for name, body in [
        ("mkdir", {"endpoint_id": endpoint, "path": "/sharedx/new"}),
        ("mkdir", {"endpoint_id": endpoint, "path": "/new"}),
        ("delete", {"endpoint": endpoint, "DATA": [{"path": "/top.txt"}]}),
        ("delete", {"endpoint": endpoint, "DATA": [{"path": "/sharedx"}], "recursive": True}),
    ]:
        with pytest.raises(PermissionDenied):
            run_action(providers[name], body, BOB)
    assert (c.root / "top.txt").exists() and (c.root / "sharedx" / "no.txt").exists()


def test_a_group_rule_works_for_members_only(providers: dict[str, Provider], make_collection: MakeCollection):
    c = _shared(make_collection, (GROUP, ("shared",), "rw"))
    member = Caller(CAROL.identity, groups=(OTHER_GROUP, GROUP))
    body = {"endpoint_id": str(c.id), "path": "/shared/by-member"}
    assert run_action(providers["mkdir"], body, member)["status"] == "SUCCEEDED"
    for outsider in (CAROL, BOB, Caller(BOB.identity, groups=(OTHER_GROUP,))):
        with pytest.raises(PermissionDenied):
            run_action(providers["mkdir"], {**body, "path": "/shared/by-outsider"}, outsider)
    assert sorted(os.listdir(c.root / "shared")) == ["a.txt", "by-member", "sub"]


@pytest.mark.parametrize("principal", [ALL_AUTHENTICATED_USERS, PUBLIC])
def test_everyone_rules(providers: dict[str, Provider], make_collection: MakeCollection, principal: str):
    c = _shared(make_collection, (principal, (), "r"))
    for who in (BOB, CAROL, Caller(CAROL.identity, groups=(GROUP,))):
        listed = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/"}, who)
        assert sorted(e["name"] for e in listed["details"]["DATA"]) == ["shared", "sharedx", "top.txt"]
        with pytest.raises(PermissionDenied):
            run_action(providers["mkdir"], {"endpoint_id": str(c.id), "path": "/x"}, who)


def test_links_lead_nowhere_the_caller_may_not_read(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    """A link inside a readable area whose target is not readable: stat and ls through it are refused, a
    listing shows it as an invalid_symlink (nothing about its target), and a transfer of the tree fails."""
    c = _shared(make_collection, (BOB.identity, ("pub",), "r"))
    write_tree(c.root, {"private/key.txt": "k", "private/dir/f.txt": "f", "pub/ok.txt": "o"})
    os.symlink("../private/key.txt", c.root / "pub" / "key-link")
    os.symlink(c.root / "private" / "dir", c.root / "pub" / "dir-link")
    os.symlink("ok.txt", c.root / "pub" / "ok-link")
    endpoint = str(c.id)
    for name, path in [("stat", "/pub/key-link"), ("ls", "/pub/dir-link"), ("stat", "/pub/dir-link/f.txt")]:
        with pytest.raises(PermissionDenied) as caught:
            run_action(providers[name], {"endpoint_id": endpoint, "path": path}, BOB)
        assert "private" not in caught.value.description
    listed = run_action(providers["ls"], {"endpoint_id": endpoint, "path": "/pub"}, BOB)
    entries = {e["name"]: e for e in listed["details"]["DATA"]}
    for hidden in ("key-link", "dir-link"):
        assert entries[hidden]["type"] == "invalid_symlink" and entries[hidden]["link_target"] is None
        assert entries[hidden]["size"] == 0
    assert entries["ok-link"]["link_target"] == "/pub/ok.txt" and entries["ok-link"]["size"] == 1
    # the owner sees the links for what they are
    owned = run_action(providers["ls"], {"endpoint_id": endpoint, "path": "/pub"}, ALICE)
    assert {e["name"]: e["link_target"] for e in owned["details"]["DATA"]}["key-link"] == "/private/key.txt"
    mine = make_collection("bobs", owner=BOB.identity)
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": endpoint,
            "destination_endpoint": str(mine.id),
            "DATA": [{"source_path": "/pub", "destination_path": "/copy", "recursive": True}],
        },
        BOB,
    )
    assert doc["status"] == "FAILED"
    fatal = doc["details"]["fatal_error"]
    assert fatal["code"] == "PERMISSION_DENIED" and fatal["path"] in ("/pub/dir-link", "/pub/key-link")
    assert "private" not in fatal["description"]
    assert not (mine.root / "copy").exists() or not any((mine.root / "copy").rglob("key*"))


def test_rules_revoked_after_run_fail_the_background_work(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database, clock: FakeClock
):
    """A delete or transfer checked at /run whose rule is revoked before the work starts fails with
    PERMISSION_DENIED and changes nothing."""
    c = _shared(make_collection, (BOB.identity, ("shared",), "rw"))
    mine = make_collection("bobs", owner=BOB.identity)
    from test_filesystem import _StubJob

    delete, transfer = providers["delete"], providers["transfer"]
    delete_body = {"endpoint": str(c.id), "DATA": [{"path": "/shared/a.txt"}]}
    transfer_body = {
        "source_endpoint": str(c.id),
        "destination_endpoint": str(mine.id),
        "DATA": [{"source_path": "/shared", "destination_path": "/copy", "recursive": True}],
    }
    states = [delete.check_body(delete_body, BOB), transfer.check_body(transfer_body, BOB)]  # type: ignore[attr-defined]
    assert db.transact(store.revoke_rules, c.id, BOB.identity) == 1
    for provider, body, state in ((delete, delete_body, states[0]), (transfer, transfer_body, states[1])):
        outcome = provider.work(_StubJob(state, body, BOB.identity))  # type: ignore[attr-defined]
        assert outcome.status == "FAILED"
        assert outcome.details["fatal_error"]["code"] == "PERMISSION_DENIED", outcome.details
    assert (c.root / "shared" / "a.txt").exists() and not (mine.root / "copy").exists()


def test_a_transfer_creates_no_directory_above_what_it_may_write(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    """A rule on one file lets bob write that file, not create its missing parent directory; a rule on a
    directory lets him make it and what is below, not what is above it."""
    c = make_collection("files", rules=((BOB.identity, ("inbox", "report.txt"), "rw"),))
    mine = make_collection("bobs", owner=BOB.identity)
    write_tree(mine.root, {"report.txt": "r"})
    body = {
        "source_endpoint": str(mine.id),
        "destination_endpoint": str(c.id),
        "DATA": [{"source_path": "/report.txt", "destination_path": "/inbox/report.txt"}],
    }
    doc = run_action(providers["transfer"], body, BOB)
    assert doc["status"] == "FAILED" and doc["details"]["fatal_error"]["code"] == "PERMISSION_DENIED"
    assert not (c.root / "inbox").exists()
    (c.root / "inbox").mkdir()
    assert run_action(providers["transfer"], body, BOB)["status"] == "SUCCEEDED"
    assert (c.root / "inbox" / "report.txt").read_text() == "r"
    # a rule on /deep/drop/: bob may make /deep/drop and below, not /deep
    deep = make_collection("deep", rules=((BOB.identity, ("deep", "drop"), "rw"),))
    into = {
        **body,
        "destination_endpoint": str(deep.id),
        "DATA": [{"source_path": "/report.txt", "destination_path": "/deep/drop/sub/report.txt"}],
    }
    doc = run_action(providers["transfer"], into, BOB)
    assert doc["status"] == "FAILED" and doc["details"]["fatal_error"]["code"] == "PERMISSION_DENIED"
    assert list(deep.root.iterdir()) == []
    (deep.root / "deep").mkdir()
    assert run_action(providers["transfer"], into, BOB)["status"] == "SUCCEEDED"
    assert (deep.root / "deep" / "drop" / "sub" / "report.txt").read_text() == "r"


# -- owners -------------------------------------------------------------------------------------------------


def test_a_collection_without_a_stored_owner_belongs_to_the_local_administrator(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database, clock: FakeClock
):
    from openflows import server

    assert store.LOCAL_ADMINISTRATOR == server.ADMIN_USERNAME
    c = make_collection("admins", owner=None)
    body = {"endpoint_id": str(c.id), "path": "/"}
    assert load_collection(db, c.id).access.owner is None  # no administrator yet: nobody owns it
    with pytest.raises(PermissionDenied):
        run_action(providers["ls"], body, ALICE)
    admin = db.transact(lambda conn: ensure_identity(conn, "admin", now=clock.now()))
    admin_caller = Caller(f"urn:globus:auth:identity:{admin.id}")
    assert load_collection(db, c.id).access.owner == admin_caller.identity
    assert run_action(providers["ls"], body, admin_caller)["status"] == "SUCCEEDED"
    with pytest.raises(PermissionDenied):
        run_action(providers["ls"], body, ALICE)


def test_rules_are_stored_replaced_and_removed_with_their_collection(db: Database, tmp_path: Path):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    key = uuid.uuid4()
    rules = [(BOB.identity, ("a",), "r"), (GROUP, (), "rw")]
    db.transact(store.add_collection, collection_id=key, name="c", root=tmp_path, now=now, rules=rules)
    with db.read() as conn:
        stored = [(r.rule.principal, r.rule.path, r.rule.permissions) for r in store.list_rules(conn, key)]
    assert sorted(stored) == sorted(rules)
    rule, created = db.transact(
        store.set_rule, key, principal=BOB.identity, path=("a",), permissions="rw", now=now
    )
    assert not created and rule.permissions == "rw"
    db.transact(store.add_collection, collection_id=key, name="c", root=tmp_path, now=now)  # replaced
    with db.read() as conn:
        assert store.list_rules(conn, key) == []
    db.transact(store.set_rule, key, principal=BOB.identity, path=(), permissions="r", now=now)
    assert db.transact(store.remove_collection, key)
    with db.read() as conn:
        assert store.list_rules(conn, key) == []
