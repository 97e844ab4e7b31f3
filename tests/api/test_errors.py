"""Every failure is a Flows error document with a 4xx (DESIGN invariant 4): auth, unknown routes and methods,
malformed or hostile bodies, the request size cap (declared and chunked), bad ids and query values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import PASS_DEFINITION, LiveServer, User


def assert_error(
    response: httpx.Response, status: int | tuple[int, ...], code: str | None = None
) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert set(doc) == {"error", "debug_id"}, doc
    uuid.UUID(doc["debug_id"])
    assert isinstance(doc["error"]["code"], str) and doc["error"]["code"].isupper()
    assert isinstance(doc["error"]["detail"], str | list)
    if code is not None:
        assert doc["error"]["code"] == code, doc
    return doc["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": ""}],
)
def test_authentication_errors(client: Any, headers: dict[str, str]) -> None:
    error = assert_error(client.get("/flows", headers=headers), 401, "AUTHENTICATION_ERROR")
    assert error["detail"] == "Expired or invalid Bearer token"


def test_healthz_is_public(client: Any) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_unknown_route_and_method(alice: User) -> None:
    assert_error(alice.get("/no/such/route"), 404, "NOT_FOUND")
    assert_error(alice.http.patch("/flows", headers=alice.headers, json={}), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    "body",
    [b"{", b"not json", b"[1, 2", b'{"title": "x",}', b"\xff\xfe\x00", b"", b"[]", b"null", b"1" * 5000],
)
def test_malformed_bodies(alice: User, body: bytes) -> None:
    response = alice.http.post(
        "/flows", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert_error(response, (400, 422))


def test_wrong_types_have_locations(alice: User) -> None:
    response = alice.post("/flows", json={"title": 1, "definition": "x", "input_schema": [], "keywords": "k"})
    error = assert_error(response, 422, "UNPROCESSABLE_ENTITY")
    assert sorted(d["loc"][0] for d in error["detail"]) == ["definition", "input_schema", "keywords", "title"]
    assert error["message"].startswith("4 validation errors in body.")


@pytest.mark.parametrize("depth", [200, 5000, 100_000])
def test_deeply_nested_bodies(alice: User, depth: int) -> None:
    nested = '{"a":' * depth + "1" + "}" * depth
    body = (
        '{"title": "deep", "definition": '
        + json.dumps(PASS_DEFINITION)
        + ', "input_schema": {}, "x": '
        + nested
        + "}"
    )
    response = alice.http.post(
        "/flows", content=body.encode(), headers={**alice.headers, "Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "BAD_REQUEST")
    assert "nests deeper" in error["detail"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_a_body_are_refused(alice: User, constant: str) -> None:
    body = '{"title": "t", "definition": ' + json.dumps(PASS_DEFINITION) + ', "input_schema": {}, "x": '
    response = alice.http.post(
        "/flows",
        content=(body + "[1, " + constant + "]}").encode(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "BAD_REQUEST")
    assert constant in error["detail"] and "not a JSON number" in error["detail"]


def test_deeply_nested_definition_below_the_cap_is_validated(alice: User) -> None:
    deep: Any = 1
    for _ in range(100):
        deep = {"a": deep}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": deep, "End": True}}}
    response = alice.post("/flows", json={"title": "d", "definition": definition, "input_schema": {}})
    assert response.status_code in (201, 422), response.text


def test_declared_body_over_the_cap_is_413(alice: User) -> None:
    big = {"title": "big", "definition": PASS_DEFINITION, "input_schema": {}, "description": "x" * (2 << 20)}
    error = assert_error(alice.post("/flows", json=big), 413, "PAYLOAD_TOO_LARGE")
    assert "1048576" in error["detail"]


def test_chunked_body_over_the_cap_is_413(live_server: LiveServer) -> None:
    user = live_server.user("chunky")

    def chunks() -> Iterator[bytes]:
        yield b'{"title": "big", "definition": {}, "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    with httpx.Client(base_url=live_server.base_url) as http:
        response = http.post(
            "/flows",
            content=chunks(),
            headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/flows/not-a-uuid"),
        ("PUT", "/flows/not-a-uuid"),
        ("DELETE", "/flows/not-a-uuid"),
        ("POST", "/flows/not-a-uuid/run"),
        ("GET", "/runs/not-a-uuid"),
        ("GET", "/runs/not-a-uuid/log"),
        ("POST", "/runs/not-a-uuid/cancel"),
        ("GET", "/runs?filter_flow_id=not-a-uuid"),
    ],
)
def test_bad_uuids(alice: User, method: str, path: str) -> None:
    response = alice.http.request(
        method, path, headers=alice.headers, json={} if method in ("PUT", "POST") else None
    )
    assert_error(response, 422, "UNPROCESSABLE_ENTITY")


@pytest.mark.parametrize(
    "path",
    [
        "/flows/{id}",
        "/runs/{id}",
        "/runs/{id}/log",
        "/runs/{id}/definition",
    ],
)
def test_unknown_ids_are_404_naming_the_id(alice: User, path: str) -> None:
    missing = str(uuid.uuid4())
    error = assert_error(alice.get(path.format(id=missing)), 404, "NOT_FOUND")
    assert missing in error["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "/flows?per_page=-1",
        "/flows?orderby=",
        "/flows?filter_roles=nonsense",
        "/runs?filter_status=NOPE",
        "/runs?marker=%00%01",
        "/runs?filter_start_time=,,,",
        "/runs?filter_completion_time=2020-13-45",
        "/flows?marker=" + "A" * 5000,
        "/runs/{run}/log?marker=e30",
    ],
)
def test_odd_query_values_never_5xx(alice: User, query: str) -> None:
    flow = alice.create_flow()
    run = alice.run_flow(flow["id"])
    response = alice.get(query.format(run=run["run_id"]))
    if response.status_code >= 400:
        assert_error(response, (400, 422))


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/flows", "GET, POST"),
        ("OPTIONS", "/flows", "GET, POST"),
        ("PUT", "/flows/validate", "POST"),
        ("GET", "/flows/validate", "POST"),
        ("PATCH", "/flows/{id}", "GET, PUT, DELETE"),
        ("OPTIONS", "/flows/{id}", "GET, PUT, DELETE"),
        ("PATCH", "/flows/not-a-uuid", "GET, PUT, DELETE"),
        ("DELETE", "/runs/{id}", "GET, PUT"),
        ("GET", "/runs/{id}/cancel", "POST"),
        ("PUT", "/batch/runs", "POST"),
    ],
)
def test_405_allows_every_method_of_the_path(alice: User, method: str, path: str, allowed: str) -> None:
    """Issue 12: `Allow` lists every method the path supports (not only those of the first route matched), and
    `/flows/{flow_id}` does not swallow `/flows/validate`."""
    response = alice.http.request(method, path.format(id=uuid.uuid4()), headers=alice.headers, json={})
    error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allowed, (method, path, response.headers.get("allow"))
    assert method in error["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "filter_start_time=0001-01-01T00:00%2B01:00,",
        "filter_start_time=,9999-12-31T23:59-01:00",
        "filter_completion_time=0001-01-01T00:30%2B01:00,9999-12-31T23:59:59.999999-12:00",
    ],
)
def test_times_beyond_the_utc_range_are_clamped_not_a_500(alice: User, query: str) -> None:
    """Issue 12: `astimezone(UTC)` overflowed on these (a 500); no stored time lies beyond them."""
    run = alice.run_flow(alice.create_flow()["id"])
    response = alice.get(f"/runs?{query}")
    assert response.status_code == 200, response.text
    ids = [doc["run_id"] for doc in response.json()["runs"]]
    assert ids == ([run["run_id"]] if "start" in query else []), (query, ids)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("include_flow_description=True", 200),
        ("include_flow_description=no", 200),
        ("include_flow_description=", 422),
        ("include_flow_description=maybe", 422),
    ],
)
def test_boolean_query_values(alice: User, query: str, status: int) -> None:
    run = alice.run_flow(alice.create_flow()["id"])
    response = alice.get(f"/runs/{run['run_id']}?{query}")
    assert response.status_code == status, (query, response.text)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("per_page=7", 200),
        ("per_page=%2B7", 200),
        ("per_page=%207", 422),
        ("per_page=7.0", 422),
        ("per_page=1_0", 422),
        ("per_page=101", 422),
        ("per_page=", 422),
        ("orderby=title%20asc,%20updated_at:DESC", 200),
        ("orderby=%2Btitle", 422),
        ("filter_roles=FLOW_VIEWERS,%20run_monitor,", 200),
        ("filter_roles=flow_viewer%0A", 422),
        ("marker=e30%21", 400),
    ],
)
def test_list_query_values_follow_the_documented_grammar(alice: User, query: str, status: int) -> None:
    response = alice.get(f"/flows?{query}")
    assert response.status_code == status, (query, response.text)
