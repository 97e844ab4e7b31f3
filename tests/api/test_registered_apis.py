"""The registered API routes (issue 15): create / get / list / update / delete, derived documents, roles,
paging, and the refusal of bad and hostile targets with located problems."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from openflows.store import registered_apis as store
from regapikit import ALL_SCOPE, VIEW_SCOPE, post_target, thing_target, with_changes


def create(user: Any, **fields: Any) -> dict[str, Any]:
    body = {"name": "get-thing", "description": "Get a thing", "target": thing_target(), **fields}
    response = user.post("/registered_apis", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_derives_the_input_schema_templates_and_scopes(alice: Any) -> None:
    doc = create(alice, subscription_id=str(uuid.uuid4()))
    assert doc["name"] == "get-thing" and doc["status"] == "ACTIVE"
    assert doc["roles"] == {"owners": [alice.urn], "administrators": [], "viewers": []}
    assert doc["target"]["destination"] == {
        "method": "get",
        "url": "https://things.example.org/things/{thing_id}",
    }
    schema = doc["state_input_schema"]
    assert schema["required"] == ["path"]
    assert schema["properties"]["path"]["required"] == ["thing_id"]
    assert schema["properties"]["query"]["properties"] == {"verbose": {"type": "boolean"}}
    assert "X-Trace" in schema["properties"]["headers"]["properties"]
    assert schema["additionalProperties"] is False
    templates = doc["data_templates"]
    assert templates["request"]["template"] == {
        "path": {"$T_ref": "$.path"},
        "query": {"$T_ref": "$.query"},
        "headers": {"$T_ref": "$.headers"},
    }
    assert templates["response"]["2XX"] == {"type": "success", "template": {"$T_ref": "$"}}
    assert doc["edited_timestamp"] is None and doc["scheduled_deletion_timestamp"] is None
    # the SDK fixture's keys are all there
    fixture_keys = {
        "id", "name", "description", "roles", "target", "data_templates", "state_input_schema", "status",
        "subscription_id", "created_timestamp", "edited_timestamp", "updated_timestamp",
        "scheduled_deletion_timestamp",
    }  # fmt: skip
    assert fixture_keys <= set(doc)
    assert {"type", "openapi_version", "destination", "specification", "transforms", "components"} <= set(
        doc["target"]
    )
    assert alice.get(f"/registered_apis/{doc['id']}").json() == doc


def test_body_schemas_keep_their_components_as_defs(alice: Any) -> None:
    doc = create(alice, target=post_target())
    schema = doc["state_input_schema"]
    assert schema["required"] == ["body"]
    assert schema["properties"]["body"] == {"$ref": "#/$defs/NewThing"}
    assert schema["$defs"]["NewThing"]["required"] == ["name"]
    assert doc["data_templates"]["request"]["template"] == {"body": {"$T_ref": "$.body"}}


def test_client_templates_and_schema_are_kept_when_valid(alice: Any) -> None:
    flat = {
        "request": {"template": {"path": {"$T_ref": "$"}}},
        "response": {"2XX": {"type": "success", "template": {"$T_ref": "$.body"}}},
    }
    schema = {"type": "object", "properties": {"thing_id": {"type": "string"}}, "required": ["thing_id"]}
    doc = create(alice, data_templates=flat, state_input_schema=schema)
    assert doc["data_templates"] == flat and doc["state_input_schema"] == schema
    bad = alice.post(
        "/registered_apis",
        json={
            "name": "x",
            "target": thing_target(),
            "data_templates": {"request": {"template": {"$T_ref": "$.[["}}, "response": {"7XX": {}}},
        },
    )
    assert bad.status_code == 422
    locs = [p["loc"] for p in bad.json()["error"]["detail"]]
    assert ["data_templates", "request", "template", "$T_ref"] in locs
    assert ["data_templates", "response", "7XX"] in locs


def problems_of(user: Any, target: Any) -> list[dict[str, Any]]:
    response = user.post("/registered_apis", json={"name": "bad", "target": target})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "UNPROCESSABLE_ENTITY" and body["debug_id"]
    return body["error"]["detail"]


def test_bad_targets_are_refused_with_located_problems(alice: Any) -> None:
    url = ["target", "destination", "url"]
    cases = [
        (with_changes(thing_target(), openapi_version="3.0.3"), ["target", "openapi_version"]),
        (with_changes(thing_target(), type="graphql"), ["target", "type"]),
        (
            with_changes(thing_target(), destination={"method": "connect", "url": "x"}),
            ["target", "destination", "method"],
        ),
        (with_changes(thing_target(), destination={"method": "get", "url": "ftp://h/x"}), url),
        (
            with_changes(thing_target(), destination={"method": "get", "url": "https://h/other"}),
            ["target", "specification", "parameters"],
        ),
    ]
    for target, loc in cases:
        assert loc in [p["loc"] for p in problems_of(alice, target)], target
    unknown_placeholder = with_changes(
        thing_target(), destination={"method": "get", "url": "https://h/things/{thing_id}/{nope}"}
    )
    [problem] = problems_of(alice, unknown_placeholder)
    assert problem["loc"] == ["target", "destination", "url"] and "{nope}" in problem["msg"]
    reserved = thing_target()
    reserved["specification"]["parameters"].append({"name": "Authorization", "in": "header"})
    [problem] = problems_of(alice, reserved)
    assert problem["loc"] == ["target", "specification", "parameters", 3, "name"]
    form = post_target()
    form["specification"]["requestBody"]["content"] = {"application/x-www-form-urlencoded": {}}
    assert problems_of(alice, form)[0]["loc"] == ["target", "specification", "requestBody", "content"]


def test_remote_and_dangling_references_are_refused(alice: Any) -> None:
    remote = thing_target()
    remote["components"]["schemas"]["Thing"] = {"$ref": "https://evil.example.org/schema.json"}
    [problem] = problems_of(alice, remote)
    assert problem["loc"] == ["target", "components", "schemas", "Thing", "$ref"]
    assert "remote reference" in problem["msg"]
    dangling = thing_target()
    dangling["specification"]["parameters"][1] = {"$ref": "#/components/parameters/Nope"}
    [problem] = problems_of(alice, dangling)
    assert problem["loc"] == ["target", "specification", "parameters", 1, "$ref"]


def test_reference_cycles_and_long_chains_are_refused_quickly(alice: Any) -> None:
    cycle = thing_target()
    cycle["components"]["parameters"] = {
        "Verbose": {"$ref": "#/components/parameters/Again"},
        "Again": {"$ref": "#/components/parameters/Verbose"},
    }
    [problem] = problems_of(alice, cycle)
    assert problem["loc"] == ["target", "specification", "parameters", 1] and "cycle" in problem["msg"]
    chain = thing_target()
    chain["components"]["parameters"] = {
        f"P{i}": {"$ref": f"#/components/parameters/P{i + 1}"} for i in range(500)
    }
    chain["components"]["parameters"]["P500"] = {"name": "verbose", "in": "query"}
    chain["specification"]["parameters"][1] = {"$ref": "#/components/parameters/P0"}
    started = time.perf_counter()
    [problem] = problems_of(alice, chain)
    elapsed = time.perf_counter() - started
    assert "chain of more than 16 references" in problem["msg"]
    assert elapsed < 1.0, elapsed
    schema_loop = post_target()
    schema_loop["components"]["schemas"]["NewThing"] = {"$ref": "#/components/schemas/Other"}
    schema_loop["components"]["schemas"]["Other"] = {"$ref": "#/components/schemas/NewThing"}
    problems = problems_of(alice, schema_loop)
    assert problems[0]["loc"][0] == "state_input_schema"


def test_huge_targets_are_refused_before_being_read(alice: Any) -> None:
    huge = post_target()
    huge["components"]["schemas"] = {
        f"S{i}": {"type": "object", "properties": {"a": {"type": "string"}}} for i in range(6000)
    }
    started = time.perf_counter()
    response = alice.post("/registered_apis", json={"name": "huge", "target": huge})
    elapsed = time.perf_counter() - started
    assert response.status_code in (413, 422)
    if response.status_code == 422:
        [problem] = response.json()["error"]["detail"]
        assert problem["loc"] == ["target"] and problem["type"] == "too_large"
    assert elapsed < 2.0, elapsed


def test_list_filters_roles_and_pages(alice: Any, bob: Any, make_user: Any) -> None:
    carol = make_user("carol", groups=("readers",))
    owned = [create(alice, name=f"api-{i}") for i in range(5)]
    shared = create(bob, name="bobs", roles={"viewers": [carol.group_urns[0]], "administrators": [alice.urn]})
    ids = lambda page: [item["id"] for item in page["registered_apis"]]  # noqa: E731
    first = alice.get("/registered_apis", params={"per_page": 2, "orderby": "name ASC"}).json()
    assert first["limit"] == 2 and first["has_next_page"] is True and first["marker"]
    assert ids(first) == [owned[0]["id"], owned[1]["id"]]
    assert set(first["registered_apis"][0]) == {
        "id",
        "name",
        "description",
        "created_timestamp",
        "updated_timestamp",
    }
    seen = ids(first)
    marker = first["marker"]
    while marker:
        page = alice.get("/registered_apis", params={"marker": marker}).json()
        seen += ids(page)
        marker = page["marker"]
        assert page["has_next_page"] == (marker is not None)
    assert seen == [api["id"] for api in owned]  # owner is the default filter: bob's is not there
    assert ids(alice.get("/registered_apis", params={"filter_roles": "administrator"}).json()) == [
        shared["id"]
    ]
    assert ids(carol.get("/registered_apis", params={"filter_roles": "viewer"}).json()) == [shared["id"]]
    assert ids(carol.get("/registered_apis").json()) == []
    both = alice.get("/registered_apis", params=[("filter_roles", "owner,administrator")]).json()
    assert len(ids(both)) == 6
    bad = alice.get("/registered_apis", params={"filter_roles": "starter"})
    assert bad.status_code == 422 and bad.json()["error"]["detail"][0]["loc"] == ["query", "filter_roles"]
    assert alice.get("/registered_apis", params={"per_page": 101}).status_code == 422
    assert alice.get("/registered_apis", params={"marker": "garbage"}).status_code == 400


def test_roles_404_for_the_invisible_403_for_the_forbidden(alice: Any, bob: Any, make_user: Any) -> None:
    viewer, admin, stranger = make_user("viewer"), make_user("admin"), make_user("stranger")
    api = create(alice, roles={"owners": [alice.urn], "administrators": [admin.urn], "viewers": [viewer.urn]})
    path = f"/registered_apis/{api['id']}"
    assert stranger.get(path).status_code == 404
    assert stranger.http.patch(path, json={"name": "x"}, headers=stranger.headers).status_code == 404
    assert stranger.delete(path).status_code == 404
    seen = viewer.get(path).json()
    assert seen["roles"] == {"owners": [alice.urn], "administrators": [], "viewers": []}
    assert seen["user_roles"] == ["viewer"]
    refused = viewer.http.patch(path, json={"name": "x"}, headers=viewer.headers)
    assert refused.status_code == 403 and "Missing permissions: UPDATE" in refused.json()["error"]["detail"]
    assert viewer.delete(path).status_code == 403
    renamed = admin.http.patch(
        path, json={"name": "renamed", "roles": {"viewers": []}}, headers=admin.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    assert renamed.json()["roles"]["viewers"] == [] and renamed.json()["edited_timestamp"] is not None
    assert viewer.get(path).status_code == 404  # no longer a viewer
    promote = admin.http.patch(path, json={"roles": {"administrators": [bob.urn]}}, headers=admin.headers)
    assert promote.status_code == 403 and "UPDATE_ROLES" in promote.json()["error"]["detail"]
    assert admin.delete(path).status_code == 403
    drop_self = alice.http.patch(path, json={"roles": {"owners": [bob.urn]}}, headers=alice.headers)
    assert drop_self.status_code == 422 and drop_self.json()["error"]["detail"][0]["loc"] == [
        "roles",
        "owners",
    ]
    shared = alice.http.patch(path, json={"roles": {"owners": [alice.urn, bob.urn]}}, headers=alice.headers)
    assert shared.status_code == 200 and bob.get(path).json()["user_roles"] == [
        "owner",
        "administrator",
        "viewer",
    ]
    someone_else = alice.post(
        "/registered_apis", json={"name": "x", "target": thing_target(), "roles": {"owners": [bob.urn]}}
    )
    assert someone_else.status_code == 422


def test_scopes_of_the_token_are_checked(make_user: Any) -> None:
    reader = make_user(
        "reader", scopes=["https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/view_flows"]
    )
    assert reader.get("/registered_apis").status_code == 200
    refused = reader.post("/registered_apis", json={"name": "x", "target": thing_target()})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "MISSING_SCOPE"


def test_update_checks_a_new_target_and_rederives(alice: Any) -> None:
    api = create(alice)
    path = f"/registered_apis/{api['id']}"
    bad = alice.http.patch(
        path, json={"target": with_changes(thing_target(), openapi_version="2.0")}, headers=alice.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["detail"][0]["loc"] == ["target", "openapi_version"]
    changed = alice.http.patch(path, json={"target": post_target()}, headers=alice.headers).json()
    assert changed["target"]["destination"]["method"] == "post"
    assert changed["state_input_schema"]["required"] == ["body"]


def test_delete_marks_for_deletion_then_it_is_gone(alice: Any, db: Any, settings: Any) -> None:
    api = create(alice)
    path = f"/registered_apis/{api['id']}"
    deleted = alice.delete(path)
    assert deleted.status_code == 200
    doc = deleted.json()
    assert doc["status"] == "DELETE_PENDING"
    when = dt.datetime.fromisoformat(doc["scheduled_deletion_timestamp"])
    assert dt.timedelta(days=6.9) < when - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    assert alice.get(path).json()["status"] == "DELETE_PENDING"
    assert api["id"] not in [a["id"] for a in alice.get("/registered_apis").json()["registered_apis"]]
    refused = alice.http.patch(path, json={"name": "x"}, headers=alice.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "STATE_CONFLICT"
    with db.read() as conn:
        assert store.get_registered_api(conn, api_id=uuid.UUID(api["id"]), now=when) is None
    assert db.transact(store.purge_deleted, now=when) == 1
    assert alice.get(path).status_code == 404


def test_scopes_follow_the_security_order(alice: Any, db: Any) -> None:
    api = create(alice)
    with db.read() as conn:
        row = store.get_registered_api(conn, api_id=uuid.UUID(api["id"]), now=dt.datetime.now(dt.UTC))
    assert row is not None and row["scopes"] == [VIEW_SCOPE, ALL_SCOPE]


def flow_with(api_id: str, parameters: Any = None, **handler: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Action", "Handler": {"Type": "RegisteredAPI", "Id": api_id, **handler}}
    if parameters is not None:
        state["Parameters"] = parameters
    state["End"] = True
    return {"StartAt": "Call", "States": {"Call": state}}


def test_flows_may_use_registered_apis_their_owner_can_see(alice: Any, bob: Any) -> None:
    api = create(alice)
    good = flow_with(api["id"], {"path": {"thing_id.$": "$.id"}, "query": {"verbose": True}})
    assert alice.post("/flows/validate", json={"definition": good}).status_code == 200
    made = alice.post("/flows", json={"title": "uses an API", "definition": good, "input_schema": {}})
    assert made.status_code == 201, made.text
    refused = bob.post("/flows", json={"title": "not mine", "definition": good, "input_schema": {}})
    assert refused.status_code == 422
    [problem] = refused.json()["error"]["detail"]
    assert problem["loc"] == ["definition", "States", "Call", "Handler", "Id"]
    assert problem["msg"] == f"No Registered API exists with id value {api['id']}"
    unknown = alice.post("/flows/validate", json={"definition": flow_with(str(uuid.uuid4()))})
    assert unknown.status_code == 422


def test_validate_lists_the_scopes_of_the_registered_apis_a_flow_calls(alice: Any) -> None:
    """Issue 15: POST /flows/validate adds each registered API's first scope to its state's RunAs role."""
    api = create(alice)
    definition = flow_with(api["id"], {"path": {"thing_id": "t1"}})
    definition["States"]["Call"]["RunAs"] = "Robot"
    definition["States"]["Call"].pop("End")
    definition["States"]["Call"]["Next"] = "Hello"
    definition["States"]["Hello"] = {
        "Type": "Action",
        "ActionUrl": "https://actions.globus.org/hello_world",
        "End": True,
    }
    validated = alice.post("/flows/validate", json={"definition": definition})
    assert validated.status_code == 200, validated.text
    assert validated.json()["scopes"] == {
        "Robot": [VIEW_SCOPE],
        "User": ["https://auth.globus.org/scopes/actions.globus.org/hello_world"],
    }


def test_static_parameters_are_checked_against_the_input_schema(alice: Any) -> None:
    api = create(alice)
    cases = {
        "missing path": ({"query": {"verbose": True}}, ["definition", "States", "Call", "Parameters"]),
        "wrong type": (
            {"path": {"thing_id": "x"}, "query": {"verbose": "yes"}},
            ["definition", "States", "Call", "Parameters", "query", "verbose"],
        ),
        "unknown key": (
            {"path": {"thing_id": "x"}, "bogus.$": "$.x"},
            ["definition", "States", "Call", "Parameters", "bogus.$"],
        ),
    }
    for name, (parameters, loc) in cases.items():
        response = alice.post("/flows/validate", json={"definition": flow_with(api["id"], parameters)})
        assert response.status_code == 422, name
        assert loc in [p["loc"] for p in response.json()["error"]["detail"]], (name, response.json())
    dynamic = {"path.$": "$.where", "query": {"verbose.$": "$.v"}}
    assert (
        alice.post("/flows/validate", json={"definition": flow_with(api["id"], dynamic)}).status_code == 200
    )


def test_handler_forms_in_definitions(alice: Any) -> None:
    api = create(alice)
    both = flow_with(api["id"])
    both["States"]["Call"]["ActionUrl"] = "https://example.org/ap"
    hosted = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Action", "Handler": "urn:globus:flows:handle:globus:groups.get_group", "End": True}
        },
    }
    provider = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Action",
                "Handler": {"Type": "ActionProvider", "Url": "https://example.org/ap", "Scope": "s"},
                "End": True,
            }
        },
    }
    bad_id = flow_with("not-a-uuid")
    extra = flow_with(api["id"], Url="https://x")
    for definition, loc in [
        (both, ["definition", "States", "Call", "Handler"]),
        (hosted, ["definition", "States", "A", "Handler"]),
        (bad_id, ["definition", "States", "Call", "Handler", "Id"]),
        (extra, ["definition", "States", "Call", "Handler", "Url"]),
    ]:
        response = alice.post("/flows/validate", json={"definition": definition})
        assert response.status_code == 422
        assert loc in [p["loc"] for p in response.json()["error"]["detail"]], response.json()
    assert alice.post("/flows/validate", json={"definition": provider}).status_code == 200
    hosted_msg = alice.post("/flows/validate", json={"definition": hosted}).json()["error"]["detail"][0][
        "msg"
    ]
    assert "hosted by Globus" in hosted_msg
