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
    "/runs/{run_id}/redrive": {"post"},  # an OpenFlows extension (issue 19)
    "/batch/runs": {"post"},
    "/web_inputs": {"get"},
    "/web_inputs/{web_input_id}": {"get"},
    "/web_inputs/{web_input_id}/respond": {"post"},
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


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    for parameter in document["paths"][path][method]["parameters"]:
        if parameter["name"] == name:
            return parameter["schema"]
    raise AssertionError(f"{method.upper()} {path} has no parameter {name}")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    assert len(branches) == 1, schema
    return branches[0]


def test_query_parameters_state_their_types_and_values(client: Any) -> None:
    """Issue 12: integers and booleans are typed, role/status/orderby values enumerated, markers and time
    ranges have their grammar."""
    doc = client.get("/openapi.json").json()
    for path in ("/flows", "/runs", "/flows/{flow_id}/runs"):
        per_page = _parameter(doc, path, "get", "per_page")
        assert (per_page["type"], per_page["minimum"], per_page["maximum"]) == ("integer", 1, 100), path
        marker = _parameter(doc, path, "get", "marker")
        assert marker["pattern"] == "^[A-Za-z0-9_-]*$" and marker["maxLength"] == 8192, path
        roles = _parameter(doc, path, "get", "filter_roles")["items"]["anyOf"]
        assert {"run_managers", "run_manager", "manage_by"} <= set(roles[0]["enum"]), path
        assert roles[1]["pattern"].startswith("^"), path
        orderby = _parameter(doc, path, "get", "orderby")["items"]["anyOf"][0]["enum"]
        assert "updated_at DESC" in orderby if path == "/flows" else "start_time DESC" in orderby
    status = _parameter(doc, "/runs", "get", "filter_status")["items"]["anyOf"][0]["enum"]
    assert status == ["ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED"]
    assert "pattern" in _parameter(doc, "/runs", "get", "filter_start_time")
    assert "pattern" in _parameter(doc, "/runs", "get", "filter_flow_id")["items"]
    limit = _parameter(doc, "/runs/{run_id}/log", "get", "limit")
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 100, 10)
    assert _parameter(doc, "/runs/{run_id}/log", "get", "reverse_order")["type"] == "boolean"
    assert _parameter(doc, "/runs/{run_id}", "get", "include_flow_description")["type"] == "boolean"
    assert _parameter(doc, "/flows/{flow_id}", "get", "flow_id")["format"] == "uuid"


def test_request_bodies_state_what_the_server_checks(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for path, method in [
        ("/flows", "post"),
        ("/flows/{flow_id}", "put"),
        ("/flows/validate", "post"),
        ("/flows/{flow_id}/run", "post"),
        ("/runs/{run_id}", "put"),
        ("/batch/runs", "post"),
    ]:
        assert doc["paths"][path][method]["requestBody"]["required"] is True, (method, path)
    run_start = schemas["RunStart"]["properties"]
    tag = _non_null(run_start["tags"])["items"]
    assert (tag["minLength"], tag["maxLength"]) == (1, 128) and tag["pattern"].startswith("[^"), tag
    policy = _resolve(doc, _non_null(run_start["activity_notification_policy"]))
    status = _non_null(policy["properties"]["status"])  # null = the default, ["INACTIVE"]
    assert status["items"]["enum"] == ["INACTIVE", "SUCCEEDED", "FAILED"]
    create = schemas["FlowCreate"]["properties"]
    assert _non_null(create["authentication_policy_id"]) == {"type": "string", "format": "uuid"}
    assert {"type": "string", "format": "uuid"} in create["subscription_id"]["anyOf"]
    assert _non_null(create["subtitle"])["maxLength"] == 128  # optional fields are nullable: null = absent
    assert _non_null(schemas["FlowUpdate"]["properties"]["flow_owner"])["pattern"].startswith(
        "^urn:globus:auth:identity:"
    )
    returned = schemas["RunDocument"]["properties"]["activity_notification_policy"]
    assert _resolve(doc, returned)["required"] == ["status"]


#: a body each operation with a body accepts far enough to reach its handler's scope check
_MINIMAL_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/flows"): {
        "title": "t",
        "definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
    },
    ("post", "/flows/validate"): {
        "definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    },
    ("put", "/flows/{flow_id}"): {},
    ("put", "/runs/{run_id}"): {},
    ("post", "/batch/runs"): {"filters": {"run_ids": ["00000000-0000-4000-8000-000000000000"]}},
    ("post", "/registered_apis"): {"name": "n", "target": {}},
    ("patch", "/registered_apis/{registered_api_id}"): {},
    ("post", "/web_inputs/{web_input_id}/respond"): {"response": {"value": "x"}},
    ("post", "/v2/timer"): {"timer": {}},
    ("post", "/jobs/"): {},
    ("patch", "/jobs/{job_id}"): {},
}


def test_each_operation_states_the_scope_its_handler_enforces(client: Any, make_user: Any) -> None:
    """Issue 15: `security` lists the Globus Auth scopes that grant an operation, least privilege first
    (globus-registered-api's openapi-requirements.md), and the handler enforces exactly the first: a token
    without it gets 403 MISSING_SCOPE naming it."""
    from openflows.auth import scopes

    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["GlobusAuth"]
    assert scheme["type"] == "oauth2" and scopes.VIEW_FLOWS in scheme["flows"]["authorizationCode"]["scopes"]
    outsider = make_user(scopes=["urn:example:unrelated"])
    checked = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if path == "/healthz":
                assert "security" not in operation
                continue
            security = operation["security"]
            assert all(list(requirement) == ["GlobusAuth"] for requirement in security), (method, path)
            named = [requirement["GlobusAuth"] for requirement in security if requirement["GlobusAuth"]]
            if not named:  # the flow's own scope: starting and resuming runs
                assert security == [{"GlobusAuth": []}] and ("run" in path or "resume" in path), path
                continue
            first = named[0][0]
            granting = [[first], [scopes.ALL]] if first in scopes.SERVICE_SCOPES else [[first]]
            assert named == granting, (method, path, security)  # `all` grants only the Flows scopes
            url = path
            for name in ("flow_id", "run_id", "registered_api_id", "web_input_id", "job_id", "endpoint_id"):
                url = url.replace("{" + name + "}", "00000000-0000-4000-8000-000000000001")
            body = _MINIMAL_BODIES.get((method, path))
            response = client.request(method.upper(), url, json=body, headers=outsider.headers)
            assert response.status_code == 403, (method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "MISSING_SCOPE" and error["detail"].endswith(first), (method, path, error)
            checked += 1
    assert checked >= 20
    assert doc["paths"]["/flows"]["get"]["security"][0] == {"GlobusAuth": [scopes.VIEW_FLOWS]}


def test_registered_api_routes_state_what_the_server_checks(client: Any) -> None:
    """Issue 15: the list's roles and orderby have their grammar, ids are UUIDs, and the target's structure
    is stated (what language/openapi_target.py enforces)."""
    doc = client.get("/openapi.json").json()
    roles = _parameter(doc, "/registered_apis", "get", "filter_roles")["items"]["anyOf"]
    assert roles[0]["enum"] == ["owner", "owners", "administrator", "administrators", "viewer", "viewers"]
    assert roles[1]["pattern"].startswith("^")
    orderby = _parameter(doc, "/registered_apis", "get", "orderby")["items"]["anyOf"]
    assert "updated_timestamp DESC" in orderby[0]["enum"] and orderby[1]["pattern"].startswith("^")
    assert _parameter(doc, "/registered_apis", "get", "marker")["pattern"] == "^[A-Za-z0-9_-]*$"
    schemas = doc["components"]["schemas"]
    for name in ("RegisteredApiCreate", "RegisteredApiUpdate"):
        properties = schemas[name]["properties"]
        assert _non_null(properties["subscription_id"]) == {"type": "string", "format": "uuid"}, name
        target = _non_null(properties["target"]) if name.endswith("Update") else properties["target"]
        assert target["properties"]["type"] == {"const": "openapi"}
        assert target["required"] == ["type", "openapi_version", "destination", "specification"]
        templates = _non_null(properties["data_templates"])
        assert templates["required"] == ["request", "response"]
    assert "409" in doc["paths"]["/registered_apis/{registered_api_id}"]["patch"]["responses"]
    listed = doc["paths"]["/registered_apis"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/RegisteredApiList")


def test_every_pattern_fits_a_registered_api_input_schema(client: Any) -> None:
    """Issue 15: `gra build` copies an operation's parameter schemas into the registered API's input schema,
    whose patterns may hold at most 1000 characters; so OpenFlows' own operations register unchanged."""
    from openflows.language.schema_check import MAX_PATTERN_LENGTH

    doc = client.get("/openapi.json").json()
    lengths: list[int] = []
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                lengths.append(len(item["pattern"]))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    assert len(lengths) > 20 and max(lengths) <= MAX_PATTERN_LENGTH, max(lengths)
