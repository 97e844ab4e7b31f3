"""The tokens runs hold for their users never leave the vault: after runs of a flow calling an external and a
built-in provider as their users, the SQLite database file (and its WAL), every log record of every logger,
and every API answer (run documents, logs, definitions, flows, validations, errors) are searched for every
delegated refresh and access token value: none is found. The sealed form is found in the database file (so
the search can find what is there)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
from delegationkit import LiveServer, action, hello
from test_action_provider import register_provider
from test_delegation import make_flow, serving, start

from openflows.engine.delegation import _purpose
from openflows.settings import Settings
from providers.apkit import APProcess


def _opened(live: LiveServer, run_id: str) -> list[tuple[str, str]]:
    """(sealed, opened) refresh tokens the run holds."""
    box = live.executor.delegations.box
    return [
        (
            grant.refresh_token,
            box.open(grant.refresh_token, purpose=_purpose(grant.run_id, grant.resource_server)).decode(),
        )
        for grant in live.grants(run_id)
    ]


def _answers(
    live: LiveServer, owners: dict[str, str], admin: str, flow_id: str, definition: Any
) -> list[str]:
    """The text of every kind of API answer about these runs (run id -> its owner's token) and their flow."""
    run_ids = list(owners)
    token = owners[run_ids[0]]
    flows = live.flows(token)
    specific = live.specific(token, flow_id)
    texts = [
        flows.list_runs().text,
        flows.list_flows().text,
        flows.get_flow(flow_id).text,
        live.flows(admin).get_flow(flow_id).text,
        live.flows(admin).validate_flow(definition).text,
        specific.validate_run({}).text,
    ]
    for run_id, owner in owners.items():
        texts += [
            live.flows(owner).get_run(run_id, include_flow_description=True).text,
            live.flows(owner).get_run_logs(run_id, limit=100).text,
            live.flows(owner).get_run_definition(run_id).text,
            live.flows(owner).list_runs().text,
        ]
    for call in (
        lambda: live.specific(live.token(live.person("carol"), "all"), flow_id).run_flow({}),  # no consent
        lambda: flows.get_run("00000000-0000-4000-8000-000000000000"),
        lambda: specific.resume_run(run_ids[0]),  # a SUCCEEDED run: 409
    ):
        try:
            texts.append(call().text)
        except globus_sdk.GlobusAPIError as exc:
            texts.append(exc.text)
    return texts


def test_delegated_tokens_appear_nowhere(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("searches the SQLite database file")
    caplog.set_level(logging.DEBUG)
    database_file = Path(settings.database_url.removeprefix("sqlite:///"))
    with serving(settings, monkeypatch, tmp_path) as live:
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
                    "Ext": action("Ext", ap.url, {"mode": "slow", "polls": 1}, "Hi", WaitTime=86400),
                    "Hi": hello("Hi", next_state="Pause"),
                    "Pause": {"Type": "Wait", "Seconds": 3600, "End": True},
                },
            }
            flow_id = make_flow(live, definition, admin=admin)
            alice, bob = live.person("alice"), live.person("bob")
            alice_token = live.flow_token(alice, flow_id)
            finished = start(live, alice_token, flow_id)
            held = _opened(live, finished)
            access = [value.token for value in live.executor.delegations._access.values()]
            live.drive(max_seconds=7200)
            bob_token = live.flow_token(bob, flow_id)
            waiting = start(live, bob_token, flow_id)  # stays in Pause, holding its tokens
            held += _opened(live, waiting)
            for _ in range(3):
                live.executor.run_until_idle()
                live.clock.advance(5)
            assert live.run_row(finished)["status"] == "SUCCEEDED"
            assert live.run_row(waiting)["cursor"]["state"] == "Pause" and len(held) == 4

            access += [value.token for value in live.executor.delegations._access.values()]
            seen = [header.split(" ", 1)[1] for header in ap.stats()["authorizations"] if header]
            secrets = {opened for _, opened in held} | set(access) | set(seen)
            assert len(secrets) == 8  # 4 refresh tokens, 4 access tokens
            answers = _answers(live, {finished: alice_token, waiting: bob_token}, admin, flow_id, definition)
        finally:
            ap.stop()

    stored = b"".join(
        path.read_bytes() for path in (database_file, Path(f"{database_file}-wal")) if path.exists()
    )
    assert held[-1][0].encode() in stored  # the sealed form is there: the search finds what is stored
    records = [
        " ".join([record.getMessage(), repr(record.args), repr(record.__dict__)]) for record in caplog.records
    ]
    assert records and answers
    for secret in secrets:
        assert secret.encode() not in stored
        assert not [record for record in records if secret in record]
        assert not [answer for answer in answers if secret in answer]
