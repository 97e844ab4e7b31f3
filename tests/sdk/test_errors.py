"""Error documents as the SDK parses them (spec flows-api.md §6) and hostile requests (issue 3: never a 5xx).

Raw requests use urllib so that nothing is retried and the exact status and body are seen.
"""

from __future__ import annotations

import json
import subprocess
import time
import typing as t
import uuid

import globus_sdk
import pytest

from .support import (
    OPEN_SCHEMA,
    Identity,
    Server,
    assert_error_document,
    describe_error,
    expect_error,
    flows_client,
    pass_definition,
    raw_request,
    unique,
)


def test_bad_token_is_401_authentication_error(server: Server) -> None:
    client = flows_client(server.base_url, "not-a-real-token")
    err = expect_error(client.list_flows, status=401, code="AUTHENTICATION_ERROR")
    assert err.messages and all(isinstance(m, str) and m for m in err.messages), describe_error(err)
    assert "401" in str(err)


def test_missing_token_is_401(server: Server) -> None:
    client = flows_client(server.base_url, None)
    expect_error(client.list_flows, status=401, code="AUTHENTICATION_ERROR")
    expect_error(client.get_flow, str(uuid.uuid4()), status=401, code="AUTHENTICATION_ERROR")


def test_revoked_token_is_401(server: Server, alice: Identity) -> None:
    user = server.create_identity(alice.username)  # a second token of alice's, revoked here
    user.flows.list_flows()
    done = subprocess.run(
        [str(server.bin_path), "tokens", "revoke", user.token],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`openflows tokens revoke TOKEN` failed ({done.returncode}): {done.stderr[-1000:]}")
    fresh = flows_client(server.base_url, user.token)
    deadline = time.monotonic() + 15  # the CLI says: "within a few seconds for a running server"
    while time.monotonic() < deadline:
        try:
            fresh.list_flows()
        except globus_sdk.FlowsAPIError:
            break
        time.sleep(0.2)
    expect_error(fresh.list_flows, status=401, code="AUTHENTICATION_ERROR")


def test_basic_auth_header_is_401(server: Server) -> None:
    response = raw_request(server.base_url, "GET", "/flows", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status == 401
    assert_error_document(response.json(), response.status)


@pytest.mark.parametrize(
    ("method", "path_template"),
    [
        ("get_flow", "flow"),
        ("delete_flow", "flow"),
        ("get_run", "run"),
        ("get_run_logs", "run"),
        ("get_run_definition", "run"),
        ("cancel_run", "run"),
        ("delete_run", "run"),
    ],
)
def test_unknown_ids_are_404_not_found(alice: Identity, method: str, path_template: str) -> None:
    missing = str(uuid.uuid4())
    err = expect_error(getattr(alice.flows, method), missing, status=404, code="NOT_FOUND")
    assert missing in err.message, f"the 404 message should name the id: {describe_error(err)}"


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
def test_bad_uuids_get_a_flows_error_document(alice: Identity, method: str, path: str) -> None:
    """Issue 3: bad UUIDs get a Flows error document with a 4xx, never a 5xx. The spec leaves the status open;
    OpenFlows answers 422 UNPROCESSABLE_ENTITY with the parameter's loc, as FastAPI services (the hosted one
    included) do for an invalid path or query parameter (docs/compat.md)."""
    body = b"{}" if method in ("PUT", "POST") else None
    response = raw_request(alice.server.base_url, method, path, body=body, token=alice.token)
    assert response.status == 422, (response.status, response.body[:500])
    assert response.json()["error"]["code"] == "UNPROCESSABLE_ENTITY"
    assert_error_document(response.json(), response.status)


@pytest.mark.parametrize(
    "body",
    [b"{", b"not json", b"[1, 2", b'{"title": "x",}', b"\xff\xfe\x00", b""],
    ids=["unterminated", "text", "array", "trailing-comma", "binary", "empty"],
)
def test_malformed_json_is_a_4xx_flows_error(alice: Identity, body: bytes) -> None:
    response = raw_request(alice.server.base_url, "POST", "/flows", body=body, token=alice.token)
    assert response.status in (400, 422), (response.status, response.body[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    assert_error_document(response.json(), response.status)


def test_malformed_json_through_the_sdk_client(alice: Identity) -> None:
    """A raw request through FlowsClient: the SDK parses the error document."""
    err = expect_error(
        alice.flows.post,
        "/flows",
        data="{not json",
        headers={"Content-Type": "application/json"},
        status=(400, 422),
    )
    assert err.code in ("UNPROCESSABLE_ENTITY", "BAD_REQUEST", "INVALID_JSON"), describe_error(err)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": 123, "definition": pass_definition(), "input_schema": OPEN_SCHEMA}, "title"),
        ({"title": "x", "definition": "not an object", "input_schema": OPEN_SCHEMA}, "definition"),
        ({"title": "x", "definition": pass_definition(), "input_schema": []}, "input_schema"),
        (
            {"title": "x", "definition": pass_definition(), "input_schema": OPEN_SCHEMA, "keywords": "k"},
            "keywords",
        ),
        ({"definition": pass_definition(), "input_schema": OPEN_SCHEMA}, "title"),
        ({"title": "x", "input_schema": OPEN_SCHEMA}, "definition"),
    ],
)
def test_wrong_types_are_422_with_loc(alice: Identity, body: dict[str, t.Any], field: str) -> None:
    err = expect_error(alice.flows.post, "/flows", data=body, status=422, code="UNPROCESSABLE_ENTITY")
    details = err.raw_json["error"]["detail"]
    assert isinstance(details, list), err.text
    assert any(field in [str(part) for part in d["loc"]] for d in details), details
    assert err.messages == [d["msg"] for d in details]


def test_json_array_body_is_422(alice: Identity) -> None:
    response = raw_request(alice.server.base_url, "POST", "/flows", body=b"[]", token=alice.token)
    assert response.status in (400, 422)
    assert_error_document(response.json(), response.status)


def test_two_mebibyte_body_is_rejected(alice: Identity) -> None:
    """Issue 3: a 1 MiB request cap; the answer is a 4xx Flows error (413 expected), not a 5xx."""
    big = json.dumps(
        {
            "title": "big",
            "definition": pass_definition(),
            "input_schema": OPEN_SCHEMA,
            "description": "x" * (2 << 20),
        }
    ).encode()
    response = raw_request(alice.server.base_url, "POST", "/flows", body=big, token=alice.token)
    assert response.status == 413, (response.status, response.body[:300])
    assert_error_document(response.json(), response.status)


def test_large_run_input_is_rejected(alice: Identity) -> None:
    flow_id = alice.flows.create_flow(unique("f"), pass_definition(), OPEN_SCHEMA)["id"]
    big = json.dumps({"body": {"blob": "y" * (2 << 20)}}).encode()
    response = raw_request(
        alice.server.base_url, "POST", f"/flows/{flow_id}/run", body=big, token=alice.token
    )
    assert response.status == 413, (response.status, response.body[:300])
    assert_error_document(response.json(), response.status)


@pytest.mark.parametrize("depth", [200, 5000])
def test_deeply_nested_body_is_a_4xx(alice: Identity, depth: int) -> None:
    nested = '{"a":' * depth + "1" + "}" * depth
    body = (
        '{"title": "deep", "definition": ' + json.dumps(pass_definition()) + ', "input_schema": {}, '
        '"keywords": [], "description": "d", "subtitle": "s", "x": ' + nested + "}"
    ).encode()
    response = raw_request(alice.server.base_url, "POST", "/flows", body=body, token=alice.token)
    assert response.status < 500, (response.status, response.body[:300])
    if response.status >= 400:
        assert_error_document(response.json(), response.status)


def test_deeply_nested_run_input_is_a_4xx(alice: Identity) -> None:
    flow_id = alice.flows.create_flow(unique("f"), pass_definition(), OPEN_SCHEMA)["id"]
    depth = 3000
    body = ('{"body": ' + '{"a":' * depth + "1" + "}" * depth + "}").encode()
    response = raw_request(
        alice.server.base_url, "POST", f"/flows/{flow_id}/run", body=body, token=alice.token
    )
    assert 400 <= response.status < 500, (response.status, response.body[:300])
    assert_error_document(response.json(), response.status)


def test_unknown_route_and_wrong_method_are_json(alice: Identity) -> None:
    missing = raw_request(alice.server.base_url, "GET", "/no/such/route", token=alice.token)
    assert missing.status == 404
    assert_error_document(missing.json(), missing.status)
    wrong = raw_request(alice.server.base_url, "PATCH", "/flows", body=b"{}", token=alice.token)
    assert wrong.status in (404, 405)
    assert_error_document(wrong.json(), wrong.status)


def test_error_documents_follow_the_fixture_shape(alice: Identity, bob: Identity) -> None:
    """SDK fixtures: {"error": {"code", "detail"}, "debug_id"}; 403 detail is a string."""
    flow_id = alice.flows.create_flow(unique("f"), pass_definition(), OPEN_SCHEMA, flow_viewers=[bob.urn])[
        "id"
    ]
    err = expect_error(bob.specific(flow_id).run_flow, {}, status=403, code="FORBIDDEN")
    assert isinstance(err.raw_json["error"]["detail"], str)
    assert err.messages == [err.raw_json["error"]["detail"]]
    assert err.errors and err.errors[0].code == "FORBIDDEN"


def test_no_retry_needed_no_5xx_on_odd_query_values(alice: Identity) -> None:
    for query in (
        "/flows?per_page=-1",
        "/flows?per_page=abc",
        "/flows?per_page=100000",
        "/flows?orderby=",
        "/flows?orderby=title%20SIDEWAYS",
        "/flows?filter_roles=nonsense",
        "/runs?filter_status=NOPE",
        "/runs?per_page=0",
        "/runs?marker=%00%01",
        "/runs?filter_start_time=,,,",
        "/flows?marker=" + "A" * 5000,
    ):
        response = raw_request(alice.server.base_url, "GET", query, token=alice.token)
        assert response.status < 500, (query, response.status, response.body[:300])
        if response.status >= 400:
            assert_error_document(response.json(), response.status)


def test_sdk_raises_flows_api_error_class(alice: Identity) -> None:
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.flows.get_flow(str(uuid.uuid4()))
    assert isinstance(info.value, globus_sdk.GlobusAPIError)
    assert info.value.http_status == 404
