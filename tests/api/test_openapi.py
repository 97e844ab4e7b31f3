"""`/openapi.json` describes every route of the contract, with request bodies, response schemas and the error
statuses each route can answer (so a schema-driven fuzzer finds no undocumented status)."""

from __future__ import annotations

from typing import Any

CONTRACT = {
    "/flows": {"get", "post"},
    "/flows/validate": {"post"},
    "/flows/{flow_id}": {"get", "put", "delete"},
    "/flows/{flow_id}/run": {"post"},
    "/flows/{flow_id}/validate_run": {"post"},
    "/flows/{flow_id}/runs": {"get"},
    "/flows/{flow_id}/runs/{run_id}/log": {"get"},
    "/flows/{flow_id}/{run_id}/resume": {"post"},
    "/runs": {"get"},
    "/runs/{run_id}": {"get", "put"},
    "/runs/{run_id}/definition": {"get"},
    "/runs/{run_id}/log": {"get"},
    "/runs/{run_id}/cancel": {"post"},
    "/runs/{run_id}/release": {"post"},
    "/runs/{run_id}/resume": {"post"},
    "/batch/runs": {"post"},
    "/healthz": {"get"},
}


def test_every_contract_operation_is_documented(client: Any) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path, methods in CONTRACT.items():
        assert methods <= set(paths.get(path, {})), path
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert len(success) == 1, (method, path, sorted(responses))
            assert "content" in responses[success[0]], (method, path)
            if path != "/healthz":
                assert {"400", "401", "403", "404", "413", "422"} <= set(responses), (method, path)
            if method in ("post", "put") and path in ("/flows", "/flows/{flow_id}", "/batch/runs"):
                assert "requestBody" in operation, (method, path)


def test_success_statuses_match_the_hosted_service(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "201" in paths["/flows"]["post"]["responses"]
    assert "201" in paths["/flows/{flow_id}/run"]["post"]["responses"]
    assert "202" in paths["/runs/{run_id}/cancel"]["post"]["responses"]
    assert "202" in paths["/batch/runs"]["post"]["responses"]
    assert "409" in paths["/runs/{run_id}/release"]["post"]["responses"]
