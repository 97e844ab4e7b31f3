"""FlowsClient flow methods against a live server: create, get, list (filters, orderby), update, delete,
validate.

Expected values come from spec/flows-api.md (§3 method mapping, §6 errors, §7 documents, §9 limits and
roles) and the SDK's own fixture documents.
"""

from __future__ import annotations

import typing as t
import uuid

import globus_sdk
import pytest

from .support import (
    HELLO_WORLD_SCOPE,
    IDENTITY_URN,
    IS_SDK3,
    ISO_UTC,
    MSG_SCHEMA,
    OPEN_SCHEMA,
    Identity,
    assert_same_shape,
    expect_error,
    fixture_response_json,
    flow_scope,
    hello_definition,
    load_fixture_common,
    pass_definition,
    unique,
)

COMMON = load_fixture_common()


def create(user: Identity, **kwargs: t.Any) -> dict[str, t.Any]:
    kwargs.setdefault("title", unique("flow"))
    kwargs.setdefault("definition", pass_definition())
    kwargs.setdefault("input_schema", OPEN_SCHEMA)
    return user.flows.create_flow(**kwargs).data


# ----------------------------------------------------------------------------------------------------
# create_flow / get_flow


def test_create_flow_minimal_returns_a_full_flow_document(alice: Identity) -> None:
    flow = create(alice, title="minimal flow")
    assert_same_shape(flow, COMMON.TWO_HOP_TRANSFER_FLOW_DOC, "create_flow response")
    flow_id = flow["id"]
    assert str(uuid.UUID(flow_id)) == flow_id
    assert flow["title"] == "minimal flow"
    assert flow["definition"] == pass_definition()
    assert flow["input_schema"] == OPEN_SCHEMA
    assert flow["flow_owner"] == alice.urn
    assert flow["created_by"] == alice.urn
    assert flow["user_role"] == "flow_owner"
    assert flow["globus_auth_scope"] == flow_scope(flow_id)
    assert flow["principal_urn"] == f"urn:globus:auth:identity:{flow_id}"
    assert flow["globus_auth_username"] == f"{flow_id}@clients.auth.globus.org"
    assert flow["synchronous"] is False
    assert flow["log_supported"] is True
    assert flow["types"] == ["Action"]
    assert flow["api_version"] == "1.0"
    assert flow["subtitle"] == ""
    assert flow["description"] == ""
    assert flow["keywords"] == []
    for role in ("flow_viewers", "flow_starters", "flow_administrators", "run_managers", "run_monitors"):
        assert flow[role] == [], role
    assert ISO_UTC.match(flow["created_at"]), flow["created_at"]
    assert ISO_UTC.match(flow["updated_at"]), flow["updated_at"]
    assert flow["action_url"].endswith(f"/flows/{flow_id}"), flow["action_url"]
    assert flow["flow_url"].endswith(f"/flows/{flow_id}"), flow["flow_url"]


def test_flow_document_has_the_openapi_only_fields(alice: Identity) -> None:
    """Spec §7: FlowResponse also lists user_roles, subscription_id, is_high_assurance,
    globus_auth_scopes_by_RunAs; the CLI shows authentication_policy_id."""
    flow = create(alice)
    assert flow["user_roles"] == ["flow_owner"] or "flow_owner" in flow["user_roles"], flow["user_roles"]
    for key in (
        "subscription_id",
        "authentication_policy_id",
        "is_high_assurance",
        "globus_auth_scopes_by_RunAs",
    ):
        assert key in flow, f"flow document has no {key!r}: {sorted(flow)}"
    assert flow["is_high_assurance"] is False
    assert isinstance(flow["globus_auth_scopes_by_RunAs"], list)


def test_create_flow_with_every_optional_field(
    alice: Identity, bob: Identity, carol: Identity, team_urn: str
) -> None:
    subscription_id = str(uuid.uuid4())
    policy_id = str(uuid.uuid4())
    kwargs: dict[str, t.Any] = {
        "title": "everything",
        "definition": hello_definition(),
        "input_schema": MSG_SCHEMA,
        "subtitle": "a subtitle",
        "description": "a longer description",
        "flow_viewers": ["public", bob.urn],
        "flow_starters": ["all_authenticated_users", team_urn],
        "flow_administrators": [carol.urn],
        "run_managers": [bob.urn],
        "run_monitors": [team_urn],
        "keywords": ["alpha", "beta"],
        "subscription_id": subscription_id,
    }
    if IS_SDK3:
        kwargs["additional_fields"] = {"authentication_policy_id": policy_id}
    else:
        kwargs["authentication_policy_id"] = policy_id
    flow = alice.flows.create_flow(**kwargs).data
    assert flow["subtitle"] == "a subtitle"
    assert flow["description"] == "a longer description"
    assert sorted(flow["flow_viewers"]) == sorted(["public", bob.urn])
    assert sorted(flow["flow_starters"]) == sorted(["all_authenticated_users", team_urn])
    assert flow["flow_administrators"] == [carol.urn]
    assert flow["run_managers"] == [bob.urn]
    assert flow["run_monitors"] == [team_urn]
    assert flow["keywords"] == ["alpha", "beta"]
    assert flow["subscription_id"] == subscription_id
    assert flow["authentication_policy_id"] == policy_id
    assert flow["definition"] == hello_definition()
    assert flow["input_schema"] == MSG_SCHEMA
    fetched = alice.flows.get_flow(flow["id"]).data
    for key in kwargs:
        if key != "additional_fields":
            assert _normalised(fetched[key]) == _normalised(flow[key]), key


def _normalised(value: t.Any) -> t.Any:
    return sorted(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value


def test_get_flow_returns_what_create_returned(alice: Identity) -> None:
    flow = create(alice, keywords=["k"], subtitle="s", description="d")
    fetched = alice.flows.get_flow(flow["id"])
    assert fetched.http_status == 200
    assert fetched.data == flow


def test_get_flow_accepts_a_uuid_object(alice: Identity) -> None:
    flow = create(alice)
    assert alice.flows.get_flow(uuid.UUID(flow["id"]))["id"] == flow["id"]


def test_create_flow_rejects_an_invalid_definition(alice: Identity) -> None:
    broken = {"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}}
    err = expect_error(
        alice.flows.create_flow, "bad", broken, OPEN_SCHEMA, status=422, code="UNPROCESSABLE_ENTITY"
    )
    assert err.messages, err.text


def test_create_flow_rejects_a_bad_principal_with_loc(alice: Identity) -> None:
    """SDK fixture create_flow/bad_admin_principal_error: 422, detail [{loc: ["flow_administrators", 0]}]."""
    err = expect_error(
        alice.flows.create_flow,
        "bad principal",
        pass_definition(),
        OPEN_SCHEMA,
        flow_administrators=["ae341a98-d274-11e5-b888-dbae3a8ba545"],
        status=422,
        code="UNPROCESSABLE_ENTITY",
    )
    details = err.raw_json["error"]["detail"]
    assert isinstance(details, list) and details, err.text
    assert details[0]["loc"] == ["flow_administrators", 0], details
    assert err.messages == [d["msg"] for d in details]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "x" * 129),
        ("title", ""),
        ("subtitle", "x" * 129),
        ("description", "x" * 4097),
        ("flow_viewers", [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(17)]),
        ("flow_starters", [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(17)]),
        ("flow_administrators", [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(17)]),
        ("run_managers", [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(17)]),
        ("flow_starters", ["public"]),
        ("flow_administrators", ["all_authenticated_users"]),
        ("keywords", ["k" * 1025]),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_create_flow_enforces_field_limits(alice: Identity, field: str, value: t.Any) -> None:
    """Spec §9 limits: title 1-128, subtitle <=128, description <=4096, <=16 principals, keywords <=1024."""
    kwargs: dict[str, t.Any] = {
        "title": "limits",
        "definition": pass_definition(),
        "input_schema": OPEN_SCHEMA,
    }
    kwargs[field] = value
    err = expect_error(alice.flows.create_flow, **kwargs, status=422, code="UNPROCESSABLE_ENTITY")
    locs = (
        [d.get("loc") for d in err.raw_json["error"]["detail"]]
        if isinstance(err.raw_json["error"]["detail"], list)
        else []
    )
    assert any(loc and loc[0] == field for loc in locs), f"no loc for {field}: {err.text[:500]}"


def test_create_flow_accepts_sixteen_principals_and_limit_lengths(alice: Identity) -> None:
    principals = [f"urn:globus:auth:identity:{uuid.uuid4()}" for _ in range(16)]
    flow = create(alice, title="t" * 128, subtitle="s" * 128, description="d" * 4096, flow_viewers=principals)
    assert sorted(flow["flow_viewers"]) == sorted(principals)
    assert len(flow["title"]) == 128


# ----------------------------------------------------------------------------------------------------
# list_flows


def test_list_flows_envelope_and_own_flows(loner: Identity, alice: Identity) -> None:
    empty = loner.flows.list_flows(filter_roles=["flow_owner"])
    assert empty["flows"] == []
    assert empty["has_next_page"] is False
    assert "limit" in empty.data and isinstance(empty["limit"], int)
    assert empty.data.get("marker") is None
    tag = uuid.uuid4().hex
    ids = {create(alice, description=tag)["id"] for _ in range(3)}
    assert {flow["id"] for flow in alice.flows.paginated.list_flows().items()} >= ids
    mine = alice.flows.list_flows(filter_roles="flow_owner", filter_fulltext=tag)
    assert {flow["id"] for flow in mine} == ids
    for flow in mine:
        assert_same_shape(flow, COMMON.TWO_HOP_TRANSFER_FLOW_DOC, "list_flows item")
        assert flow["user_role"] == "flow_owner"


def test_list_flows_envelope_matches_sdk_fixture(alice: Identity) -> None:
    reference = fixture_response_json("flows.list_flows")
    page = alice.flows.list_flows().data
    assert set(reference) <= set(page), f"envelope keys {sorted(page)} vs fixture {sorted(reference)}"


@pytest.mark.parametrize("spelling", ["singular", "plural"])
def test_list_flows_filter_roles(alice: Identity, bob: Identity, spelling: str) -> None:
    """Spec §1.3: accept singular (SDK/CLI) and plural (OpenAPI) role names. A filter matches the roles held
    directly (listed in that role, by identity, group, "public" or "all_authenticated_users")."""
    owner, other = alice, bob
    names = {
        "singular": ("flow_viewer", "flow_starter", "flow_administrator", "flow_owner"),
        "plural": ("flow_viewers", "flow_starters", "flow_administrators", "flow_owner"),
    }[spelling]
    viewer_role, starter_role, admin_role, owner_role = names
    viewed = create(owner, flow_viewers=[other.urn])["id"]
    started = create(owner, flow_starters=[other.urn])["id"]
    administered = create(owner, flow_administrators=[other.urn])["id"]
    owned = create(other)["id"]
    private = create(owner)["id"]
    # Other tests share this server and make more flows (some "public"): look only at ours.
    ours = {viewed, started, administered, owned, private}

    def listed(roles: t.Any) -> set[str]:
        return {flow["id"] for flow in other.flows.paginated.list_flows(filter_roles=roles).items()} & ours

    assert listed(owner_role) == {owned}
    assert listed([admin_role]) == {administered}
    assert listed([starter_role]) == {started}
    assert listed([viewer_role]) == {viewed}
    assert listed([viewer_role, starter_role]) == {viewed, started}
    assert listed(",".join([viewer_role, starter_role])) == {viewed, started}
    everything = {viewed, started, administered, owned}
    assert listed([owner_role, admin_role, starter_role, viewer_role]) == everything
    assert {flow["id"] for flow in other.flows.paginated.list_flows().items()} & ours == everything


def test_list_flows_filter_roles_user_role_values(alice: Identity, bob: Identity) -> None:
    owner, other = alice, bob
    expected = {
        create(owner, flow_viewers=[other.urn])["id"]: "flow_viewer",
        create(owner, flow_starters=[other.urn])["id"]: "flow_starter",
        create(owner, flow_administrators=[other.urn])["id"]: "flow_administrator",
    }
    seen = {
        flow["id"]: flow["user_role"]
        for flow in other.flows.paginated.list_flows(
            filter_roles=["flow_viewer", "flow_starter", "flow_administrator"]
        ).items()
        if flow["id"] in expected  # other tests' flows are listed too
    }
    assert seen == expected


def test_list_flows_filter_fulltext(alice: Identity) -> None:
    user = alice
    token = uuid.uuid4().hex[:8]
    in_title = create(user, title=f"Frobulate {token} data")["id"]
    in_subtitle = create(user, subtitle=f"sub {token.upper()}")["id"]
    in_description = create(user, description=f"this flow mentions {token} somewhere")["id"]
    create(user, title="unrelated")

    def search(text: str) -> set[str]:
        return {
            flow["id"]
            for flow in user.flows.paginated.list_flows(
                filter_fulltext=text, filter_roles="flow_owner"
            ).items()
        }

    assert search(token) == {in_title, in_subtitle, in_description}
    assert search(f"Frobulate {token}") == {in_title}
    assert search(in_description) == {in_description}  # the id is searched too
    assert search(uuid.uuid4().hex) == set()


@pytest.mark.parametrize("shape", ["list", "str", "comma_joined"])
def test_list_flows_orderby(alice: Identity, shape: str) -> None:
    """Spec §1.4: orderby as repeated params (SDK iterable), one param (str), or comma-joined (CLI)."""
    tag = uuid.uuid4().hex
    titles = [f"{tag} {letter}" for letter in ("b", "a", "c", "a")]
    flows = [create(alice, title=title) for title in titles]
    orderby: t.Any = {
        "list": ["title ASC", "created_at DESC"],
        "str": "title DESC",
        "comma_joined": "title ASC,created_at DESC",
    }[shape]
    listed = list(
        alice.flows.paginated.list_flows(
            filter_roles="flow_owner", filter_fulltext=tag, orderby=orderby
        ).items()
    )
    got = [(flow["title"], flow["id"]) for flow in listed]
    assert len(got) == 4
    by_created = {flow["id"]: index for index, flow in enumerate(flows)}
    if shape == "str":
        assert [title for title, _ in got] == sorted(titles, reverse=True)
    else:
        expected = sorted(got, key=lambda pair: (pair[0], -by_created[pair[1]]))
        assert got == expected


def test_list_flows_orderby_updated_at_desc(alice: Identity) -> None:
    tag = uuid.uuid4().hex
    first, second, third = (create(alice, title=f"{tag} {i}")["id"] for i in range(3))
    alice.flows.update_flow(first, subtitle="touched last")
    listed = [
        f["id"]
        for f in alice.flows.list_flows(
            filter_roles="flow_owner", filter_fulltext=tag, orderby="updated_at DESC"
        )
    ]
    assert listed == [first, third, second]


def test_list_flows_rejects_an_unknown_orderby_field(alice: Identity) -> None:
    expect_error(alice.flows.list_flows, orderby="password ASC", status=(400, 422))


def test_list_flows_filter_role_deprecated_spelling(alice: Identity, bob: Identity, carol: Identity) -> None:
    """Spec §9: deprecated `filter_role` (3.x SDK argument; a raw query parameter in 4.x)."""
    viewed = create(alice, flow_viewers=[bob.urn])["id"]
    owned = create(bob)["id"]
    stranger = create(carol)["id"]
    if IS_SDK3:
        with pytest.warns(DeprecationWarning):
            ids = {flow["id"] for flow in bob.flows.paginated.list_flows(filter_role="flow_viewer").items()}
    else:
        query = {"filter_role": "flow_viewer"}
        ids = {flow["id"] for flow in bob.flows.paginated.list_flows(query_params=query).items()}
    assert viewed in ids
    assert stranger not in ids
    query = {"filter_role": "flow_owner"}
    assert owned in {flow["id"] for flow in bob.flows.paginated.list_flows(query_params=query).items()}


# ----------------------------------------------------------------------------------------------------
# update_flow


def test_update_flow_is_partial(alice: Identity, bob: Identity) -> None:
    flow = create(alice, subtitle="sub", description="desc", keywords=["a"], flow_viewers=[bob.urn])
    updated = alice.flows.update_flow(flow["id"], title="renamed").data
    assert updated["title"] == "renamed"
    for key in (
        "subtitle",
        "description",
        "keywords",
        "flow_viewers",
        "definition",
        "input_schema",
        "flow_owner",
    ):
        assert updated[key] == flow[key], key
    assert updated["updated_at"] >= flow["updated_at"]
    assert updated["created_at"] == flow["created_at"]
    assert alice.flows.get_flow(flow["id"])["title"] == "renamed"


def test_update_flow_with_no_fields_changes_nothing(alice: Identity) -> None:
    flow = create(alice)
    updated = alice.flows.update_flow(flow["id"]).data
    for key in ("title", "definition", "input_schema", "flow_viewers", "keywords"):
        assert updated[key] == flow[key]


def test_update_flow_every_field(alice: Identity, bob: Identity, carol: Identity, team_urn: str) -> None:
    flow = create(alice)
    changes: dict[str, t.Any] = {
        "title": "new title",
        "definition": pass_definition(3),
        "input_schema": MSG_SCHEMA,
        "subtitle": "new subtitle",
        "description": "new description",
        "flow_viewers": ["public"],
        "flow_starters": [bob.urn],
        "flow_administrators": [carol.urn],
        "run_managers": [team_urn],
        "run_monitors": [bob.urn],
        "keywords": ["x", "y"],
    }
    updated = alice.flows.update_flow(flow["id"], **changes).data
    for key, value in changes.items():
        assert updated[key] == value, key
    fetched = alice.flows.get_flow(flow["id"]).data
    for key, value in changes.items():
        assert fetched[key] == value, key


def test_update_flow_empty_lists_clear_roles(alice: Identity, bob: Identity) -> None:
    flow = create(alice, flow_viewers=[bob.urn], keywords=["a"])
    updated = alice.flows.update_flow(flow["id"], flow_viewers=[], keywords=[]).data
    assert updated["flow_viewers"] == []
    assert updated["keywords"] == []


def test_update_flow_subscription_id(alice: Identity) -> None:
    flow = create(alice)
    subscription_id = str(uuid.uuid4())
    updated = alice.flows.update_flow(flow["id"], subscription_id=subscription_id).data
    assert updated["subscription_id"] == subscription_id
    defaulted = alice.flows.update_flow(flow["id"], subscription_id="DEFAULT")
    assert defaulted.http_status == 200
    assert "subscription_id" in defaulted.data


def test_update_flow_with_none_leaves_the_field_alone(alice: Identity) -> None:
    """Spec §3: 3.x drops None arguments, 4.x sends JSON null; a null is treated as absent (§10)."""
    flow = create(alice, subtitle="kept", description="kept too")
    updated = alice.flows.update_flow(
        flow["id"], title="changed", additional_fields={"subtitle": None, "description": None}
    ).data
    assert updated["title"] == "changed"
    assert updated["subtitle"] == "kept"
    assert updated["description"] == "kept too"


def test_update_flow_validates_the_definition(alice: Identity) -> None:
    flow = create(alice)
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass"}}}
    expect_error(
        alice.flows.update_flow, flow["id"], definition=broken, status=422, code="UNPROCESSABLE_ENTITY"
    )
    assert alice.flows.get_flow(flow["id"])["definition"] == flow["definition"]


def test_update_flow_owner_transfer_to_an_administrator_who_asks(alice: Identity, bob: Identity) -> None:
    """Spec §9: update_flow.flow_owner must be the caller's identity URN and the caller an administrator."""
    flow = create(alice, flow_administrators=[bob.urn])
    updated = bob.flows.update_flow(flow["id"], flow_owner=bob.urn).data
    assert updated["flow_owner"] == bob.urn
    assert bob.flows.get_flow(flow["id"])["user_role"] == "flow_owner"


def test_update_flow_owner_cannot_be_given_to_someone_else(alice: Identity, bob: Identity) -> None:
    flow = create(alice, flow_administrators=[bob.urn])
    expect_error(alice.flows.update_flow, flow["id"], flow_owner=bob.urn, status=(403, 422))
    assert alice.flows.get_flow(flow["id"])["flow_owner"] == alice.urn


def test_update_flow_owner_cannot_be_taken_by_a_non_administrator(alice: Identity, bob: Identity) -> None:
    flow = create(alice, flow_starters=[bob.urn])
    expect_error(bob.flows.update_flow, flow["id"], flow_owner=bob.urn, status=403, code="FORBIDDEN")
    assert alice.flows.get_flow(flow["id"])["flow_owner"] == alice.urn


def test_update_flow_unknown_id_is_404(alice: Identity) -> None:
    expect_error(alice.flows.update_flow, str(uuid.uuid4()), title="x", status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# delete_flow


def test_delete_flow_returns_the_deleted_document(alice: Identity) -> None:
    flow = create(alice)
    deleted = alice.flows.delete_flow(flow["id"]).data
    assert deleted["id"] == flow["id"]
    assert deleted["DELETED"] is True
    assert ISO_UTC.match(deleted["deleted_at"]), deleted.get("deleted_at")
    assert deleted["title"] == flow["title"]
    expect_error(alice.flows.get_flow, flow["id"], status=404, code="NOT_FOUND")
    expect_error(alice.flows.delete_flow, flow["id"], status=404, code="NOT_FOUND")
    assert flow["id"] not in {
        f["id"] for f in alice.flows.paginated.list_flows(filter_roles="flow_owner").items()
    }


def test_delete_flow_document_matches_sdk_fixture_keys(alice: Identity) -> None:
    reference = fixture_response_json("flows.delete_flow")
    deleted = alice.flows.delete_flow(create(alice)["id"]).data
    assert_same_shape(deleted, reference, "delete_flow response")


def test_delete_flow_by_administrator_and_not_by_starter(
    alice: Identity, bob: Identity, carol: Identity
) -> None:
    flow = create(alice, flow_administrators=[bob.urn], flow_starters=[carol.urn])
    expect_error(carol.flows.delete_flow, flow["id"], status=403, code="FORBIDDEN")
    assert bob.flows.delete_flow(flow["id"])["DELETED"] is True


# ----------------------------------------------------------------------------------------------------
# validate_flow


def test_validate_flow_good_definition_reports_scopes(alice: Identity) -> None:
    response = alice.flows.validate_flow(hello_definition(), MSG_SCHEMA)
    assert response.http_status == 200
    scopes = response["scopes"]
    assert isinstance(scopes, dict)
    assert all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in scopes.values()), scopes
    assert HELLO_WORLD_SCOPE in scopes.get("User", []), scopes


def test_validate_flow_without_input_schema(alice: Identity) -> None:
    response = alice.flows.validate_flow(pass_definition(2))
    assert response.http_status == 200
    assert isinstance(response["scopes"], dict)


def test_validate_flow_reports_the_location_of_the_error(alice: Identity) -> None:
    """SDK fixture validate_flow/definition_error: 422 with loc ["definition", "States", "Step1"]."""
    definition = {
        "StartAt": "Step1",
        "States": {
            "Step1": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/hello_world",
                "Parameters": {},
                "ResultPath": "$.r",
            }
        },
    }
    err = expect_error(alice.flows.validate_flow, definition, status=422, code="UNPROCESSABLE_ENTITY")
    details = err.raw_json["error"]["detail"]
    assert isinstance(details, list) and details, err.text
    assert details[0]["loc"][:3] == ["definition", "States", "Step1"], details
    assert err.messages == [d["msg"] for d in details]


def test_validate_flow_rejects_a_bad_input_schema(alice: Identity) -> None:
    err = expect_error(
        alice.flows.validate_flow,
        pass_definition(),
        {"type": "no-such-type"},
        status=422,
        code="UNPROCESSABLE_ENTITY",
    )
    assert err.raw_json["error"]["detail"][0]["loc"][0] == "input_schema", err.text


def test_validate_flow_does_not_create_a_flow(loner: Identity) -> None:
    loner.flows.validate_flow(pass_definition())
    assert list(loner.flows.list_flows(filter_roles="flow_owner")) == []


# ----------------------------------------------------------------------------------------------------
# 4.x-only methods the issue does not require: they must fail cleanly or work, never 5xx.


@pytest.mark.skipif(IS_SDK3, reason="get_registered_api / list_registered_apis exist only in globus-sdk 4.x")
def test_registered_api_methods_fail_cleanly(alice: Identity) -> None:
    try:
        page = alice.flows.list_registered_apis()
        assert "registered_apis" in page.data
    except globus_sdk.FlowsAPIError as err:
        assert 400 <= err.http_status < 500, err.text
    expect_error(alice.flows.get_registered_api, str(uuid.uuid4()), status=404)


@pytest.mark.skipif(IS_SDK3 or not hasattr(globus_sdk.FlowsClient, "list_web_inputs"), reason="4.9+ only")
def test_web_input_methods_answer_as_the_sdk_fixtures(alice: Identity) -> None:
    """(The whole web input story is tests/api/test_web_inputs_sdk.py; here: the served shapes.)"""
    assert alice.flows.list_web_inputs().data == {"web_input_summaries": [], "marker": None}
    unknown = str(uuid.uuid4())
    err = expect_error(alice.flows.get_web_input, unknown, status=404, code="NOT_FOUND")
    assert err.raw_json["error"]["detail"] == f"No Web Input exists with id value {unknown}"
    expect_error(alice.flows.respond_to_web_input, unknown, str(uuid.uuid4()), status=404, code="NOT_FOUND")


def test_identity_urns_are_well_formed(alice: Identity, carol: Identity, team_urn: str) -> None:
    assert IDENTITY_URN.match(alice.urn)
    assert alice.urn == f"urn:globus:auth:identity:{alice.identity_id}"
    assert team_urn.startswith("urn:globus:groups:id:")
