"""`_tokens` in run input (issue 12, item 4): the bearer tokens a run hands the engine for external
providers are private data. They reach the provider (as its bearer token, at /run and at /resume), and they
appear in no API answer: not the run_flow answer, the run document, run lists, the log, the run definition,
update, resume, cancel, release or batch answers, for the owner, a manager or a monitor.

The stack is real: the API on this test's database (SQLite and PostgreSQL), an executor on the same database,
and the external Action Provider of tests/providers/external_ap.py in its own process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openflows.engine.actions import ActionClient
from openflows.engine.executor import Executor
from openflows.providers.base import ProviderRegistry
from openflows.settings import Settings
from openflows.store.db import Database
from providers.apkit import APProcess

from .conftest import MakeUser, User

SCHEMA = {"type": "object", "properties": {"note": {"type": "string"}, "_tokens": {"type": "object"}}}


@pytest.fixture(scope="module")
def ap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APProcess]:
    process = APProcess(tmp_path_factory.mktemp("ap"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def executor(db: Database, settings: Settings) -> Iterator[Executor]:
    registry = ProviderRegistry([])
    # no administrator credentials: the only token the provider can get is the run's own
    client = ActionClient(registry, credentials={}, sleep=lambda seconds: None, timeout=10)
    yield Executor(db, settings, registry=registry, action_client=client, threads=1)
    client.close()


def definition(url: str) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": url,
                "Parameters": {"mode": "inactive", "echo.$": "$.note"},
                "ResultPath": "$.out",
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }


def settle(executor: Executor, user: User, run_id: str, status: str) -> None:
    for _ in range(20):
        executor.run_until_idle()
        if user.get(f"/runs/{run_id}").json()["status"] == status:
            return
    raise AssertionError(f"run {run_id} did not become {status}")


def test_tokens_reach_the_provider_and_no_api_answer(
    alice: User, make_user: MakeUser, executor: Executor, ap: APProcess
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    bob, carol = make_user("bob"), make_user("carol")  # a run monitor and a run manager
    flow_id = alice.create_flow(definition=definition(ap.url), input_schema=SCHEMA)["id"]
    body = {"note": "visible", "_tokens": {"User": secret}}
    roles = {"run_monitors": [bob.urn], "run_managers": [carol.urn]}
    answers: list[httpx.Response] = []

    def shown(response: httpx.Response) -> httpx.Response:
        assert response.status_code < 300, response.text
        answers.append(response)
        return response

    run_id = shown(alice.post(f"/flows/{flow_id}/run", json={"body": body, "label": "l", **roles})).json()[
        "run_id"
    ]
    shown(alice.post(f"/flows/{flow_id}/validate_run", json={"body": body}))
    settle(executor, alice, run_id, "INACTIVE")  # the action waits for a resume

    def look(user: User) -> None:
        shown(user.get(f"/runs/{run_id}"))
        shown(user.get(f"/runs/{run_id}", params={"include_flow_description": "true"}))
        shown(user.get(f"/runs/{run_id}/log", params={"per_page": 100}))
        shown(user.get(f"/runs/{run_id}/definition"))
        shown(user.get("/runs"))

    for user in (alice, bob, carol):
        look(user)
    shown(alice.get(f"/flows/{flow_id}/runs"))
    shown(alice.get(f"/flows/{flow_id}/runs/{run_id}/log"))
    shown(carol.put(f"/runs/{run_id}", json={"tags": ["checked"]}))
    shown(alice.post("/batch/runs", json={"filters": {"run_ids": [run_id]}, "add": {"tags": ["batch"]}}))
    shown(carol.post(f"/runs/{run_id}/resume"))
    settle(executor, alice, run_id, "SUCCEEDED")
    for user in (alice, bob, carol):
        look(user)  # now with the run's output, which is its whole state (the input included)
    other = shown(alice.post(f"/flows/{flow_id}/run", json={"body": body})).json()["run_id"]
    shown(alice.post(f"/runs/{other}/cancel"))
    shown(alice.post(f"/runs/{run_id}/release"))

    leaks = [f"{r.request.method} {r.request.url.path}" for r in answers if secret in r.text]
    assert leaks == []
    # what is not private is still shown: the other input key, in the log and the output
    log = alice.get(f"/flows/{flow_id}/runs/{other}/log").json()["entries"]
    assert log[0]["details"]["input"] == {"note": "visible"}
    # and the provider got the token as its bearer token, when starting and when resuming the action
    stats = ap.stats()
    seen = stats["authorizations"]
    request = next(r for rid, r in stats["requests"].items() if rid.startswith(run_id))
    assert request["body"] == {"mode": "inactive", "echo": "visible"}
    assert seen.count(f"Bearer {secret}") >= 2, seen


def test_an_input_error_about_tokens_does_not_quote_them(alice: User) -> None:
    schema = {
        "type": "object",
        "properties": {
            "_tokens": {"type": "object", "properties": {"User": {"type": "string", "maxLength": 3}}},
            "n": {"type": "integer"},
        },
    }
    flow_id = alice.create_flow(input_schema=schema)["id"]
    body = {"_tokens": {"User": "secret-value"}, "n": "not-a-number"}
    for path in (f"/flows/{flow_id}/run", f"/flows/{flow_id}/validate_run"):
        response = alice.post(path, json={"body": body})
        assert response.status_code == 400, response.text
        assert "secret-value" not in response.text
        problems = {p["loc"][0]: p["msg"] for p in response.json()["error"]["detail"]}
        assert "it is private" in problems["$._tokens.User"]
        assert "not-a-number" in problems["$.n"]  # a value that is not private is still quoted
