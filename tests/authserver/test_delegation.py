"""Runs act as their users at every provider (issue 14), on a live server whose executor the test drives on a
fake clock: an external provider (tests/providers/external_ap.py, registered through the developer API)
introspects the tokens it receives and sees alice for alice's run and bob for bob's; built-in providers
called in process act as the token's identity; a run outlives its access tokens; a withdrawn consent sends
a run INACTIVE with a GARE, and new consent plus resume finishes it; an ended run's tokens are revoked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
import sqlalchemy as sa
from delegationkit import LiveServer, action, hello, live_server
from globus_sdk.gare import to_gare
from test_action_provider import consent_root, register_provider, user_tokens

from openflows.auth import authorization, catalog
from openflows.auth.scopes import ALL, PROVIDER_SCOPES, flow_scope
from openflows.settings import Settings
from openflows.shared.urns import identity_urn
from openflows.store.schema import provider_actions
from providers.apkit import APProcess

HELLO_SCOPE = PROVIDER_SCOPES["hello_world"]


@contextmanager
def serving(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        for service in ("AUTH", "GROUPS", "FLOWS"):
            monkeypatch.setenv(f"GLOBUS_SDK_SERVICE_URL_{service}", server.base_url)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        yield server


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LiveServer]:
    with serving(settings, monkeypatch, tmp_path) as server:
        yield server


@pytest.fixture
def provider_ap(live: LiveServer, tmp_path: Path) -> Any:
    """An external action provider registered through the developer API (scope `.../action_all`, depending
    on Groups' view scope), introspecting every token it gets with its own client credentials."""
    registered = register_provider(live)  # type: ignore[arg-type]
    process = APProcess(
        tmp_path,
        scope=registered.scope,
        auth_url=live.base_url,
        client=(registered.client_id, registered.secret),
    )
    process.start()
    try:
        yield registered, process
    finally:
        process.stop()


def make_flow(live: LiveServer, definition: dict[str, Any], *, admin: str) -> str:
    return live.flows(admin).create_flow(
        "delegated", definition, {}, flow_starters=["all_authenticated_users"]
    )["id"]


def start(live: LiveServer, token: str, flow_id: str, body: dict[str, Any] | None = None) -> str:
    return live.specific(token, flow_id).run_flow(body or {})["run_id"]


def hello_creator(live: LiveServer, run_id: str) -> list[str]:
    with live.db.read() as conn:
        rows = conn.execute(
            sa.select(provider_actions.c.creator_id).where(provider_actions.c.request_id.startswith(run_id))
        )
        return [row.creator_id for row in rows]


def test_each_run_acts_as_its_user_at_external_and_builtin_providers(
    live: LiveServer, provider_ap: Any
) -> None:
    registered, ap = provider_ap
    admin = live.token(live.person("admin"))
    definition = {
        "StartAt": "Ext",
        "States": {
            "Ext": action("Ext", ap.url, {"mode": "ok"}, "Hi"),
            "Hi": hello("Hi"),
        },
    }
    flow_id = make_flow(live, definition, admin=admin)
    flow = live.flows(admin).get_flow(flow_id)
    assert flow["globus_auth_scope"] == flow_scope(flow_id)
    validated = live.flows(admin).validate_flow(definition)
    assert validated["scopes"] == {"User": sorted([registered.scope, HELLO_SCOPE])}
    assert validated["analysis"]["warnings"] == [] and validated["analysis"]["unknown_scopes"] == {}
    # the flow's scope, as the Auth developer API shows it, depends on those scopes (as in Globus Auth)
    auth = globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer(admin))
    [scope_doc] = auth.get_scopes(scope_strings=[flow_scope(flow_id)])["scopes"]
    dependent_ids = {dep["scope"] for dep in scope_doc["dependent_scopes"]}
    listed = auth.get_scopes(ids=sorted(dependent_ids))["scopes"]
    assert sorted(item["scope_string"] for item in listed) == sorted([registered.scope, HELLO_SCOPE])

    seen: dict[str, str] = {}
    for username in ("alice", "bob"):
        person = live.person(username)
        run_id = start(live, live.flow_token(person, flow_id), flow_id)
        live.drive()
        assert live.run_row(run_id)["status"] == "SUCCEEDED", live.run_row(run_id)["details"]
        [[introspected]] = [
            answers
            for request_id, answers in ap.stats()["introspections_seen"].items()
            if run_id in request_id
        ]
        assert introspected["active"] is True and introspected["scope"] == registered.scope
        assert introspected["sub"] == str(person) and introspected["username"] == username
        assert introspected["identity_set"] == [str(person)]
        assert hello_creator(live, run_id) == [identity_urn(person)]  # the built-in acted as the token's user
        seen[username] = introspected["token_hash"]
    assert seen["alice"] != seen["bob"]


def test_a_run_outlives_its_access_tokens_and_its_starting_token(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with serving(settings.replace(access_token_seconds=3600), monkeypatch, tmp_path) as live:
        registered = register_provider(live)  # type: ignore[arg-type]
        ap = APProcess(
            tmp_path,
            scope=registered.scope,
            auth_url=live.base_url,
            client=(registered.client_id, registered.secret),
        )
        ap.start()
        try:
            admin = live.token(live.person("admin"))
            definition = {
                "StartAt": "Ext",
                "States": {
                    "Ext": action("Ext", ap.url, {"mode": "slow", "polls": 3}, "Hi", WaitTime=86400),
                    "Hi": hello("Hi"),
                },
            }
            flow_id = make_flow(live, definition, admin=admin)
            alice = live.person("alice")
            token = live.flow_token(alice, flow_id)
            run_id = start(live, token, flow_id)
            # the token that started the run is revoked (a `globus logout`): the run goes on regardless
            live.server.authenticator.revoke_token(token)
            for _ in range(5):  # every poll comes after the last access token expired
                live.executor.run_until_idle()
                live.clock.advance(2 * 3600)
            live.drive()
            assert live.run_row(run_id)["status"] == "SUCCEEDED", live.run_row(run_id)["details"]
            [answers] = [a for key, a in ap.stats()["introspections_seen"].items() if run_id not in key]
            assert len(answers) == 4 and all(a["active"] and a["sub"] == str(alice) for a in answers)
            assert len({a["token_hash"] for a in answers}) == 4  # a fresh access token for every poll
        finally:
            ap.stop()


def test_withdrawn_consent_makes_the_run_inactive_until_consent_and_resume(
    live: LiveServer, provider_ap: Any
) -> None:
    registered, ap = provider_ap
    admin = live.token(live.person("admin"))
    definition = {
        "StartAt": "Hi",
        "States": {
            "Hi": hello("Hi", next_state="Pause"),
            "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Ext"},
            "Ext": action("Ext", ap.url, {"mode": "ok"}),
        },
    }
    flow_id = make_flow(live, definition, admin=admin)
    alice = live.person("alice")

    def consent() -> tuple[str, str]:
        """Alice consents (the consent page's Allow) through gladier's client: (flow token, Flows token)."""
        tokens = user_tokens(live, alice, ["openid", ALL, flow_scope(flow_id)])  # type: ignore[arg-type]
        by_server = tokens.by_resource_server
        return by_server[flow_id]["access_token"], by_server["flows.globus.org"]["access_token"]

    token, flows_token = consent()
    run_id = start(live, token, flow_id)
    live.executor.run_until_idle()
    assert live.run_row(run_id)["cursor"]["state"] == "Pause"
    token_ids = [grant.token_id for grant in live.grants(run_id)]
    assert len(token_ids) == 2

    root = consent_root(live, alice, flow_scope(flow_id))  # type: ignore[arg-type]
    live.db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=root, now=live.clock.now()
        )
    )
    live.server.authenticator.invalidate()  # as a revocation through the server does (others: within seconds)
    live.clock.advance(61)
    live.executor.run_until_idle()

    dependencies = {HELLO_SCOPE: HELLO_SCOPE, registered.scope: f"{registered.scope}[{catalog.GROUPS_VIEW}]"}
    required = f"{flow_scope(flow_id)}[{' '.join(dependencies[scope] for scope in sorted(dependencies))}]"
    run = live.run_row(run_id)
    assert run["status"] == "INACTIVE"
    assert run["details"] == {
        "code": "ConsentRequired",
        "description": run["details"]["description"],
        "state_name": "Ext",
        "authorization_parameters": {
            "required_scopes": [required],
            "session_message": run["details"]["description"],
        },
    }
    assert not [key for key in ap.stats()["requests"] if run_id in key]  # the provider was never called
    document = live.flows(flows_token).get_run(run_id)  # the Flows token rests on another consent
    gare = to_gare(document["details"])
    assert gare is not None and gare.code == "ConsentRequired"
    assert gare.authorization_parameters.required_scopes == [required]

    # the flow token went with the consent; a token resting on new consent resumes the run
    with pytest.raises(globus_sdk.FlowsAPIError) as caught:
        live.specific(token, flow_id).resume_run(run_id)
    assert caught.value.http_status == 401
    fresh, _ = consent()
    assert live.specific(fresh, flow_id).resume_run(run_id)["status"] == "ACTIVE"
    renewed = [grant.token_id for grant in live.grants(run_id)]
    assert len(renewed) == 2 and not set(renewed) & set(token_ids)
    live.drive()
    assert live.run_row(run_id)["status"] == "SUCCEEDED", live.run_row(run_id)["details"]
    [[seen]] = [answers for key, answers in ap.stats()["introspections_seen"].items() if run_id in key]
    assert seen["sub"] == str(alice) and seen["active"] is True

    # the run ended: every token it held is revoked and nothing of them is kept
    assert live.grants(run_id) == []
    held = live.token_rows(token_ids + renewed)
    assert len(held) == 4 and all(row.revoked_at is not None for row in held)


def test_missing_consent_is_a_gare_that_gladier_and_the_cli_understand(live: LiveServer) -> None:
    admin = live.token(live.person("admin"))
    pass_only = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    flow_id = make_flow(live, pass_only, admin=admin)
    alice = live.person("alice")
    token = live.flow_token(alice, flow_id)  # consent given while the flow needed nothing
    assert live.specific(token, flow_id).validate_run({})["message"] == "validation successful"
    live.flows(admin).update_flow(flow_id, definition={"StartAt": "Hi", "States": {"Hi": hello("Hi")}})

    for call in ("run_flow", "validate_run"):
        with pytest.raises(globus_sdk.FlowsAPIError) as caught:
            getattr(live.specific(token, flow_id), call)({})
        error = caught.value
        assert error.http_status == 403 and error.code == "MISSING_SCOPE"  # what gladier looks at
        assert error.raw_json["code"] == "ConsentRequired"
        assert error.raw_json["authorization_parameters"] == {
            "required_scopes": [f"{flow_scope(flow_id)}[{HELLO_SCOPE}]"],
            "session_message": error.raw_json["authorization_parameters"]["session_message"],
        }
        assert error.raw_json["required_scopes"] == [f"{flow_scope(flow_id)}[{HELLO_SCOPE}]"]
        assert error.info.consent_required.required_scopes == [f"{flow_scope(flow_id)}[{HELLO_SCOPE}]"]
        gare = to_gare(error)
        assert gare is not None and gare.authorization_parameters.required_scopes == [
            f"{flow_scope(flow_id)}[{HELLO_SCOPE}]"
        ]

    fresh = live.flow_token(alice, flow_id)  # consent to the flow as it is now
    run_id = start(live, fresh, flow_id)
    live.drive()
    assert live.run_row(run_id)["status"] == "SUCCEEDED"
    assert hello_creator(live, run_id) == [identity_urn(alice)]


def test_run_as_flow_and_role_tokens(live: LiveServer) -> None:
    admin = live.token(live.person("admin"))
    definition = {
        "StartAt": "AsFlow",
        "States": {
            "AsFlow": hello("AsFlow", next_state="AsRole", RunAs="Flow"),
            "AsRole": hello("AsRole", RunAs="Reviewer"),
        },
    }
    flow_id = make_flow(live, definition, admin=admin)
    alice, carol = live.person("alice"), live.person("carol")
    role_token = live.token(carol, HELLO_SCOPE)
    run_id = start(live, live.flow_token(alice, flow_id), flow_id, {"_tokens": {"Reviewer": role_token}})
    live.drive()
    assert live.run_row(run_id)["status"] == "SUCCEEDED", live.run_row(run_id)["details"]
    assert sorted(hello_creator(live, run_id)) == sorted([identity_urn(flow_id), identity_urn(carol)])
    assert live.grants(run_id) == []  # no state runs as the user: nothing delegated

    # a role without a token: the built-in provider refuses the call
    run_id = start(live, live.flow_token(alice, flow_id), flow_id)
    live.drive()
    run = live.run_row(run_id)
    assert run["status"] == "FAILED" and "UnauthorizedRequest" in str(run["details"])


def test_canceled_and_released_runs_give_their_tokens_back(live: LiveServer) -> None:
    admin = live.token(live.person("admin"))
    definition = {
        "StartAt": "Hi",
        "States": {
            "Hi": hello("Hi", next_state="Pause"),
            "Pause": {"Type": "Wait", "Seconds": 600, "End": True},
        },
    }
    flow_id = make_flow(live, definition, admin=admin)
    alice = live.person("alice")
    token = live.flow_token(alice, flow_id)
    canceled = start(live, token, flow_id)
    live.executor.run_until_idle()
    [grant] = live.grants(canceled)
    live.flows(token).cancel_run(canceled)
    live.executor.run_until_idle()
    assert live.grants(canceled) == []
    assert [row.revoked_at is not None for row in live.token_rows([grant.token_id])] == [True]

    # released (deleted) before its own release item ran: the executor's sweep revokes what it held
    released = start(live, token, flow_id)
    live.executor.run_until_idle()
    [grant] = live.grants(released)
    live.clock.advance(601)
    live.db.transact(lambda conn: conn.exec_driver_sql("DELETE FROM work_items WHERE kind = 'revoke_tokens'"))
    live.executor.run_until_idle()
    live.db.transact(lambda conn: conn.exec_driver_sql("DELETE FROM work_items WHERE kind = 'revoke_tokens'"))
    live.flows(token).delete_run(released)
    live.clock.advance(120)
    live.executor.purge()
    assert live.grants(released) == []
    assert [row.revoked_at is not None for row in live.token_rows([grant.token_id])] == [True]


def test_admin_tokens_act_as_the_admin(live: LiveServer) -> None:
    admin_id = live.person("admin")
    admin = live.token(admin_id)
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}}, admin=admin)
    run_id = start(live, admin, flow_id)
    live.drive()
    assert live.run_row(run_id)["status"] == "SUCCEEDED"
    assert hello_creator(live, run_id) == [identity_urn(admin_id)]


def test_an_item_that_lost_consent_makes_its_run_inactive_until_consent_and_resume(
    live: LiveServer, provider_ap: Any
) -> None:
    """A Map of 3 whose item 1 calls its provider after the user withdrew consent: that item goes INACTIVE,
    the others finish, and the run is INACTIVE with a GARE the real globus-sdk reads (`to_gare`) naming the
    item; a resume with new consent finishes it, each item's action called once, results in item order."""
    registered, ap = provider_ap
    admin = live.token(live.person("admin"))
    ext = action("Ext", ap.url, {"mode": "ok", "echo.$": "$.name"})
    processor = {
        "StartAt": "Which",
        "States": {
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$._context.map_item.index", "NumericEquals": 1, "Next": "Pause"}],
                "Default": "Ext",
            },
            "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Ext"},
            "Ext": ext,
        },
    }
    fan = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": processor,
        "ResultPath": "$.out",
        "End": True,
    }
    flow_id = make_flow(live, {"StartAt": "Fan", "States": {"Fan": fan}}, admin=admin)
    alice = live.person("alice")

    def consent() -> tuple[str, str]:
        tokens = user_tokens(live, alice, ["openid", ALL, flow_scope(flow_id)])  # type: ignore[arg-type]
        by_server = tokens.by_resource_server
        return by_server[flow_id]["access_token"], by_server["flows.globus.org"]["access_token"]

    token, _ = consent()
    run_id = start(live, token, flow_id, {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    live.executor.run_until_idle()
    root = consent_root(live, alice, flow_scope(flow_id))  # type: ignore[arg-type]
    live.db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=root, now=live.clock.now()
        )
    )
    live.server.authenticator.invalidate()
    live.clock.advance(61)
    live.executor.run_until_idle()

    required = f"{flow_scope(flow_id)}[{registered.scope}[{catalog.GROUPS_VIEW}]]"
    assert live.run_row(run_id)["status"] == "INACTIVE"
    assert len(ap.stats()["requests"]) == 2  # items 0 and 2 ran before the consent went; item 1 never called
    fresh, flows_token = consent()
    document = live.flows(flows_token).get_run(run_id)
    details = document["details"]
    assert document["status"] == "INACTIVE"
    assert details["code"] == "ConsentRequired" and details["state_name"] == "Fan"
    assert details["iteration"] == {"state": "Fan", "index": 1}
    assert details["description"].startswith("Item 1 of state Fan is inactive: ")
    assert details["authorization_parameters"]["required_scopes"] == [required]
    gare = to_gare(document["details"])
    assert gare is not None and gare.code == "ConsentRequired"
    assert gare.authorization_parameters.required_scopes == [required]
    page = live.flows(flows_token).get(f"/runs/{run_id}/iterations/items", query_params={"state": "Fan"})
    assert [item["status"] for item in page["items"]] == ["SUCCEEDED", "INACTIVE", "SUCCEEDED"]
    assert page["items"][1]["reason"] == details["description"].removeprefix(
        "Item 1 of state Fan is inactive: "
    )
    assert "reason" not in page["items"][0]

    with pytest.raises(globus_sdk.FlowsAPIError) as caught:  # the flow token went with the consent
        live.specific(token, flow_id).resume_run(run_id)
    assert caught.value.http_status == 401
    assert live.specific(fresh, flow_id).resume_run(run_id)["status"] == "ACTIVE"
    live.drive()
    run = live.run_row(run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert [item["Ext"]["details"]["echo"] for item in run["run_state"]["out"]] == ["a", "b", "c"]
    assert len(ap.stats()["requests"]) == 3  # one action per item
    assert all(seen["sub"] == str(alice) for [seen] in ap.stats()["introspections_seen"].values())
