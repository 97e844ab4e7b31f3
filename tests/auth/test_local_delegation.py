"""Delegation through OpenFlows' own Auth on a real database (both backends): consent to a flow's scope covers
its dependent scopes; a run's grant is the dependent-token grant for the flow, one refresh token per resource
server, resting on the consents below the flow's scope (not on the starting token); refresh, consent
withdrawal, administrators' tokens, the flow's own identity; and `Delegations`' sealing, caching and key
rotation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from openflows.auth import authorization, catalog
from openflows.auth.delegation import ConsentRequired, Subject
from openflows.auth.issuing import REFRESH, Lifetimes
from openflows.auth.keys import SecretBox
from openflows.auth.local_delegation import LocalDelegationSource
from openflows.auth.scopes import PROVIDER_SCOPES, WILDCARD, flow_scope
from openflows.auth.tokens import create_token, revoke_token
from openflows.engine.delegation import NO_DELEGATION, Delegations
from openflows.shared.clock import FakeClock
from openflows.store import flows as flow_store
from openflows.store.auth_consents import list_consents
from openflows.store.db import Database
from openflows.store.identities import ensure_identity, get_token
from openflows.store.schema import run_delegations, tokens

HELLO = PROVIDER_SCOPES["hello_world"]
TRANSFER = catalog.TRANSFER_ALL
OLD_KEY = "o" * 40
NEW_KEY = "n" * 40


def setup(db: Database, clock: FakeClock, dependent: list[str]) -> tuple[uuid.UUID, uuid.UUID]:
    """A flow with these dependent scopes and a person; their ids."""
    flow_id = uuid.uuid4()

    def make(conn: Any) -> uuid.UUID:
        flow_store.create_flow(
            conn,
            flow_id=flow_id,
            flow_owner="urn:globus:auth:identity:00000000-0000-4000-8000-000000000000",
            title="delegating",
            definition={"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            input_schema={},
            now=clock.now(),
            dependent_scopes=dependent,
        )
        return ensure_identity(conn, "alice", now=clock.now()).id

    return flow_id, db.transact(make)


def subject(db: Database, token: str) -> Subject:
    from openflows.auth.tokens import lookup_principal

    with db.read() as conn:
        principal = lookup_principal(conn, token, now=dt.datetime.now(dt.UTC))
    assert principal is not None
    return Subject(principal.identity_id, principal.scopes, principal.token_id)


def flow_row(db: Database, flow_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as conn:
        flow = flow_store.get_flow(conn, flow_id=flow_id)
    assert flow is not None
    return flow


def test_consent_grant_refresh_and_withdrawal(db: Database) -> None:
    clock = FakeClock()
    source = LocalDelegationSource(db, lifetimes=Lifetimes(access=dt.timedelta(hours=1)), now=clock.now)
    flow_id, alice = setup(db, clock, [HELLO, TRANSFER])
    token, row = db.transact(
        lambda conn: create_token(conn, identity_id=alice, scopes=[flow_scope(flow_id)], now=clock.now())
    )
    # `openflows tokens create --scope <flow>`: consent for the command line's client, with the dependencies
    with db.read() as conn:
        consents = list_consents(conn, alice)
    assert [(c.scope_string, c.client_id, c.parent_id is None) for c in consents] == [
        (flow_scope(flow_id), catalog.OPENFLOWS_CLI_CLIENT_ID, True),
        (HELLO, flow_id, False),
        (TRANSFER, flow_id, False),
    ]
    assert row.consent_ids == [consents[0].id]
    who = subject(db, token)
    flow = flow_row(db, flow_id)
    assert source.check(who, flow) is None

    grants = db.transact(lambda conn: source.obtain(conn, who, flow, None, now=clock.now()))
    assert isinstance(grants, list)
    assert sorted((g.resource_server, g.scopes) for g in grants) == [
        ("actions.globus.org", (HELLO,)),
        ("transfer.api.globus.org", (TRANSFER,)),
    ]
    with db.read() as conn:
        refresh_rows = [get_token(conn, grant.token_id) for grant in grants]
    assert all(r.kind == REFRESH and r.parent_id is None and r.client_id == flow_id for r in refresh_rows)
    assert sorted(int(r.consent_ids[0]) for r in refresh_rows) == [consents[1].id, consents[2].id]

    # the token that started the run may go (a logout): the grant does not rest on it
    db.transact(lambda conn: revoke_token(conn, token, now=clock.now()))
    stored = stored_grants(db, grants)
    with db.read() as conn:
        assert source.usable(conn, stored)
    clock.advance(2 * 3600)  # past the access tokens' lifetime
    access = source.refresh(stored[0], grants[0].refresh_token)
    assert access is not None and access.expires_at == clock.now() + dt.timedelta(hours=1)
    assert access.token not in {g.access_token for g in grants}

    # withdrawing the consent revokes the grant: it is no longer usable nor refreshable
    done = db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=consents[0].id, now=clock.now()
        )
    )
    assert done is not None and set(done.consent_ids) == {c.id for c in consents}
    with db.read() as conn:
        assert not source.usable(conn, stored)
        assert list_consents(conn, alice) == []
    assert source.refresh(stored[0], grants[0].refresh_token) is None


def test_missing_consent_names_the_flow_scope_with_its_dependencies(db: Database) -> None:
    clock = FakeClock()
    source = LocalDelegationSource(db, lifetimes=Lifetimes(), now=clock.now)
    flow_id, alice = setup(db, clock, [HELLO])
    token, _ = db.transact(
        lambda conn: create_token(conn, identity_id=alice, scopes=[flow_scope(flow_id)], now=clock.now())
    )
    db.transact(
        lambda conn: flow_store.update_flow(
            conn,
            flow_id=flow_id,
            changes={"title": "more"},
            now=clock.now(),
            dependent_scopes=[HELLO, TRANSFER],
        )
    )
    flow = flow_row(db, flow_id)
    missing = source.check(subject(db, token), flow)
    assert missing == ConsentRequired((f"{flow_scope(flow_id)}[{HELLO} {TRANSFER}]",))
    obtained = db.transact(lambda conn: source.obtain(conn, subject(db, token), flow, None, now=clock.now()))
    assert obtained == missing
    assert source.requirement(flow_id).required_scopes == missing.required_scopes


def test_an_administrators_token_acts_as_the_administrator(db: Database) -> None:
    clock = FakeClock()
    source = LocalDelegationSource(db, lifetimes=Lifetimes(), now=clock.now)
    flow_id, admin = setup(db, clock, [HELLO])
    token, row = db.transact(lambda conn: create_token(conn, identity_id=admin, now=clock.now()))
    assert list(row.scopes) == [WILDCARD] and row.consent_ids is None
    who, flow = subject(db, token), flow_row(db, flow_id)
    assert source.check(who, flow) is None
    [grant] = db.transact(lambda conn: source.obtain(conn, who, flow, None, now=clock.now()))
    with db.read() as conn:
        assert get_token(conn, grant.token_id).parent_id == row.id
    db.transact(lambda conn: revoke_token(conn, token, now=clock.now()))  # the grant rests on that token
    with db.read() as conn:
        assert not source.usable(conn, stored_grants(db, [grant]))


def test_the_flows_own_identity(db: Database) -> None:
    clock = FakeClock()
    source = LocalDelegationSource(db, lifetimes=Lifetimes(), now=clock.now)
    flow_id, _ = setup(db, clock, [])
    access = source.flow_token(flow_id, HELLO)
    assert access is not None
    from openflows.auth.tokens import lookup_principal

    with db.read() as conn:
        principal = lookup_principal(conn, access.token, now=clock.now())
    assert principal is not None and principal.identity_id == flow_id
    assert principal.username == f"{flow_id}@clients.auth.globus.org" and principal.scopes == {HELLO}
    assert source.flow_token(uuid.uuid4(), HELLO) is None  # no such flow


def stored_grants(db: Database, grants: list[Any]) -> list[Any]:
    from openflows.auth.delegation import StoredGrant

    return [
        StoredGrant(uuid.uuid4(), uuid.uuid4(), grant.resource_server, grant.scopes, grant.token_id, "")
        for grant in grants
    ]


def test_delegations_seal_cache_refresh_and_rotate(db: Database) -> None:
    clock = FakeClock()
    source = LocalDelegationSource(db, lifetimes=Lifetimes(access=dt.timedelta(hours=1)), now=clock.now)
    delegations = Delegations(db, source, SecretBox([OLD_KEY]), now=clock.now)
    flow_id, alice = setup(db, clock, [HELLO, TRANSFER])
    token, _ = db.transact(
        lambda conn: create_token(conn, identity_id=alice, scopes=[flow_scope(flow_id)], now=clock.now())
    )
    flow, who = flow_row(db, flow_id), subject(db, token)
    run_a, run_b = uuid.uuid4(), uuid.uuid4()
    for run_id in (run_a, run_b):
        assert (
            db.transact(
                lambda conn, run_id=run_id: delegations.obtain(
                    conn, run_id=run_id, subject=who, flow=flow, prepared=None, now=clock.now()
                )
            )
            is None
        )
    first = delegations.token_for(run_a, flow_id, HELLO)
    assert isinstance(first, str) and delegations.token_for(run_a, flow_id, HELLO) == first  # cached
    assert delegations.token_for(run_a, flow_id, "urn:not:delegated") is None
    assert delegations.token_for(uuid.uuid4(), flow_id, HELLO) is NO_DELEGATION
    clock.advance(3600 - 60)  # inside the refresh margin: a new token
    second = delegations.token_for(run_a, flow_id, HELLO)
    assert isinstance(second, str) and second != first

    with db.read() as conn:
        rows = {(row.run_id, row.resource_server): row for row in conn.execute(sa.select(run_delegations))}
    assert all(row.refresh_token.startswith("v1.") for row in rows.values())  # sealed, never in clear
    # a sealed token moved to another run does not open there (sealing is bound to run and resource server)
    moved = rows[(run_a, "transfer.api.globus.org")].refresh_token
    db.transact(
        lambda conn: conn.execute(
            run_delegations.update()
            .where(
                run_delegations.c.run_id == run_b,
                run_delegations.c.resource_server == "transfer.api.globus.org",
            )
            .values(refresh_token=moved)
        )
    )
    fresh = Delegations(db, source, SecretBox([OLD_KEY]), now=clock.now)  # another process: empty cache
    assert isinstance(fresh.token_for(run_b, flow_id, TRANSFER), ConsentRequired)

    # key rotation: "new,old" seals everything again with the new key; then the old key can go
    rotated = Delegations(db, source, SecretBox([NEW_KEY, OLD_KEY]), now=clock.now)
    assert rotated.reseal() == 3  # the moved one opens nowhere and stays as it is
    assert rotated.reseal() == 0
    only_new = Delegations(db, source, SecretBox([NEW_KEY]), now=clock.now)
    assert isinstance(only_new.token_for(run_a, flow_id, TRANSFER), str)

    # a run that ends gives everything back
    with db.read() as conn:
        held = [
            row.token_id
            for row in conn.execute(sa.select(run_delegations).where(run_delegations.c.run_id == run_a))
        ]
    assert only_new.release(run_a) == 2 and only_new.release(run_a) == 0
    with db.read() as conn:
        revoked = conn.execute(sa.select(tokens.c.revoked_at).where(tokens.c.id.in_(held))).scalars().all()
    assert len(revoked) == 2 and all(revoked)
    assert only_new.token_for(run_a, flow_id, HELLO) is NO_DELEGATION


def test_a_clients_own_token_acts_as_the_client(db: Database) -> None:
    from openflows.auth import issuing

    clock = FakeClock(dt.datetime.now(dt.UTC))  # `subject` reads the token at the real time
    source = LocalDelegationSource(db, lifetimes=Lifetimes(), now=clock.now)
    flow_id, robot = setup(db, clock, [HELLO])
    [issued] = db.transact(  # what the client-credentials grant issues: no consent behind it
        lambda conn: issuing.issue(
            conn,
            identity_id=robot,
            client_id=uuid.uuid4(),
            by_server={str(flow_id): [flow_scope(flow_id)]},
            lifetimes=Lifetimes(),
            now=clock.now(),
        )
    )
    who, flow = subject(db, issued.access_token), flow_row(db, flow_id)
    assert source.check(who, flow) is None
    [grant] = db.transact(lambda conn: source.obtain(conn, who, flow, None, now=clock.now()))
    with db.read() as conn:
        assert get_token(conn, grant.token_id).parent_id == issued.access_id


def test_expand_flow_is_expand_in_fewer_queries(db: Database) -> None:
    from openflows.auth import scope_registry
    from openflows.auth.scope_strings import ScopeRequirement
    from openflows.store import auth_scopes

    clock = FakeClock()
    client = uuid.uuid4()
    ap_scope = f"https://auth.globus.org/scopes/{client}/action_all"
    inner_scope = f"https://auth.globus.org/scopes/{client}/inner"

    def register(conn: Any) -> None:
        from openflows.auth.builtins import ensure_catalog

        ensure_catalog(conn, now=clock.now(), base_url=None)
        for text, scope_id in ((ap_scope, uuid.uuid4()), (inner_scope, uuid.uuid4())):
            auth_scopes.insert_scope(
                conn,
                auth_scopes.NewScope(
                    id=scope_id,
                    scope_string=text,
                    resource_server=str(client),
                    client_id=client,
                    name=text,
                    description="",
                ),
                now=clock.now(),
            )
        ids = {
            row.scope_string: row.id
            for row in auth_scopes.get_scopes_by_strings(conn, [ap_scope, inner_scope])
        }
        auth_scopes.set_dependencies(
            conn,
            ids[ap_scope],
            [
                auth_scopes.Dependency(catalog.GROUPS_VIEW_SCOPE_ID, False, False),
                auth_scopes.Dependency(ids[inner_scope], True, False),
            ],
        )
        auth_scopes.set_dependencies(
            conn, ids[inner_scope], [auth_scopes.Dependency(ids[ap_scope], False, False)]
        )

    db.transact(register)
    flow_id, _ = setup(db, clock, [HELLO, ap_scope, "urn:unknown:scope"])
    flow = flow_row(db, flow_id)
    with db.read() as conn:
        fast, known = scope_registry.expand_flow(conn, flow)
        slow = scope_registry.expand(conn, ScopeRequirement(flow_scope(flow_id)))
    assert fast == slow
    [hello, ap] = fast.dependencies  # the unknown scope is left out
    assert (hello.scope_string, hello.dependencies) == (HELLO, ())
    assert ap.scope_string == ap_scope
    assert {(dep.scope_string, dep.optional) for dep in ap.dependencies} == {
        (catalog.GROUPS_VIEW, False),
        (inner_scope, True),
    }
    [inner] = [dep for dep in ap.dependencies if dep.scope_string == inner_scope]
    assert inner.dependencies == ()  # the cycle back to ap_scope is cut
    assert set(known) >= {HELLO, ap_scope, inner_scope, catalog.GROUPS_VIEW}
