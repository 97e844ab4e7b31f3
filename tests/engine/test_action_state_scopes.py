"""The scopes of Action states: built-in providers (at this server's URLs and the hosted ones it emulates),
`ActionScope`, Globus-hosted providers, and external providers' introspection documents, fetched before any
transaction, cached in the database for every process, a failure retried after a while, answers bounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from openflows.auth.scopes import PROVIDER_SCOPES
from openflows.engine.provider_scopes import FAILURE_RETRY, MAX_DOCUMENT_BYTES, ProviderScopes
from openflows.providers.base import ProviderRegistry
from openflows.providers.hello_world import HelloWorldProvider
from openflows.shared.clock import FakeClock
from openflows.store.db import Database
from providers.apkit import APProcess, free_port

BASE = "http://openflows.test"
AP_SCOPE = "https://auth.globus.org/scopes/11111111-2222-4333-8444-555555555555/action_all"


def state(url: str, **more: Any) -> dict[str, Any]:
    return {"Type": "Action", "ActionUrl": url, "Parameters": {}, "End": True, **more}


def test_scopes_of_every_kind_of_state(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    registry = ProviderRegistry([HelloWorldProvider(db, clock=clock)], base_urls=[BASE])
    ap = APProcess(tmp_path, scope=AP_SCOPE)
    ap.start()
    unreachable = f"http://127.0.0.1:{free_port()}/nobody"
    try:
        definition = {
            "StartAt": "Local",
            "States": {
                "Local": state(f"{BASE}/actions/hello_world", ActionScope="urn:ignored:for:builtins"),
                "Hosted": state("https://actions.globus.org/hello_world"),
                "Explicit": state("https://example.org/ap", ActionScope="urn:explicit:scope"),
                "Transfer": state("https://transfer.actions.globus.org/transfer", RunAs="Mover"),
                "External": state(ap.url),
                "Down": state(unreachable),
                "AsFlow": state(ap.url, RunAs="Flow"),
            },
        }
        resolver = ProviderScopes(db, registry, now=clock.now)
        found = resolver.resolve(definition)
        assert found.by_role == {
            "Flow": [AP_SCOPE],
            "Mover": ["urn:globus:auth:scope:transfer.api.globus.org:all"],
            "User": sorted([PROVIDER_SCOPES["hello_world"], "urn:explicit:scope", AP_SCOPE]),
        }
        assert found.dependent_scopes == found.by_role["User"]
        assert found.unknown == {"User": [unreachable]}
        assert len(found.warnings) == 1 and "'Down'" in found.warnings[0]["msg"]
        assert ap.stats()["introspections"] == 1  # one fetch for the two states using it

        # another process reads what was fetched, without the network
        other = ProviderScopes(db, registry, now=clock.now, fetch=False)
        assert other.scope_of(ap.url, None) == AP_SCOPE
        assert other.scope_of(ap.url + "/", None) == AP_SCOPE  # URLs are compared normalised
        assert other.scope_of(unreachable, None) is None
        assert other.resolve(definition).by_role["User"] == found.by_role["User"]
        assert resolver.resolve(definition).unknown == found.unknown
        assert ap.stats()["introspections"] == 1  # still cached
    finally:
        ap.stop()


def test_failures_are_retried_later_and_answers_are_bounded(db: Database) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    answers: dict[str, Any] = {}
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return answers[request.url.host]

    http = httpx.Client(transport=httpx.MockTransport(handler))
    resolver = ProviderScopes(db, ProviderRegistry(), now=clock.now, http=http)
    answers["flaky.test"] = httpx.Response(503)
    definition = {"StartAt": "A", "States": {"A": state("https://flaky.test/ap")}}
    assert resolver.resolve(definition).unknown == {"User": ["https://flaky.test/ap"]}
    answers["flaky.test"] = httpx.Response(200, json={"globus_auth_scope": AP_SCOPE})
    assert resolver.resolve(definition).unknown == {"User": ["https://flaky.test/ap"]}  # not asked again yet
    assert len(calls) == 1
    clock.advance(FAILURE_RETRY.total_seconds() + 1)
    assert resolver.resolve(definition).dependent_scopes == [AP_SCOPE]
    assert len(calls) == 2

    for host, answer in {
        "big.test": httpx.Response(
            200, content=b'{"globus_auth_scope": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}'
        ),
        "html.test": httpx.Response(200, content=b"<html>hello</html>"),
        "nested.test": httpx.Response(200, json={"globus_auth_scope": "a[b]"}),
        "two.test": httpx.Response(200, json={"globus_auth_scope": "a b"}),
        "none.test": httpx.Response(200, json={"title": "no scope"}),
    }.items():
        answers[host] = answer
        url = f"https://{host}/ap"
        found = resolver.resolve({"StartAt": "A", "States": {"A": state(url)}})
        assert found.unknown == {"User": [url]} and found.dependent_scopes == [], host


def test_other_kinds_of_state_bring_their_scopes_through_the_hook(db: Database) -> None:
    clock = FakeClock(dt.datetime.now(dt.UTC))
    api_scope = "https://auth.globus.org/scopes/22222222-2222-4222-8222-222222222222/api"
    seen: list[Any] = []

    def registered(definition: Any) -> dict[str, list[str]]:
        seen.append(definition)
        return {"Api": [api_scope, "urn:second:choice"]}

    resolver = ProviderScopes(db, ProviderRegistry(), now=clock.now, fetch=False, state_scopes=registered)
    definition = {
        "StartAt": "Api",
        "States": {
            "Api": {"Type": "Action", "Handler": {"Type": "RegisteredAPI", "Id": "x"}, "End": True},
            "Hi": state("https://actions.globus.org/hello_world"),
        },
    }
    found = resolver.resolve(definition)
    assert found.dependent_scopes == sorted(
        [api_scope, "https://auth.globus.org/scopes/actions.globus.org/hello_world"]
    )
    assert found.unknown == {} and seen == [definition]
