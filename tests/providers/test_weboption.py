"""The weboption provider on the machinery of web inputs: an action opens a web input; any HTTP access to an
option URL chooses it (its query and form become `parameters`); `selectable_by` limits who may choose; once
chosen every URL of the action is gone; the action succeeds with the hosted result shape."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from providerkit import ALICE, run_action

from openflows.auth.tokens import Authenticator, create_token
from openflows.providers.base import BadActionRequest, Provider
from openflows.providers.weboption_pages import create_weboption_router
from openflows.shared.clock import FakeClock
from openflows.store import web_inputs as store_web_inputs
from openflows.store.db import Database
from openflows.store.identities import ensure_identity

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Pages:
    def __init__(self, client: TestClient, tokens: dict[str, tuple[str, str]]) -> None:
        self.client = client
        self.tokens = tokens
        self.wakes = 0

    def urn(self, name: str) -> str:
        return self.tokens[name][1]

    def headers(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name][0]}"} if name else {}


@pytest.fixture
def pages(db: Database, clock: FakeClock) -> Iterator[Pages]:
    tokens = {}
    with db.begin() as conn:
        for name in ("bob", "carol"):
            identity = ensure_identity(conn, name, now=clock.now())
            token, _ = create_token(conn, identity_id=identity.id, now=clock.now())
            tokens[name] = (token, f"urn:globus:auth:identity:{identity.id}")
    app = FastAPI()
    box: list[Pages] = []

    def wake() -> None:
        box[0].wakes += 1

    app.include_router(
        create_weboption_router(db, authenticate=Authenticator(db).authenticate, now=clock.now, wake=wake)
    )
    with TestClient(app) as client:
        box.append(Pages(client, tokens))
        yield box[0]


def weboption(providers: dict[str, Provider]) -> Provider:
    return providers["weboption"]


def body(tag: str, **landing: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "options": [
            {"name": "Accept", "url_suffix": f"accept-{tag}", "completed_message": "Thank you for accepting"},
            {"name": "Reject", "url_suffix": f"reject-{tag}", "description": "No thanks"},
        ]
    }
    if landing:
        doc["landing_page"] = {"url_suffix": f"landing-{tag}", **landing}
    return doc


def test_an_option_url_chooses_and_completes_the_action(
    providers: dict[str, Provider], pages: Pages, db: Database, clock: FakeClock
) -> None:
    provider = weboption(providers)
    action = run_action(provider, body("a"))
    assert action["status"] == "ACTIVE"
    assert action["details"]["option_urls"] == {
        "Accept": "/weboption/option/accept-a",
        "Reject": "/weboption/option/reject-a",
    }
    assert provider.status(action["action_id"], ALICE)["status"] == "ACTIVE"
    clock.advance(5)
    chosen = pages.client.get("/weboption/option/accept-a?reason=looks+good&n=2")
    assert chosen.status_code == 200 and "Thank you for accepting" in chosen.text
    assert pages.wakes == 1
    status = provider.status(action["action_id"], ALICE)
    assert status["status"] == "SUCCEEDED"
    assert status["details"] == {
        "name": "Accept",
        "url_suffix": "accept-a",
        "parameters": {"reason": "looks good", "n": "2"},
    }
    assert status["completion_time"] == clock.now().isoformat()
    # every URL of the action is gone; the suffixes may be used again
    for url in ("/weboption/option/accept-a", "/weboption/option/reject-a"):
        assert pages.client.get(url).status_code == 404
    again = run_action(provider, body("a"))
    assert again["status"] == "ACTIVE" and again["action_id"] != action["action_id"]


def test_a_suffix_an_action_waits_on_cannot_be_taken(providers: dict[str, Provider]) -> None:
    provider = weboption(providers)
    run_action(provider, body("b"))
    with pytest.raises(BadActionRequest, match="in use"):
        run_action(provider, body("b"))
    with pytest.raises(BadActionRequest, match="different"):
        run_action(
            provider,
            {"options": [{"name": "x", "url_suffix": "same"}, {"name": "y", "url_suffix": "same"}]},
        )
    with pytest.raises(BadActionRequest, match="url_suffix"):
        run_action(provider, {"options": [{"name": "x", "url_suffix": "../../etc"}]})


def test_the_start_is_idempotent(providers: dict[str, Provider]) -> None:
    provider = weboption(providers)
    request = {"request_id": "same", "body": body("c")}
    first, created = provider.run(request, ALICE)
    second, created_again = provider.run(request, ALICE)
    assert (created, created_again) == (True, False)
    assert first["action_id"] == second["action_id"]


def test_selectable_by_limits_who_may_choose(providers: dict[str, Provider], pages: Pages) -> None:
    provider = weboption(providers)
    doc = body("d", header_text="Choose", selectable_by=[pages.urn("bob")])
    action = run_action(provider, doc)
    assert pages.client.get("/weboption/option/accept-d").status_code == 401
    assert pages.client.get("/weboption/landing_page/landing-d").status_code == 401
    refused = pages.client.get("/weboption/option/accept-d", headers=pages.headers("carol"))
    assert refused.status_code == 403
    landing = pages.client.get("/weboption/landing_page/landing-d", headers=pages.headers("bob"))
    assert landing.status_code == 200
    assert 'href="/weboption/option/accept-d"' in landing.text and "No thanks" in landing.text
    chosen = pages.client.get(
        "/weboption/option/reject-d", headers={**pages.headers("bob"), "Accept": "application/json"}
    )
    assert chosen.json() == {"message": "You chose Reject.", "name": "Reject", "url_suffix": "reject-d"}
    status = provider.status(action["action_id"], ALICE)
    assert status["details"]["name"] == "Reject"


def test_the_landing_page_text_field_becomes_user_input(providers: dict[str, Provider], pages: Pages) -> None:
    provider = weboption(providers)
    action = run_action(
        provider,
        body(
            "e",
            page_title="Review <script>",
            header_background="darkred",
            include_text_input_form=True,
            text_input_form_prompt="Why?",
        ),
    )
    page = pages.client.get("/weboption/landing_page/landing-e")
    assert page.status_code == 200
    assert "Review &lt;script&gt;" in page.text and "<script>" not in page.text
    assert 'name="user_input"' in page.text and 'formaction="/weboption/option/reject-e"' in page.text
    assert "background: darkred" in page.text
    chosen = pages.client.post(
        "/weboption/option/reject-e", data={"user_input": "too big", "choice": "Reject"}
    )
    assert chosen.status_code == 200
    details = provider.status(action["action_id"], ALICE)["details"]
    assert details["parameters"] == {"user_input": "too big", "choice": "Reject"}


def test_a_respondent_may_answer_through_the_web_input_api_too(
    providers: dict[str, Provider], pages: Pages, db: Database, clock: FakeClock
) -> None:
    provider = weboption(providers)
    doc = body("f")
    doc["options"][0]["selectable_by"] = [pages.urn("bob")]
    action = run_action(provider, doc)
    web_input = uuid.UUID(action["action_id"])
    with db.read() as conn:
        row = store_web_inputs.get_web_input(conn, web_input)
    assert row is not None
    assert (row["source"], row["viewer_urns"], row["respondent_urns"]) == (
        "weboption",
        [ALICE.identity],
        [pages.urn("bob")],
    )
    option = row["document"]["options"][0]["option_id"]
    db.transact(
        lambda conn: store_web_inputs.respond(
            conn, web_input_id=web_input, value=option, respondent_urn=pages.urn("bob"), now=clock.now()
        )
    )
    status = provider.status(action["action_id"], ALICE)
    assert status["details"] == {"name": "Accept", "url_suffix": "accept-f", "parameters": {}}


def test_canceling_the_action_closes_its_urls(providers: dict[str, Provider], pages: Pages) -> None:
    provider = weboption(providers)
    action = run_action(provider, body("g"))
    canceled = provider.cancel(action["action_id"], ALICE)
    assert canceled["status"] == "FAILED"
    assert pages.client.get("/weboption/option/accept-g").status_code == 404
    assert provider.status(action["action_id"], ALICE)["status"] == "FAILED"


def test_unknown_suffixes_are_not_found(pages: Pages) -> None:
    assert pages.client.get("/weboption/option/nothing-here").status_code == 404
    assert pages.client.get("/weboption/landing_page/nothing-here").status_code == 404
