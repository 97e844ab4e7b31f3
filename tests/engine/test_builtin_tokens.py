"""The engine calls built-in providers in process, but they authenticate the token they are given exactly as
their HTTP routes do: they act as the token's identity, refuse a call without a valid token (unless the
executor runs without a token system and names a trusted caller) and one lacking the provider's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from openflows.auth.scopes import PROVIDER_SCOPES
from openflows.auth.tokens import Authenticator, create_token
from openflows.engine.actions import ActionClient
from openflows.providers.base import Caller, ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.shared.clock import FakeClock
from openflows.shared.urns import identity_urn
from openflows.store.db import Database
from openflows.store.identities import ensure_identity

URL = "https://actions.globus.org/hello_world"


def token(db: Database, username: str, *scopes: str) -> tuple[str, str]:
    def make(conn: Any) -> tuple[str, str]:
        identity = ensure_identity(conn, username, now=dt.datetime.now(dt.UTC))
        value, _ = create_token(
            conn, identity_id=identity.id, scopes=list(scopes), now=dt.datetime.now(dt.UTC)
        )
        return value, identity_urn(identity.id)

    return db.transact(make)


def test_in_process_calls_act_as_the_tokens_identity(db: Database) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    registry = ProviderRegistry([HelloWorldProvider(db, clock=clock)])
    client = ActionClient(registry, authenticate=Authenticator(db, now=clock.now).authenticate, clock=clock)
    alice, alice_urn = token(db, "alice", PROVIDER_SCOPES["hello_world"])
    bob, _ = token(db, "bob", PROVIDER_SCOPES["transfer"])
    owner = Caller(identity="urn:globus:auth:identity:00000000-0000-4000-8000-000000000001")

    def start(request_id: str, **who: Any) -> Any:
        return client.start(URL, {"request_id": request_id, "body": {"echo_string": "hi"}}, **who)

    done = start("r1", caller=owner, token=alice)  # the token wins over any trusted caller
    assert done.ok and done.status is not None and done.status["creator_id"] == alice_urn
    refused = start("r2", caller=None, token=bob)
    assert refused.outcome == "rejected" and refused.error is not None
    assert refused.error["code"] == "ForbiddenRequest" and refused.http_status == 403
    for who in ({"caller": None, "token": None}, {"caller": owner, "token": "of_" + "x" * 43}):
        unknown = start("r3", **who)
        assert unknown.outcome == "rejected" and unknown.error is not None
        assert unknown.error["code"] == "UnauthorizedRequest" and unknown.http_status == 401
    # the same token gets the same action back; another identity does not see it
    action_id = done.status["action_id"]
    assert client.status(URL, action_id, caller=None, token=alice).status["creator_id"] == alice_urn
    hello_bob, _ = token(db, "bob", PROVIDER_SCOPES["hello_world"])
    assert client.status(URL, action_id, caller=None, token=hello_bob).outcome == "rejected"

    # without a token system (engine tests, tools) the executor names a trusted caller
    trusted = ActionClient(registry, clock=clock).start(
        URL, {"request_id": "r4", "body": {}}, caller=owner, token=None
    )
    assert trusted.ok and trusted.status is not None and trusted.status["creator_id"] == owner.identity
