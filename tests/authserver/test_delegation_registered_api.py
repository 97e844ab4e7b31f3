"""A registered API called by a flow (issue 15) receives a token of the run's user for the API's scope,
through the run's delegation (issue 14), exactly as an action provider does: the flow's scope depends on the
API's scope, and the token the API gets was issued to alice for alice's run and to bob for bob's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import globus_sdk
import pytest
import sqlalchemy as sa
from delegationkit import LiveServer
from test_action_provider import register_provider
from test_delegation import make_flow, serving, start

from openflows.auth.tokens import hash_token
from openflows.language.openapi_target import (
    check_target,
    default_data_templates,
    reduce_document,
    state_input_schema,
)
from openflows.shared.urns import identity_urn
from openflows.store import registered_apis as store
from openflows.store.schema import tokens
from thingserver import ThingServer, openapi_document, thing_server


@pytest.fixture
def live(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[LiveServer]:
    with serving(settings, monkeypatch, tmp_path) as server:
        yield server


@pytest.fixture
def things() -> Iterator[ThingServer]:
    with thing_server() as server:
        yield server


def register_api(live: LiveServer, things: ThingServer, scope: str, owner: str) -> str:
    """GET /things/{thing_id} registered as an API whose operation needs `scope`."""
    document = openapi_document(things.base_url)
    document["paths"]["/things/{thing_id}"]["get"]["security"] = [{"GlobusAuth": [scope]}]
    target, problems = reduce_document(document, "GET", "/things/{thing_id}")
    assert target is not None, problems
    operation, problems = check_target(target)
    assert operation is not None and list(operation.scopes) == [scope], problems
    api_id = uuid.uuid4()
    with live.db.begin() as conn:
        store.create_registered_api(
            conn,
            api_id=api_id,
            created_by=owner,
            name="get a thing",
            description="",
            target=target,
            data_templates=default_data_templates(operation),
            state_input_schema=state_input_schema(operation),
            scopes=list(operation.scopes),
            owners=[owner],
            now=live.clock.now(),
        )
    return str(api_id)


def test_a_registered_api_gets_a_token_of_the_runs_user(live: LiveServer, things: ThingServer) -> None:
    registered = register_provider(live)  # type: ignore[arg-type]
    admin_id = live.person("admin")
    admin = live.token(admin_id)
    api_id = register_api(live, things, registered.scope, identity_urn(admin_id))
    definition = {
        "StartAt": "Get",
        "States": {
            "Get": {
                "Type": "Action",
                "Handler": {"Type": "RegisteredAPI", "Id": api_id},
                "Parameters": {"path": {"thing_id": "t1"}},
                "ResultPath": "$.thing",
                "End": True,
            }
        },
    }
    flow_id = make_flow(live, definition, admin=admin)
    assert live.flows(admin).validate_flow(definition)["scopes"] == {"User": [registered.scope]}
    introspector = globus_sdk.ConfidentialAppAuthClient(registered.client_id, registered.secret)
    for username in ("alice", "bob"):
        person = live.person(username)
        before = len(things.calls("/things/t1"))
        run_id = start(live, live.flow_token(person, flow_id), flow_id)
        live.drive()
        row = live.run_row(run_id)
        assert row["status"] == "SUCCEEDED", row["details"]
        [call] = things.calls("/things/t1")[before:]
        scheme, _, token = call["headers"]["authorization"].partition(" ")
        assert scheme == "Bearer" and token
        # the run has ended, so its delegated tokens are revoked by now: look the token up where it was issued
        with live.db.read() as conn:
            issued = conn.execute(sa.select(tokens).where(tokens.c.token_hash == hash_token(token))).one()
        assert (issued.identity_id, issued.resource_server) == (person, registered.client_id)
        assert registered.scope in issued.scopes and issued.revoked_at is not None
        assert introspector.oauth2_token_introspect(token)["active"] is False
