"""The dashboard's session layer against the real API app (TestClient): sign-in, the cookie's attributes,
the CSRF and Origin checks on cookie writes, sign-out, the loopback-only local sign-in, the permissions
endpoints and the run-log event stream."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from openflows.api.app import create_app
from openflows.auth import tokens
from openflows.settings import Settings
from openflows.store import identities
from openflows.store.db import Database
from openflows.ui import install_ui
from openflows.ui.routes import ADMIN_TOKEN_FILE
from openflows.ui.sessions import COOKIE_NAME, SessionStore

ORIGIN = "http://testserver"
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}


def make_token(db: Database, username: str) -> str:
    def create(conn: object) -> str:
        now = tokens.utcnow()
        identity = identities.ensure_identity(conn, username, email=f"{username}@example.org", now=now)
        token, _ = tokens.create_token(conn, identity_id=identity.id, now=now)
        return token

    return db.transact(create)


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    app = create_app(settings, db=db)
    install_ui(app, home=settings.home)
    return app


def browser(app: FastAPI, **kwargs: object) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        return TestClient(app, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with browser(app) as test_client:
        yield test_client


def sign_in(client: TestClient, token: str) -> str:
    response = client.post("/ui/session", json={"token": token}, headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    return response.json()["csrf"]


def writes(csrf: str) -> dict[str, str]:
    return {"Origin": ORIGIN, "X-CSRF-Token": csrf}


def test_page_and_static_files_are_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.status_code == 200
    assert '<script type="module" src="/ui/static/app.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for name in ("app.js", "api.js", "graph.js", "form.js", "app.css"):
        assert client.get(f"/ui/static/{name}").status_code == 200, name


def test_sign_in_sets_an_httponly_samesite_strict_cookie(client: TestClient, db: Database) -> None:
    token = make_token(db, "alice")
    response = client.post("/ui/session", json={"token": token}, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert token not in cookie  # the token stays on the server
    assert response.json()["username"] == "alice"
    session = client.get("/ui/session").json()
    assert session["signed_in"] is True
    assert session["csrf"] == response.json()["csrf"]
    assert client.get("/flows").status_code == 200


def test_sign_in_refuses_bad_tokens_and_foreign_origins(client: TestClient, db: Database) -> None:
    assert client.post("/ui/session", json={"token": "nope"}, headers={"Origin": ORIGIN}).status_code == 401
    token = make_token(db, "alice")
    evil = client.post("/ui/session", json={"token": token}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert client.post("/ui/session", json={"token": token}).status_code == 403  # no Origin, no Referer
    assert client.get("/ui/session").json() == {"signed_in": False, "local_sign_in": False}
    assert client.get("/flows").status_code == 401


def test_cookie_writes_need_the_csrf_token_and_this_origin(client: TestClient, db: Database) -> None:
    csrf = sign_in(client, make_token(db, "alice"))
    body = {"title": "t", "definition": PASS, "input_schema": {}}
    no_csrf = client.post("/flows", json=body, headers={"Origin": ORIGIN})
    assert no_csrf.status_code == 403
    assert "CSRF" in no_csrf.json()["error"]["detail"]
    wrong = client.post("/flows", json=body, headers={"Origin": ORIGIN, "X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    foreign = client.post(
        "/flows", json=body, headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf}
    )
    assert foreign.status_code == 403
    referer = client.post("/flows", json=body, headers={"Referer": f"{ORIGIN}/ui", "X-CSRF-Token": csrf})
    assert referer.status_code == 201
    created = client.post("/flows", json=body, headers=writes(csrf))
    assert created.status_code == 201
    assert created.json()["flow_owner"].startswith("urn:globus:auth:identity:")
    assert len(client.get("/flows").json()["flows"]) == 2


def test_the_cookie_does_not_authenticate_other_routes(client: TestClient, db: Database) -> None:
    sign_in(client, make_token(db, "alice"))
    assert client.get("/flowsx").status_code == 404  # not bridged, nothing found either
    assert client.get("/healthz").status_code == 200


def test_a_bearer_token_wins_over_the_cookie(client: TestClient, db: Database) -> None:
    csrf = sign_in(client, make_token(db, "alice"))
    bob = make_token(db, "bob")
    created = client.post(
        "/flows",
        json={"title": "bob's", "definition": PASS, "input_schema": {}},
        headers={"Authorization": f"Bearer {bob}", **writes(csrf)},
    )
    assert created.status_code == 201
    assert client.get("/flows").json()["flows"] == []  # alice (the cookie) does not see bob's flow


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client: TestClient, db: Database) -> None:
    csrf = sign_in(client, make_token(db, "alice"))
    assert client.delete("/ui/session", headers={"Origin": ORIGIN}).status_code == 403
    out = client.delete("/ui/session", headers=writes(csrf))
    assert out.status_code == 200
    assert COOKIE_NAME in out.headers["set-cookie"]
    assert client.get("/ui/session").json()["signed_in"] is False
    assert client.get("/flows").status_code == 401


def test_a_stolen_session_id_is_useless_after_sign_out(app: FastAPI, db: Database) -> None:
    with browser(app) as client:
        csrf = sign_in(client, make_token(db, "alice"))
        session_id = client.cookies[COOKIE_NAME]
        client.delete("/ui/session", headers=writes(csrf))
    with browser(app, cookies={COOKIE_NAME: session_id}) as thief:
        assert thief.get("/flows").status_code == 401


def test_revoking_the_token_ends_the_session(client: TestClient, db: Database) -> None:
    token = make_token(db, "alice")
    sign_in(client, token)
    client.app.state.service.authenticator.revoke_token(token)  # what `DELETE`-ing a token does
    assert client.get("/flows").status_code == 401
    assert client.get("/ui/session").json()["signed_in"] is False


def _admin_token(settings: Settings, db: Database) -> str:
    token = make_token(db, "admin")
    path = Path(settings.home) / ADMIN_TOKEN_FILE
    path.write_text(token + "\n")
    return token


def test_local_sign_in_is_offered_on_loopback_only(app: FastAPI, settings: Settings, db: Database) -> None:
    _admin_token(settings, db)
    with browser(app) as remote:  # client host "testclient": not loopback
        assert remote.get("/ui/session").json()["local_sign_in"] is False
        assert remote.post("/ui/session/local", headers={"Origin": ORIGIN}).status_code == 403
    local_origin = "http://127.0.0.1:8765"
    with browser(app, base_url=local_origin, client=("127.0.0.1", 40000)) as local:
        assert local.get("/ui/session").json()["local_sign_in"] is True
        signed = local.post("/ui/session/local", headers={"Origin": local_origin})
        assert signed.status_code == 200
        assert signed.json()["username"] == "admin"
        assert local.get("/flows").status_code == 200
    # a DNS-rebound page: loopback client, but the request is addressed to another host name
    with browser(app, base_url="http://evil.example:8765", client=("127.0.0.1", 40001)) as rebound:
        assert rebound.get("/ui/session").json()["local_sign_in"] is False
        refused = rebound.post("/ui/session/local", headers={"Origin": "http://evil.example:8765"})
        assert refused.status_code == 403


def test_local_sign_in_needs_the_admin_token_file(app: FastAPI) -> None:
    with browser(app, base_url="http://localhost:8765", client=("127.0.0.1", 40000)) as local:
        assert local.get("/ui/session").json()["local_sign_in"] is False
        assert local.post("/ui/session/local", headers={"Origin": "http://localhost:8765"}).status_code == 403


def _flow_and_run(client: TestClient, csrf: str, definition: dict) -> tuple[str, str]:
    flow = client.post(
        "/flows", json={"title": "f", "definition": definition, "input_schema": {}}, headers=writes(csrf)
    ).json()
    run = client.post(f"/flows/{flow['id']}/run", json={"body": {}, "label": "r"}, headers=writes(csrf))
    assert run.status_code == 201, run.text
    return flow["id"], run.json()["run_id"]


def test_permissions_come_from_the_role_rules(app: FastAPI, db: Database) -> None:
    with browser(app) as alice, browser(app) as bob:
        csrf = sign_in(alice, make_token(db, "alice"))
        sign_in(bob, make_token(db, "bob"))
        flow_id, run_id = _flow_and_run(alice, csrf, WAIT)
        run_perms = alice.get(f"/ui/api/runs/{run_id}/permissions").json()
        assert run_perms == {
            "roles": ["run_owner", "run_manager", "flow_run_manager", "run_monitor", "flow_run_monitor"],
            "cancel": True,
            "resume": True,
            "redrive": True,
            "update": True,
            "release": True,
        }
        flow_perms = alice.get(f"/ui/api/flows/{flow_id}/permissions").json()
        assert flow_perms["run"] is True and flow_perms["delete"] is True
        assert flow_perms["roles"][0] == "flow_owner"
        assert bob.get(f"/ui/api/runs/{run_id}/permissions").status_code == 404
        assert bob.get(f"/ui/api/flows/{flow_id}/permissions").status_code == 404
        assert bob.get(f"/ui/api/runs/{run_id}/events").status_code == 404
        assert bob.get(f"/runs/{run_id}").status_code == 404
    with browser(app) as anonymous:
        assert anonymous.get(f"/ui/api/runs/{run_id}/permissions").status_code == 401
        assert anonymous.get(f"/ui/api/runs/{run_id}/events").status_code == 401
        assert anonymous.get(f"/ui/api/runs/{uuid.uuid4()}/events").status_code == 401


def test_the_event_stream_sends_the_log_and_ends_with_the_run(client: TestClient, db: Database) -> None:
    csrf = sign_in(client, make_token(db, "alice"))
    _, run_id = _flow_and_run(client, csrf, WAIT)
    assert client.post(f"/runs/{run_id}/cancel", headers=writes(csrf)).status_code == 202
    with client.stream("GET", f"/ui/api/runs/{run_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    entries = [
        json.loads(line[len("data: ") :])
        for block in events
        if "event: entry" in block
        for line in block.splitlines()
        if line.startswith("data: ")
    ]
    codes = [entry["code"] for entry in entries]
    assert codes[0] == "FlowStarted"
    assert codes[-1] == "FlowCanceled"
    assert events[-1] == "event: end\ndata: {}"
    # the run document comes too, after the log entries that led to it: the page needs nothing else
    runs = [json.loads(block.split("data: ", 1)[1]) for block in events if block.startswith("event: run")]
    assert runs and runs[-1]["run_id"] == run_id and runs[-1]["status"] == "FAILED"
    assert runs[-1]["details"]["code"] == "FlowCanceled"
    assert events[-2].startswith("event: run") and "FlowCanceled" in events[-3]
    ids = [int(line[4:]) for block in events for line in block.splitlines() if line.startswith("id: ")]
    assert ids == sorted(ids) and len(ids) == len(entries)
    # reconnecting with Last-Event-ID resumes after that entry
    with client.stream(
        "GET", f"/ui/api/runs/{run_id}/events", headers={"Last-Event-ID": str(ids[0])}
    ) as again:
        resumed = "".join(again.iter_text())
    assert resumed.count("event: entry") == len(entries) - 1


def test_sessions_expire() -> None:
    now = [1000.0]
    store = SessionStore(lifetime=60, clock=lambda: now[0])
    session = store.create_session("tok")
    assert store.get_session(session.session_id) == session
    assert session.csrf_matches(session.csrf) and not session.csrf_matches(None)
    now[0] += 61
    assert store.get_session(session.session_id) is None
    assert store.get_session(None) is None
