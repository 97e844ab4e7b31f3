"""The `manage_permission` built-in (and the retired `transfer/set_permission` URLs): the collection's owner
creates, updates and deletes access rules with Transfer's inputs and results, and each change takes effect
at once for the other providers; nobody else may manage them. Both databases."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from providerkit import ALICE, BOB, MakeCollection, add_identity, run_action, write_tree

from engine.enginekit import drive, get_run, insert_run
from openflows.auth.tokens import Authenticator, create_token
from openflows.engine.executor import Executor
from openflows.providers.base import BadActionRequest, Caller, Provider, ProviderRegistry
from openflows.providers.collections import Collection, PermissionDenied, load_collection
from openflows.providers.http import create_provider_router
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.db import Database
from openflows.store.identities import add_group_member, ensure_group, ensure_identity

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BOB_ID = BOB.identity.rsplit(":", 1)[1]


def _collection(make_collection: MakeCollection) -> Collection:
    c = make_collection("shareable")
    write_tree(c.root, {"shared/a.txt": "a", "private/p.txt": "p"})
    return c


def _rules(db: Database, c: Collection) -> list[tuple[str, str, str]]:
    return [(r.principal, r.shown_path, r.permissions) for r in load_collection(db, c.id).access.rules]


def test_create_update_delete_take_effect(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database
):
    c = _collection(make_collection)
    manage, ls, mkdir = providers["manage_permission"], providers["ls"], providers["mkdir"]
    listing = {"endpoint_id": str(c.id), "path": "/shared"}
    with pytest.raises(PermissionDenied):
        run_action(ls, listing, BOB)
    created = run_action(
        manage,
        {
            "operation": "CREATE",
            "endpoint_id": str(c.id),
            "path": "/~/shared/",
            "principal_type": "identity",
            "principal": BOB_ID,
            "permissions": "r",
        },
    )
    assert created["status"] == "SUCCEEDED", created["details"]
    details = created["details"]
    rule_id = details["access_id"]
    assert details == {
        "DATA_TYPE": "access_create_result",
        "code": "Created",
        "message": "Access rule created successfully.",
        "resource": f"/endpoint/{c.id}/access",
        "access_id": rule_id,
    }
    assert _rules(db, c) == [(BOB.identity, "/shared/", "r")]
    assert run_action(ls, listing, BOB)["status"] == "SUCCEEDED"
    with pytest.raises(PermissionDenied):
        run_action(mkdir, {"endpoint_id": str(c.id), "path": "/shared/new"}, BOB)

    updated = run_action(
        manage, {"operation": "UPDATE", "endpoint_id": str(c.id), "rule_id": rule_id, "permissions": "rw"}
    )
    assert updated["status"] == "SUCCEEDED"
    assert updated["details"]["code"] == "Updated" and updated["details"]["access_id"] == rule_id
    assert _rules(db, c) == [(BOB.identity, "/shared/", "rw")]
    assert run_action(mkdir, {"endpoint_id": str(c.id), "path": "/shared/new"}, BOB)["status"] == "SUCCEEDED"

    deleted = run_action(manage, {"operation": "delete", "endpoint_id": str(c.id), "rule_id": rule_id})
    assert deleted["status"] == "SUCCEEDED" and deleted["details"]["code"] == "Deleted"
    assert _rules(db, c) == []
    with pytest.raises(PermissionDenied):
        run_action(ls, listing, BOB)


def test_failures_have_transfers_codes(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database
):
    c = _collection(make_collection)
    manage = providers["manage_permission"]
    create = {
        "operation": "CREATE",
        "endpoint_id": str(c.id),
        "path": "/shared/",
        "principal_type": "all_authenticated_users",
        "principal": "",
        "permissions": "r",
    }
    first = run_action(manage, create)
    again = run_action(manage, {**create, "path": "/shared"})  # the same path, spelled otherwise
    assert again["status"] == "FAILED" and again["details"]["code"] == "Exists"
    assert again["details"]["access_id"] == first["details"]["access_id"]
    for operation in ("UPDATE", "DELETE"):
        missing = run_action(
            manage,
            {
                "operation": operation,
                "endpoint_id": str(c.id),
                "rule_id": str(uuid.uuid4()),
                "permissions": "r",
            },
        )
        assert missing["status"] == "FAILED" and missing["details"]["code"] == "AccessRuleNotFound"
    bad_bodies = [
        {**create, "operation": "GRANT"},
        {**create, "permissions": "w"},
        {**create, "principal_type": "user"},
        {**create, "principal": "someone"},
        {**create, "principal_type": "identity", "principal": "not-a-uuid"},
        {**create, "path": "/a/../b"},
        {"operation": "UPDATE", "endpoint_id": str(c.id), "rule_id": "nope", "permissions": "r"},
        {"operation": "DELETE", "endpoint_id": str(c.id)},
        {"operation": "CREATE", "endpoint_id": str(uuid.uuid4()), "path": "/", "principal_type": "anonymous"},
    ]
    for body in bad_bodies:
        with pytest.raises(BadActionRequest):
            run_action(manage, body)
    assert _rules(db, c) == [("all_authenticated_users", "/shared/", "r")]


def test_only_the_owner_manages_rules(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database
):
    """Not bob, not even with read-write access to all of it, and not a group member."""
    group = "urn:globus:groups:id:77777777-7777-4777-8777-777777777777"
    c = make_collection("owned", rules=((BOB.identity, (), "rw"), (group, (), "rw")))
    manage = providers["manage_permission"]
    body = {
        "operation": "CREATE",
        "endpoint_id": str(c.id),
        "path": "/",
        "principal_type": "identity",
        "principal": BOB_ID,
        "permissions": "rw",
    }
    for who in (BOB, Caller(BOB.identity, groups=(group,))):
        with pytest.raises(PermissionDenied, match="only the owner"):
            run_action(manage, body, who)
    [rule] = [r for r in load_collection(db, c.id).access.rules if r.principal == BOB.identity]
    for operation in ("UPDATE", "DELETE"):
        with pytest.raises(PermissionDenied):
            run_action(manage, {**body, "operation": operation, "rule_id": str(rule.id)}, BOB)
    assert len(load_collection(db, c.id).access.rules) == 2


def test_a_replayed_create_answers_as_the_first_time(
    providers: dict[str, Provider], make_collection: MakeCollection, db: Database
):
    """The same request_id is the same action; and a CREATE whose action record was lost (a crash after
    the rule was made) finds its own rule instead of failing with Exists."""
    c = _collection(make_collection)
    manage = providers["manage_permission"]
    body = {
        "operation": "CREATE",
        "endpoint_id": str(c.id),
        "path": "/shared/",
        "principal_type": "identity",
        "principal": BOB_ID,
        "permissions": "r",
    }
    request = {"request_id": "run-1/Share/0/0", "body": body}
    first, created = manage.run(request, ALICE)
    again, created_again = manage.run(request, ALICE)
    assert created and not created_again and again["action_id"] == first["action_id"]
    import sqlalchemy as sa

    from openflows.store.schema import provider_actions

    db.transact(lambda conn: conn.execute(sa.delete(provider_actions)))  # the record is lost
    replayed, created = manage.run(request, ALICE)
    assert created and replayed["status"] == "SUCCEEDED"
    assert replayed["details"]["access_id"] == first["details"]["access_id"]
    other, _ = manage.run({"request_id": "run-2/Share/0/0", "body": body}, ALICE)
    assert other["status"] == "FAILED" and other["details"]["code"] == "Exists"
    assert len(_rules(db, c)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://transfer.actions.globus.org/manage_permission",
        "https://actions.globus.org/transfer/set_permission",
        "https://actions.automate.globus.org/transfer/set_permission",
    ],
)
def test_a_flow_grants_access_and_the_rule_takes_effect(
    db: Database,
    settings: Settings,
    providers: dict[str, Provider],
    clock: FakeClock,
    make_collection: MakeCollection,
    url: str,
):
    """A flow of the owner shares a directory with bob through the hosted URL (current or retired); then a
    flow of bob lists it; bob's flow listing elsewhere fails, and so does a flow of bob managing rules."""
    from engine.enginekit import OWNER

    c = make_collection("flowshare", owner=OWNER)
    write_tree(c.root, {"out/result.txt": "42", "private/p": "p"})
    registry = ProviderRegistry(providers.values(), base_urls=["http://openflows.test"])
    executor = Executor(db, settings, registry=registry, clock=clock, threads=1)

    def action(action_url: str, parameters: dict[str, Any]) -> dict[str, Any]:
        state = {"Type": "Action", "ActionUrl": action_url, "Parameters": parameters, "ResultPath": "$.r"}
        return {"StartAt": "A", "States": {"A": {**state, "End": True}}}

    share = action(
        url,
        {
            "endpoint_id": str(c.id),
            "path": "/out/",
            "operation": "CREATE",
            "permissions": "r",
            "principal_type": "identity",
            "principal.$": "$.who",
        },
    )
    ls = "https://transfer.actions.globus.org/ls"
    shared = insert_run(db, share, {"who": BOB_ID}, now=clock.now(), owner=OWNER)
    bob_reads = insert_run(
        db, action(ls, {"endpoint_id": str(c.id), "path": "/out"}), {}, now=clock.now(), owner=BOB.identity
    )
    drive(executor, clock)
    run = get_run(db, shared)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["r"]["details"]["code"] == "Created"
    run = get_run(db, bob_reads)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert [e["name"] for e in run["details"]["output"]["r"]["details"]["DATA"]] == ["result.txt"]
    bob_strays = insert_run(
        db,
        action(ls, {"endpoint_id": str(c.id), "path": "/private"}),
        {},
        now=clock.now(),
        owner=BOB.identity,
    )
    bob_shares = insert_run(db, share, {"who": BOB_ID}, now=clock.now(), owner=BOB.identity)
    drive(executor, clock)
    for run_id in (bob_strays, bob_shares):
        run = get_run(db, run_id)
        assert run["status"] == "FAILED" and run["details"]["details"]["cause"]["code"] == "PermissionDenied"


# -- over HTTP, with real tokens and real group memberships --------------------------------------------------


@pytest.fixture
def site(db: Database, providers: dict[str, Provider]) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """The providers over HTTP; tokens of alice (ALICE, the owner of `make_collection`'s collections),
    bob and carol; bob is a member of the group `readers` (its URN is returned)."""
    now = dt.datetime.now(dt.UTC)
    tokens = {}
    with db.begin() as conn:
        identities = {"alice": add_identity(conn, "alice", ALICE, now=now)}
        identities["bob"] = ensure_identity(conn, "bob", now=now).id
        identities["carol"] = ensure_identity(conn, "carol", now=now).id
        readers = ensure_group(conn, "readers", now=now)
        add_group_member(conn, group_id=readers.id, identity_id=identities["bob"])
        for who, identity_id in identities.items():
            tokens[who], _ = create_token(conn, identity_id=identity_id, now=now)
    app = FastAPI()
    app.include_router(
        create_provider_router(ProviderRegistry(providers.values()), Authenticator(db).authenticate)
    )
    with TestClient(app) as client:
        yield client, tokens, f"urn:globus:groups:id:{readers.id}"


def test_a_group_rule_made_over_http_lets_members_in(
    site: tuple[TestClient, dict[str, str], str], make_collection: MakeCollection
):
    client, tokens, readers = site
    c = _collection(make_collection)

    def start(name: str, body: dict[str, Any], who: str) -> Any:
        request = {"request_id": uuid.uuid4().hex, "body": body}
        return client.post(
            f"/actions/{name}/run", json=request, headers={"Authorization": f"Bearer {tokens[who]}"}
        )

    listing = {"endpoint_id": str(c.id), "path": "/shared"}
    refused = start("ls", listing, "bob")
    assert refused.status_code == 403 and refused.json()["code"] == "PermissionDenied"
    grant = {
        "operation": "CREATE",
        "endpoint_id": str(c.id),
        "path": "/shared/",
        "principal_type": "group",
        "principal": readers.rsplit(":", 1)[1],
        "permissions": "r",
    }
    assert start("manage_permission", grant, "bob").status_code == 403  # a member is not the owner
    made = start("manage_permission", grant, "alice")
    assert made.status_code == 202 and made.json()["status"] == "SUCCEEDED", made.json()
    listed = start("ls", listing, "bob")
    assert listed.status_code == 202 and listed.json()["status"] == "SUCCEEDED"
    assert sorted(e["name"] for e in listed.json()["details"]["DATA"]) == ["a.txt"]
    outsider = start("ls", listing, "carol")
    assert outsider.status_code == 403 and outsider.json() == {
        "code": "PermissionDenied",
        "description": f"Permission denied: you may not read '/shared' on collection {c.id}",
    }


def test_past_the_rule_limit_create_fails_with_limit_exceeded(
    providers: dict[str, Provider],
    make_collection: MakeCollection,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
):
    from openflows.store import collections as store

    monkeypatch.setattr(store, "MAX_RULES", 2)
    c = _collection(make_collection)
    body = {"operation": "CREATE", "endpoint_id": str(c.id), "principal_type": "identity", "permissions": "r"}
    results = [
        run_action(providers["manage_permission"], {**body, "path": f"/p{n}/", "principal": BOB_ID})
        for n in range(3)
    ]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert results[2]["details"]["code"] == "LimitExceeded"
    assert len(_rules(db, c)) == 2
