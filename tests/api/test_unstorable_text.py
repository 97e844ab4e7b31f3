"""Issue 12, item 3: text the databases cannot store is refused at the HTTP boundary, never a 5xx.

The rule (language/storable.py, api/text.py): a NUL character or an unpaired surrogate in any string or
object key of a JSON body, in a form field, a query parameter or the URL path is refused with a 4xx that names
the field, on SQLite and PostgreSQL alike. Before: 500 on 13 endpoints for a surrogate on both databases; on
PostgreSQL 500 on 12 and a "busy; retry" 503 on 9 for NUL.

Every string and every key of a complete body of each JSON endpoint is replaced in turn (flows create, update
and validate; runs start, validate and update; batch; the dashboard session; `/run` and `/actions` of every
built-in provider); every query parameter and every path parameter of every operation in /openapi.json, plus
the Globus-Auth-compatible routes (query and form).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from openflows.auth import tokens
from openflows.auth.clients import create_legacy_client
from openflows.server import build_server
from openflows.settings import Settings
from openflows.store import errors as store_errors
from openflows.store import identities

with warnings.catch_warnings():  # starlette deprecates httpx in favour of httpx2, which is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: the characters, and how a refusal spells them in an object key it names
CHARS = {"nul": ("\x00", "\\u0000"), "surrogate": ("\ud800", "\\ud800")}
ORIGIN = "http://testserver"

DEFINITION: dict[str, Any] = {
    "Comment": "a flow",
    "StartAt": "Act",
    "States": {
        "Act": {
            "Type": "Action",
            "Comment": "call",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string": "hi", "from.$": "$.x", "sum.=": "'a' + 'b'"},
            "ResultPath": "$.out",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Boom", "ResultPath": "$.err"}],
            "Next": "Choose",
        },
        "Choose": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.out.status", "StringEquals": "SUCCEEDED", "Next": "Done"}],
            "Default": "Boom",
        },
        "Boom": {"Type": "Fail", "Error": "E", "Cause": "c"},
        "Done": {"Type": "Pass", "Result": {"k": "v"}, "End": True},
    },
}
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"x": {"type": "string", "description": "an x", "pattern": "^[a-z]*$"}},
}


@dataclasses.dataclass
class Surface:
    """A whole server (API, providers, Auth routes, dashboard) on this test's database."""

    client: TestClient
    token: str
    urn: str
    flow_id: str
    run_id: str
    providers: list[str]
    client_id: str
    client_secret: str
    openapi: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def send_json(self, method: str, path: str, body: Any) -> httpx.Response:
        # ensure_ascii: the characters travel as the JSON escapes \u0000 and \ud800
        content = json.dumps(body, ensure_ascii=True).encode()
        headers = {**self.headers, "Content-Type": "application/json", "Origin": ORIGIN}
        return self.client.request(method, path, content=content, headers=headers)


@pytest.fixture
def surface(settings: Settings) -> Iterator[Surface]:
    server = build_server(settings, run_executor=False)

    def setup(conn: Any) -> tuple[str, str, str, str]:
        now = tokens.utcnow()
        identity = identities.ensure_identity(conn, "alice", now=now)
        token, _ = tokens.create_token(conn, identity_id=identity.id, now=now)
        client_id, secret = create_legacy_client(conn, identity_id=identity.id, now=now)
        return token, f"urn:globus:auth:identity:{identity.id}", client_id, secret

    token, urn, client_id, secret = server.db.transact(setup)
    try:
        with TestClient(server.app, raise_server_exceptions=False) as client:
            headers = {"Authorization": f"Bearer {token}"}
            flow = client.post(
                "/flows", json={"title": "t", "definition": DEFINITION, "input_schema": {}}, headers=headers
            )
            assert flow.status_code == 201, flow.text
            run = client.post(f"/flows/{flow.json()['id']}/run", json={"body": {}}, headers=headers)
            assert run.status_code == 201, run.text
            yield Surface(
                client=client,
                token=token,
                urn=urn,
                flow_id=flow.json()["id"],
                run_id=run.json()["run_id"],
                providers=sorted(provider.name for provider in server.registry),
                client_id=client_id,
                client_secret=secret,
                openapi=server.app.openapi(),
            )
    finally:
        server.db.dispose()


# --- the bodies ---------------------------------------------------------------------------------------------


def _flow_body(s: Surface) -> dict[str, Any]:
    return {
        "title": "title",
        "subtitle": "subtitle",
        "description": "description",
        "keywords": ["kw"],
        "definition": DEFINITION,
        "input_schema": INPUT_SCHEMA,
        "flow_viewers": ["public"],
        "flow_starters": ["all_authenticated_users"],
        "flow_administrators": [s.urn],
        "run_managers": [s.urn],
        "run_monitors": [s.urn],
        "subscription_id": "DEFAULT",
        "authentication_policy_id": str(uuid.uuid4()),
    }


def _run_body(s: Surface) -> dict[str, Any]:
    return {
        "body": {"x": "abc", "nested": [{"k": "v"}]},
        "label": "label",
        "tags": ["tag"],
        "run_managers": [s.urn],
        "run_monitors": [s.urn],
        "activity_notification_policy": {"status": ["INACTIVE"]},
    }


def _action_request(s: Surface) -> dict[str, Any]:
    return {
        "request_id": "req",
        "body": {"echo_string": "hi", "expression": "'a'", "path": "/p", "items": [{"k": "v"}]},
        "label": "label",
        "monitor_by": [s.urn],
        "manage_by": [s.urn],
        "release_after": "P30D",
    }


def json_endpoints(s: Surface) -> dict[str, list[tuple[str, str, Any]]]:
    """Each JSON endpoint (grouped), with a complete body."""
    flow, run = s.flow_id, s.run_id
    lists = {"tags": ["a"], "run_managers": [s.urn], "run_monitors": [s.urn]}
    return {
        "flows_create": [("POST", "/flows", _flow_body(s))],
        "flows_update": [("PUT", f"/flows/{flow}", {**_flow_body(s), "flow_owner": s.urn})],
        "flows_validate": [
            ("POST", "/flows/validate", {"definition": DEFINITION, "input_schema": INPUT_SCHEMA})
        ],
        "runs_start": [("POST", f"/flows/{flow}/run", _run_body(s))],
        "runs_validate": [("POST", f"/flows/{flow}/validate_run", _run_body(s))],
        "runs_update": [("PUT", f"/runs/{run}", {"label": "l", **lists})],
        "batch": [
            (
                "POST",
                "/batch/runs",
                {
                    "filters": {"run_ids": [run]},
                    "set": {**lists, "status": "cancel"},
                    "add": lists,
                    "remove": lists,
                },
            )
        ],
        "ui_session": [("POST", "/ui/session", {"token": "a-token"})],
        "providers": [
            (method, f"/actions/{name}/{route}", _action_request(s))
            for name in s.providers
            for method, route in (("POST", "run"), ("POST", "actions"))
        ],
    }


Loc = tuple[str | int, ...]


def string_sites(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, bool]]:
    """(location, is_key) of every string value and every object key in `value`."""
    if isinstance(value, str):
        yield loc, False
    elif isinstance(value, dict):
        for key, child in value.items():
            yield (*loc, key), True
            yield from string_sites(child, (*loc, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from string_sites(child, (*loc, index))


def _spoil(text: str, char: str) -> str:
    return text[:1] + char + text[1:]


def mutate(value: Any, loc: Loc, is_key: bool, char: str) -> Any:
    """A copy of `value` with `char` put into the string (or key) at `loc`."""
    if not loc:
        return _spoil(value, char)
    head, rest = loc[0], loc[1:]
    if isinstance(value, list):
        return [mutate(item, rest, is_key, char) if i == head else item for i, item in enumerate(value)]
    if is_key and not rest:
        return {(_spoil(k, char) if k == head else k): v for k, v in value.items()}
    return {k: (mutate(v, rest, is_key, char) if k == head else v) for k, v in value.items()}


def expected_loc(loc: Loc, is_key: bool, escaped: str) -> list[str | int]:
    if not is_key:
        return list(loc)
    return [*loc[:-1], _spoil(str(loc[-1]), escaped)]


def _json_path(loc: list[str | int]) -> str:
    path = "$"
    for part in loc:
        path += (
            f"[{part}]" if isinstance(part, int) else (f".{part}" if part.isidentifier() else f"['{part}']")
        )
    return path


def check_refusal(response: httpx.Response, path: str, loc: list[str | int], where: str) -> str | None:
    """None when `response` refuses the request with a 4xx naming `loc`, else what is wrong."""
    if not 400 <= response.status_code < 500:
        return f"{response.status_code}: {response.text[:200]}"
    document = response.json()
    if path.startswith("/actions/"):
        if document.get("code") != "BadActionRequest" or _json_path(loc) not in document.get(
            "description", ""
        ):
            return f"provider error does not name {_json_path(loc)}: {document}"
        return None
    if path.startswith("/v2/"):
        if document.get("error") != "invalid_request" or str(loc[-1]) not in document["error_description"]:
            return f"auth error does not name {loc[-1]!r}: {document}"
        return None
    error = document.get("error", {})
    detail = error.get("detail")
    if error.get("code") != "UNPROCESSABLE_ENTITY" or not isinstance(detail, list):
        return f"not a 422 error document: {document}"
    if detail[0]["loc"] != loc or detail[0]["type"] != "unstorable_character":
        return f"names {detail[0]['loc']} ({detail[0]['type']}), not {loc}"
    if not error.get("message", "").startswith(f"1 validation error in {where}."):
        return f"message: {error.get('message')}"
    return None


# --- JSON bodies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CHARS))
def test_every_string_of_every_json_body_is_refused_with_its_field(surface: Surface, kind: str) -> None:
    char, escaped = CHARS[kind]
    problems = []
    sent: dict[str, int] = {}
    for group, endpoints in json_endpoints(surface).items():
        for method, path, body in endpoints:
            for loc, is_key in string_sites(body):
                response = surface.send_json(method, path, mutate(body, loc, is_key, char))
                sent[group] = sent.get(group, 0) + 1
                problem = check_refusal(response, path, expected_loc(loc, is_key, escaped), "body")
                if problem is not None:
                    problems.append(f"{method} {path} {'key' if is_key else 'value'} {list(loc)}: {problem}")
    assert min(sent.values()) >= 2 and sum(sent.values()) > 500, sent
    total = sum(sent.values())
    assert not problems, f"{len(problems)} of {total} requests:\n" + "\n".join(problems[:25])
    flows = surface.client.get("/flows", headers=surface.headers).json()["flows"]
    assert [flow["id"] for flow in flows] == [surface.flow_id]  # nothing was half-stored


def test_raw_surrogate_bytes_and_utf16_bodies_are_refused(surface: Surface) -> None:
    """`json.loads` also decodes the UTF-8 bytes of a surrogate, and UTF-16/32 bodies."""
    headers = {**surface.headers, "Content-Type": "application/json"}
    raw = b'{"title": "a\xed\xa0\x80b", "definition": ' + json.dumps(DEFINITION).encode() + b"}"
    assert (
        check_refusal(
            surface.client.post("/flows", content=raw, headers=headers), "/flows", ["title"], "body"
        )
        is None
    )
    utf16 = json.dumps({"title": "a\x00b", "definition": DEFINITION}).encode("utf-16")
    response = surface.client.post("/flows", content=utf16, headers=headers)
    assert check_refusal(response, "/flows", ["title"], "body") is None


def test_provider_bodies_of_any_content_type_are_checked(surface: Surface) -> None:
    """The providers parse any body as JSON, so they check what the middleware (JSON bodies only) does not."""
    content = json.dumps({"request_id": "r", "body": {"echo_string": "a\x00b"}}).encode()
    response = surface.client.post(
        "/actions/hello_world/run", content=content, headers={**surface.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BadActionRequest"
    assert "$.body.echo_string" in response.json()["description"]


# --- query strings and paths --------------------------------------------------------------------------------


def _operations(surface: Surface) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for path, operations in surface.openapi["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation.get("parameters", [])


def _concrete(surface: Surface, template: str, spoil: dict[str, str] | None = None) -> str:
    values = {"flow_id": surface.flow_id, "run_id": surface.run_id, "name": "hello_world", "action_id": "x"}
    values.update(spoil or {})
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


HIDDEN_QUERIES = [
    ("GET", "/v2/api/identities", "ids"),
    ("GET", "/v2/api/identities", "usernames"),
    ("GET", "/ui/api/runs/{run_id}/events", "after"),
]


def test_every_query_parameter_with_nul_is_refused_with_its_name(surface: Surface) -> None:
    cases = [
        (method, path, param["name"])
        for method, path, params in _operations(surface)
        for param in params
        if param["in"] == "query"
    ]
    assert len(cases) >= 40
    problems = []
    for method, template, name in [*cases, *HIDDEN_QUERIES]:
        path = _concrete(surface, template)
        response = surface.client.request(method, f"{path}?{name}=a%00b", headers=surface.headers)
        problem = check_refusal(response, path, ["query", name], "query")
        if problem is not None:
            problems.append(f"{method} {path}?{name}: {problem}")
        # a surrogate cannot travel in a URL: its UTF-8 bytes are decoded with replacement (U+FFFD)
        if path.endswith("/events"):
            continue  # accepted, it would stream the (never ending) run's log
        response = surface.client.request(method, f"{path}?{name}=a%ED%A0%80b", headers=surface.headers)
        if response.status_code >= 500:
            problems.append(
                f"{method} {path}?{name} (surrogate): {response.status_code} {response.text[:200]}"
            )
    assert not problems, "\n".join(problems)


def test_flows_fulltext_filter_with_nul_is_a_422_not_a_503(surface: Surface) -> None:
    """The issue's example: on PostgreSQL this was 503 "busy; retry the request"."""
    response = surface.client.get("/flows?filter_fulltext=a%00b", headers=surface.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["detail"][0]["loc"] == ["query", "filter_fulltext"]


def test_every_path_parameter_with_nul_is_refused(surface: Surface) -> None:
    problems = []
    count = 0
    for method, template, params in _operations(surface):
        for param in (p for p in params if p["in"] == "path"):
            for spoiled, must_refuse in (("a%00b", True), ("a%ED%A0%80b", False)):
                path = _concrete(surface, template, {param["name"]: spoiled})
                response = surface.client.request(method, path, headers=surface.headers)
                count += 1
                if must_refuse:
                    problem = check_refusal(response, path, ["path"], "path")
                    if path.startswith("/actions/"):  # the provider shape names "the URL path"
                        problem = (
                            None
                            if response.status_code == 400 and "URL path" in response.text
                            else response.text
                        )
                elif response.status_code >= 500:
                    problem = f"{response.status_code} {response.text[:200]}"
                else:
                    problem = None
                if problem is not None:
                    problems.append(f"{method} {path}: {problem}")
    assert count >= 40
    assert not problems, "\n".join(problems)


# --- forms (the Globus-Auth-compatible routes) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v2/oauth2/token", {"grant_type": "client_credentials", "scope": "openid"}),
        ("/v2/oauth2/token/introspect", {"token": "abc", "include": "identity_set"}),
    ],
)
def test_every_form_field_with_nul_is_refused_with_its_name(
    surface: Surface, path: str, fields: dict[str, str]
) -> None:
    fields = {**fields, "client_id": surface.client_id, "client_secret": surface.client_secret}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    ok = surface.client.post(
        path, content="&".join(f"{k}={quote(v)}" for k, v in fields.items()), headers=headers
    )
    assert ok.status_code == 200, ok.text
    for name in fields:
        spoiled = {**fields, name: fields[name][:1] + "\x00" + fields[name][1:]}
        content = "&".join(f"{k}={quote(v)}" for k, v in spoiled.items())
        response = surface.client.post(path, content=content, headers=headers)
        assert check_refusal(response, path, [name], "body") is None, (name, response.text)


# --- what is not refused ------------------------------------------------------------------------------------


def test_lookalikes_are_stored_faithfully(surface: Surface) -> None:
    """A surrogate *pair* (one character, U+1F600) and the six characters `\\u0000` are ordinary text."""
    emoji, text = "\U0001f600", "\\u0000"
    flow = surface.send_json(
        "POST",
        "/flows",
        {"title": f"{emoji} {text}", "definition": {**DEFINITION, "Comment": text}, "keywords": [emoji]},
    )
    assert flow.status_code == 201, flow.text
    flow_id = flow.json()["id"]
    stored = surface.client.get(f"/flows/{flow_id}", headers=surface.headers).json()
    assert (stored["title"], stored["definition"]["Comment"], stored["keywords"]) == (
        f"{emoji} {text}",
        text,
        [emoji],
    )
    run = surface.send_json(
        "POST", f"/flows/{flow_id}/run", {"body": {"e": emoji, "t": text}, "label": emoji, "tags": [text]}
    )
    assert run.status_code == 201, run.text
    assert (run.json()["label"], run.json()["tags"]) == (emoji, [text])
    found = surface.client.get(f"/flows?filter_fulltext={quote(emoji)}", headers=surface.headers).json()
    assert [f["id"] for f in found["flows"]] == [flow_id]


# --- the store's classification, as clients see it ----------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (store_errors.InvalidValue("invalid value: NUL"), 400, "BAD_REQUEST"),
        (store_errors.Busy(), 503, "SERVICE_UNAVAILABLE"),
        (store_errors.Unavailable(), 503, "SERVICE_UNAVAILABLE"),
        (store_errors.StoreError("database error: x"), 500, "INTERNAL_ERROR"),
    ],
)
def test_only_what_a_retry_can_cure_is_a_503(exc: Exception, status: int, code: str) -> None:
    """The backstop behind the boundary check: a value the database refuses is a 4xx, never "busy; retry"."""
    from fastapi import FastAPI

    from openflows.api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if status == 400:
        assert "cannot store" in response.json()["error"]["detail"]
