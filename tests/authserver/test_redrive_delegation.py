"""A redrive (issue 19) makes the run act as its user again: the tokens it held were given back when it
failed, so its user's redrive obtains new ones from their token (a token that does not rest on consent to
the flow gets the ConsentRequired GARE), and a run manager who is not its user is refused (403): only the
run's user can let it act as them again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from delegationkit import LiveServer, action, hello, live_server
from globus_sdk.gare import to_gare
from test_delegation import HELLO_SCOPE, hello_creator, make_flow

from openflows.auth.scopes import ALL, flow_scope
from openflows.settings import Settings
from openflows.shared.urns import identity_urn


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LiveServer]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with live_server(settings) as server:
        yield server


def _redrive(live: LiveServer, token: str, run_id: str) -> httpx.Response:
    return httpx.post(
        f"{live.base_url}runs/{run_id}/redrive", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_redrive_acts_as_the_run_user_again(live: LiveServer) -> None:
    admin = live.token(live.person("admin"))
    slow = action(
        "Slow",
        "https://actions.globus.org/hello_world",
        {"echo_string": "slow", "sleep_time": 60},
        WaitTime=1,
    )
    flow_id = make_flow(
        live, {"StartAt": "Hi", "States": {"Hi": hello("Hi", next_state="Slow"), "Slow": slow}}, admin=admin
    )
    alice, bob = live.person("alice"), live.person("bob")
    token = live.flow_token(alice, flow_id)
    run_id = live.specific(token, flow_id).run_flow({}, run_managers=[identity_urn(bob)])["run_id"]
    live.drive()
    row = live.run_row(run_id)
    assert row["status"] == "FAILED" and row["details"]["details"]["error"] == "ActionTimeout"
    assert live.grants(run_id) == []  # given back when it failed

    # a run manager cannot give the run alice's consent
    refused = _redrive(live, live.flow_token(bob, flow_id), run_id)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    assert "only they can redrive it" in refused.json()["error"]["detail"]

    # alice with a token that does not rest on consent to the flow: the GARE that asks for it
    missing = _redrive(live, live.token(alice, ALL), run_id)
    assert missing.status_code == 403, missing.text
    body = missing.json()
    assert body["error"]["code"] == "MISSING_SCOPE" and body["code"] == "ConsentRequired"
    gare = to_gare(body)
    assert gare is not None
    assert gare.authorization_parameters.required_scopes == [f"{flow_scope(flow_id)}[{HELLO_SCOPE}]"]
    assert live.run_row(run_id)["status"] == "FAILED"

    # alice with her flow token: new tokens, and the redriven state's new action acts as her
    done = _redrive(live, token, run_id)
    assert done.status_code == 200, done.text
    [grant] = live.grants(run_id)
    assert [r.revoked_at for r in live.token_rows([grant.token_id])] == [None]
    live.drive()
    assert live.run_row(run_id)["status"] == "FAILED"  # the provider is as slow as before
    creators: Any = hello_creator(live, run_id)
    assert creators == [identity_urn(alice)] * 3  # Hi once, Slow twice (before and after the redrive)
    assert live.grants(run_id) == []  # given back again


def test_tokens_not_given_back_yet_are_kept(live: LiveServer) -> None:
    """Redriven before the executor gave its tokens back: the run keeps them (the give-back is dropped), so
    even a run manager may redrive it."""
    admin = live.token(live.person("admin"))
    slow = action(
        "Slow", "https://actions.globus.org/hello_world", {"echo_string": "s", "sleep_time": 60}, WaitTime=1
    )
    flow_id = make_flow(live, {"StartAt": "Slow", "States": {"Slow": slow}}, admin=admin)
    alice, bob = live.person("alice"), live.person("bob")
    token = live.flow_token(alice, flow_id)
    run_id = live.specific(token, flow_id).run_flow({}, run_managers=[identity_urn(bob)])["run_id"]
    for _ in range(50):  # one item at a time, until the run has failed (its give-back not run yet)
        if live.run_row(run_id)["status"] == "FAILED":
            break
        if live.executor.tick(limit=1) == 0:
            live.clock.set(live.executor.next_due_at())
    assert live.run_row(run_id)["status"] == "FAILED"
    [grant] = live.grants(run_id)

    done = _redrive(live, live.flow_token(bob, flow_id), run_id)
    assert done.status_code == 200, done.text
    assert [row.grant_id for row in live.grants(run_id)] == [grant.grant_id]
    assert [r.revoked_at for r in live.token_rows([grant.token_id])] == [None]
    live.drive()
    assert live.run_row(run_id)["status"] == "FAILED"
    assert hello_creator(live, run_id) == [identity_urn(alice)] * 2  # still alice, not bob
    assert live.grants(run_id) == []
