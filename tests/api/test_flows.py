"""Flow routes through the ASGI app: documents, limits, partial updates, soft delete, list filters, roles and
scopes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from openflows.auth import scopes

from .conftest import PASS_DEFINITION, MakeUser, User, pass_definition

PRIVATE_DEFINITION: dict[str, Any] = {
    "StartAt": "A",
    "States": {
        "A": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string": "hi", "secret": "s3cr3t", "__Private_Parameters": ["secret"]},
            "End": True,
        }
    },
}


def test_create_flow_document(alice: User, bob: User) -> None:
    flow = alice.create_flow(
        title="t",
        subtitle="s",
        description="d",
        keywords=["a", "b"],
        flow_viewers=["public", bob.urn, bob.urn],
    )
    flow_id = flow["id"]
    assert flow["flow_owner"] == flow["created_by"] == alice.urn
    assert flow["flow_viewers"] == ["public", bob.urn]  # duplicates dropped, order kept
    assert flow["globus_auth_scope"] == scopes.flow_scope(flow_id)
    assert flow["globus_auth_scopes_by_RunAs"] == [scopes.flow_scope(flow_id)]
    assert flow["action_url"] == flow["flow_url"] == f"http://testserver/flows/{flow_id}"
    assert flow["user_role"] == "flow_owner"
    assert flow["user_roles"] == ["flow_owner", "flow_viewer"]  # "public" makes everyone a viewer
    assert flow["created_at"].endswith("+00:00") and flow["created_at"] == flow["updated_at"]
    assert (flow["synchronous"], flow["log_supported"], flow["types"], flow["api_version"]) == (
        False,
        True,
        ["Action"],
        "1.0",
    )
    assert flow["subscription_id"] is None and flow["is_high_assurance"] is False


def test_public_url_setting_is_advertised(settings: Any, db: Any, make_user: MakeUser) -> None:
    from fastapi.testclient import TestClient

    from openflows.api.app import create_app

    app = create_app(settings.replace(public_url="https://flows.example.org/"), db=db)
    user = make_user()
    with TestClient(app) as client:
        response = client.post(
            "/flows",
            json={"title": "x", "definition": PASS_DEFINITION, "input_schema": {}},
            headers=user.headers,
        )
    assert response.json()["flow_url"] == f"https://flows.example.org/flows/{response.json()['id']}"


def test_private_parameters_are_hidden_from_non_administrators(alice: User, bob: User) -> None:
    flow = alice.create_flow(definition=PRIVATE_DEFINITION, flow_viewers=[bob.urn])
    assert flow["definition"]["States"]["A"]["Parameters"]["secret"] == "s3cr3t"
    seen = bob.get(f"/flows/{flow['id']}").json()
    assert seen["definition"]["States"]["A"]["Parameters"]["secret"] != "s3cr3t"
    assert seen["definition"]["States"]["A"]["Parameters"]["echo_string"] == "hi"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 129),
        ("subtitle", "x" * 129),
        ("description", "x" * 4097),
        ("keywords", ["k" * 600, "k" * 600]),
        ("flow_viewers", [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(17)]),
        ("flow_starters", ["public"]),
        ("flow_administrators", ["all_authenticated_users"]),
        ("run_monitors", ["urn:globus:groups:id:not-a-uuid"]),
        ("subscription_id", "not-a-uuid"),
        ("authentication_policy_id", "nope"),
    ],
)
def test_create_flow_field_limits(alice: User, field: str, value: Any) -> None:
    response = alice.post(
        "/flows", json={"title": "x", "definition": PASS_DEFINITION, "input_schema": {}, field: value}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "UNPROCESSABLE_ENTITY"
    assert error["detail"][0]["loc"][0] == field
    assert error["message"].startswith("1 validation error in body.")


def test_sixteen_unique_principals_and_duplicates_are_fine(alice: User) -> None:
    principals = [f"urn:globus:groups:id:{uuid.uuid4()}" for _ in range(16)]
    flow = alice.create_flow(run_managers=principals + principals[:3])
    assert flow["run_managers"] == principals


def test_bad_principal_matches_the_hosted_wording(alice: User) -> None:
    response = alice.post(
        "/flows",
        json={
            "title": "x",
            "definition": PASS_DEFINITION,
            "input_schema": {},
            "flow_administrators": ["ae34"],
        },
    )
    detail = response.json()["error"]["detail"]
    assert detail == [
        {
            "loc": ["flow_administrators", 0],
            "msg": 'Unrecognized principal string: "ae34". '
            'Allowed principal types in role "FlowAdministrator": [<AuthGroupUrn>, <AuthIdentityUrn>]',
            "type": "value_error",
        }
    ]


def test_invalid_definition_and_schema_have_prefixed_locations(alice: User) -> None:
    bad = {
        "StartAt": "S",
        "States": {"S": {"Type": "Action", "ActionUrl": "https://x.org", "Parameters": {}}},
    }
    response = alice.post("/flows", json={"title": "x", "definition": bad, "input_schema": {"type": "nope"}})
    assert response.status_code == 422
    locs = [d["loc"] for d in response.json()["error"]["detail"]]
    assert locs[0][:3] == ["definition", "States", "S"]
    assert any(loc[0] == "input_schema" for loc in locs)
    validate = alice.post("/flows/validate", json={"definition": bad})
    assert validate.status_code == 422
    assert validate.json()["error"]["message"].startswith(
        "1 validation error in body. $.definition.States.S:"
    )


def test_validate_flow_reports_scopes_and_analysis(alice: User) -> None:
    response = alice.post("/flows/validate", json={"definition": PRIVATE_DEFINITION, "input_schema": None})
    assert response.status_code == 200
    body = response.json()
    assert body["scopes"] == {"User": ["https://auth.globus.org/scopes/actions.globus.org/hello_world"]}
    assert body["analysis"]["number_of_possibilities"] == 1
    assert alice.get("/flows").json()["flows"] == []


def test_update_flow_is_partial_and_nulls_are_absent(alice: User, bob: User) -> None:
    flow = alice.create_flow(subtitle="keep", flow_viewers=[bob.urn], extra_key="ignored")
    response = alice.put(
        f"/flows/{flow['id']}",
        json={
            "title": "new",
            "subtitle": None,
            "flow_viewers": [],
            "definition": pass_definition(2),
            "unknown": 1,
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "new" and updated["subtitle"] == "keep" and updated["flow_viewers"] == []
    assert updated["definition"] == pass_definition(2)
    assert bob.get(f"/flows/{flow['id']}").status_code == 404  # no longer a viewer
    assert (
        alice.put(f"/flows/{flow['id']}", json={"subscription_id": "DEFAULT"}).json()["subscription_id"]
        is None
    )


def test_update_flow_owner_rules(alice: User, bob: User, make_user: MakeUser) -> None:
    carol = make_user("carol")
    flow = alice.create_flow(flow_administrators=[bob.urn], flow_starters=[carol.urn])
    given_away = alice.put(f"/flows/{flow['id']}", json={"flow_owner": bob.urn})
    assert (given_away.status_code, given_away.json()["error"]["code"]) == (403, "FORBIDDEN")
    not_admin = carol.put(f"/flows/{flow['id']}", json={"flow_owner": carol.urn})
    assert not_admin.status_code == 403
    taken = bob.put(f"/flows/{flow['id']}", json={"flow_owner": bob.urn})
    assert taken.json()["flow_owner"] == bob.urn and taken.json()["user_role"] == "flow_owner"
    assert alice.get(f"/flows/{flow['id']}").status_code == 404  # alice has no role left
    filtered = bob.get("/flows", params={"filter_roles": "flow_owner"}).json()["flows"]
    assert [f["id"] for f in filtered] == [flow["id"]]


def test_delete_flow_is_soft_and_hides_the_flow(alice: User, bob: User) -> None:
    flow = alice.create_flow(flow_viewers=[bob.urn], flow_administrators=[bob.urn])
    run = alice.run_flow(flow["id"])
    deleted = bob.delete(f"/flows/{flow['id']}")
    assert deleted.status_code == 200
    doc = deleted.json()
    assert doc["DELETED"] is True and doc["deleted_at"].endswith("+00:00")
    assert doc["flow_viewers"] == [] and doc["flow_administrators"] == []
    assert alice.get(f"/flows/{flow['id']}").status_code == 404
    assert alice.get("/flows").json()["flows"] == []
    assert alice.get(f"/runs/{run['run_id']}").json()["flow_title"] == flow["title"]  # runs keep their flow
    assert [
        r["run_id"] for r in alice.get("/runs", params={"filter_roles": "flow_run_manager"}).json()["runs"]
    ] == [run["run_id"]]


def test_roles_404_and_403(alice: User, bob: User, make_user: MakeUser) -> None:
    carol = make_user("carol", groups=("team",))
    private = alice.create_flow()
    response = bob.get(f"/flows/{private['id']}")
    assert (response.status_code, response.json()["error"]["detail"]) == (
        404,
        f"No Flow exists with id value {private['id']}",
    )
    viewed = alice.create_flow(flow_viewers=[carol.group_urns[0]])
    assert carol.get(f"/flows/{viewed['id']}").json()["user_role"] == "flow_viewer"
    for method, path in (("put", ""), ("delete", "")):
        response = getattr(carol, method)(
            f"/flows/{viewed['id']}{path}", **({"json": {"title": "x"}} if method == "put" else {})
        )
        assert response.status_code == 403
    forbidden = carol.post(f"/flows/{viewed['id']}/run", json={"body": {}})
    assert forbidden.json()["error"]["detail"].endswith("Missing permissions: RUN.")
    public = alice.create_flow(flow_viewers=["public"], flow_starters=["all_authenticated_users"])
    assert bob.get(f"/flows/{public['id']}").json()["user_role"] == "flow_starter"
    assert set(bob.get(f"/flows/{public['id']}").json()["user_roles"]) == {"flow_viewer", "flow_starter"}


def _ids(user: User, **params: Any) -> list[str]:
    response = user.get("/flows", params=params)
    assert response.status_code == 200, response.text
    return [flow["id"] for flow in response.json()["flows"]]


def test_list_flows_role_filters(alice: User, bob: User, make_user: MakeUser) -> None:
    carol = make_user("carol", groups=("team",))
    team = carol.group_urns[0]
    viewed = alice.create_flow(flow_viewers=[team])["id"]
    started = alice.create_flow(flow_starters=[carol.urn])["id"]
    administered = alice.create_flow(flow_administrators=[team])["id"]
    monitored = alice.create_flow(run_monitors=[carol.urn])["id"]
    owned = carol.create_flow()["id"]
    public = bob.create_flow(flow_viewers=["public"])["id"]
    bob.create_flow()  # private to bob
    assert set(_ids(carol, filter_roles="flow_viewer")) == {viewed, public}
    assert set(_ids(carol, filter_roles="flow_starters")) == {started}
    assert set(_ids(carol, filter_roles=["flow_administrator"])) == {administered}
    assert set(_ids(carol, filter_roles="flow_owner")) == {owned}
    assert set(_ids(carol, filter_roles="run_monitor")) == {monitored}
    assert set(_ids(carol, filter_roles="flow_viewers,flow_starter")) == {viewed, public, started}
    assert set(_ids(carol, filter_role="flow_owner")) == {owned}
    assert (
        set(_ids(carol))
        == set(_ids(carol, filter_roles=""))
        == {viewed, started, administered, monitored, owned, public}
    )
    bad = carol.get("/flows", params={"filter_roles": "flow_king"})
    assert (bad.status_code, bad.json()["error"]["detail"][0]["loc"]) == (422, ["query", "filter_roles"])


def test_list_flows_text_filters(alice: User) -> None:
    a = alice.create_flow(title="Frobulate data", keywords=["genomics"])["id"]
    b = alice.create_flow(subtitle="frobulate 100%")["id"]
    c = alice.create_flow(description="nothing here")["id"]
    assert set(_ids(alice, filter_fulltext="FROBULATE")) == {a, b}
    assert set(_ids(alice, filter_fulltext="100%")) == {b}
    assert set(_ids(alice, filter_fulltext=c)) == {c}
    assert set(_ids(alice, filter_fulltext="genom")) == {a}
    assert set(_ids(alice, filter_title="frob")) == {a}
    assert set(_ids(alice, filter_keywords="genomics")) == {a}
    assert set(_ids(alice, filter_scope_string=scopes.flow_scope(c))) == {c}
    assert _ids(alice, filter_scope_string="not a scope") == []
    assert set(_ids(alice, filter_title="")) == {a, b, c}


@pytest.mark.parametrize(
    "orderby",
    [["title ASC", "created_at DESC"], ["title ASC,created_at DESC"], ["title+ASC, created_at:DESC"]],
)
def test_list_flows_orderby_shapes_and_pages(alice: User, orderby: list[str]) -> None:
    created = [alice.create_flow(title=title)["id"] for title in ("b", "a", "c", "a", "b")]
    expected = [created[3], created[1], created[4], created[0], created[2]]
    seen: list[str] = []
    params: dict[str, Any] = {"orderby": orderby, "per_page": 2}
    while True:
        page = alice.get("/flows", params=params).json()
        seen += [flow["id"] for flow in page["flows"]]
        assert page["limit"] == 2
        if not page["has_next_page"]:
            assert page["marker"] is None
            break
        params = {"marker": page["marker"]}  # the marker carries the query
    assert seen == expected


def test_list_flows_default_order_is_updated_at_desc(alice: User) -> None:
    first, second, third = (alice.create_flow()["id"] for _ in range(3))
    alice.put(f"/flows/{first}", json={"description": "touched"})
    assert _ids(alice) == [first, third, second]
    assert _ids(alice, orderby="updated_at ASC") == [second, third, first]


@pytest.mark.parametrize(
    "query",
    [
        {"per_page": "0"},
        {"per_page": "101"},
        {"per_page": "x"},
        {"orderby": "password ASC"},
        {"orderby": "title SIDEWAYS"},
        {"marker": "garbage"},
        {"marker": "A" * 9000},
    ],
)
def test_list_flows_bad_query_values_are_4xx(alice: User, query: dict[str, str]) -> None:
    response = alice.get("/flows", params=query)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] in ("BAD_REQUEST", "UNPROCESSABLE_ENTITY")


def test_a_runs_marker_is_not_a_flows_marker(alice: User) -> None:
    flow = alice.create_flow()
    for _ in range(2):
        alice.run_flow(flow["id"])
    marker = alice.get("/runs", params={"per_page": 1}).json()["marker"]
    assert alice.get("/flows", params={"marker": marker}).status_code == 400


def test_scopes_are_enforced(make_user: MakeUser) -> None:
    viewer = make_user("vic", scopes=[scopes.VIEW_FLOWS])
    manager = make_user("vic", scopes=[scopes.MANAGE_FLOWS])
    everything = make_user("vic", scopes=[scopes.ALL])
    flow = manager.create_flow()
    assert viewer.get(f"/flows/{flow['id']}").status_code == 200
    denied = viewer.post("/flows", json={"title": "x", "definition": PASS_DEFINITION, "input_schema": {}})
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "code": "MISSING_SCOPE",
        "detail": f"This action requires the following scope: {scopes.MANAGE_FLOWS}",
    }
    assert manager.get("/flows").json()["error"]["code"] == "MISSING_SCOPE"
    assert everything.put(f"/flows/{flow['id']}", json={"title": "y"}).status_code == 200
    assert (
        everything.post(f"/flows/{flow['id']}/run", json={"body": {}}).json()["error"]["code"]
        == "MISSING_SCOPE"
    )
    runner = make_user("vic", scopes=[scopes.flow_scope(flow["id"])])
    assert runner.post(f"/flows/{flow['id']}/run", json={"body": {}}).status_code == 201


def test_validate_flow_warns_about_a_near_miss_of_a_hosted_provider(alice: User) -> None:
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {"Type": "Action", "ActionUrl": "https://actions.globus.org/helo_world", "End": True}
        },
    }
    response = alice.post("/flows/validate", json={"definition": definition})
    assert response.status_code == 200, response.text
    assert response.json()["analysis"]["warnings"] == [
        {
            "loc": ["definition", "States", "Hello", "ActionUrl"],
            "msg": "'https://actions.globus.org/helo_world' is not a Globus-hosted action provider; "
            "did you mean 'https://actions.globus.org/hello_world'?",
            "type": "unknown_action_url",
        }
    ]


def test_validate_flow_warns_about_a_provider_whose_scope_is_unknown_in_the_same_shape(alice: User) -> None:
    # a provider that cannot be introspected (nothing listens there): the warning has a place and a type, like
    # the definition's own warnings, and appears beside them rather than replacing them
    definition = {
        "StartAt": "Near",
        "States": {
            "Near": {"Type": "Action", "ActionUrl": "https://actions.globus.org/helo_world", "Next": "Far"},
            "Far": {"Type": "Action", "ActionUrl": "http://127.0.0.1:9/nothing-listens", "End": True},
        },
    }
    response = alice.post("/flows/validate", json={"definition": definition})
    assert response.status_code == 200, response.text
    warnings = response.json()["analysis"]["warnings"]
    assert [(w["loc"], w["type"]) for w in warnings] == [
        (["definition", "States", "Near", "ActionUrl"], "unknown_action_url"),
        (["definition", "States", "Far", "ActionUrl"], "unknown_action_scope"),
    ]
    assert "http://127.0.0.1:9/nothing-listens" in warnings[1]["msg"]


MAP_DEFINITION: dict[str, Any] = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Iterator": {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    },
}


def test_validate_flow_lists_what_a_hosted_globus_flow_could_not_use(alice: User) -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {
                "Type": "ExpressionEval",
                "Parameters": {"x.=": "1"},
                "ResultPath": "$.x",
                "Retry": [{"ErrorEquals": ["States.ALL"]}],
                "Next": "C",
            },
            "C": {"Type": "Succeed"},
        },
    }
    response = alice.post("/flows/validate", json={"definition": definition})
    assert response.status_code == 200, response.text
    portability = response.json()["analysis"]["portability"]
    assert [(entry["loc"], entry["feature"]) for entry in portability] == [
        (["definition", "States", "B", "Retry"], "Retry"),
        (["definition", "States", "C", "Type"], "Succeed"),
    ]
    plain = alice.post("/flows/validate", json={"definition": PRIVATE_DEFINITION}).json()
    assert plain["analysis"]["portability"] == []


def test_map_flows_validate_with_their_portability_and_are_stored(alice: User) -> None:
    validated = alice.post("/flows/validate", json={"definition": MAP_DEFINITION})
    assert validated.status_code == 200, validated.text
    assert [(e["loc"], e["feature"]) for e in validated.json()["analysis"]["portability"]] == [
        (["definition", "States", "Fan", "Type"], "Map")
    ]
    created = alice.post("/flows", json={"definition": MAP_DEFINITION, "title": "map"})
    assert created.status_code == 201, created.text
    assert created.json()["definition"] == MAP_DEFINITION
    broken = {**MAP_DEFINITION, "States": {"Fan": {**MAP_DEFINITION["States"]["Fan"], "MaxConcurrency": -1}}}
    details = alice.post("/flows/validate", json={"definition": broken}).json()["error"]["detail"]
    assert [d["loc"] for d in details] == [["definition", "States", "Fan", "MaxConcurrency"]]
