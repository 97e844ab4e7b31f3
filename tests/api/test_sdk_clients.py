"""The API driven by the real globus-sdk FlowsClient / SpecificFlowClient through a live uvicorn server.

No executor runs here, so runs stay ACTIVE (execution is tested with the engine); every client method is
exercised, with two identities and a group for the role rules, and errors as the SDK parses them.
"""

from __future__ import annotations

import uuid

import globus_sdk
import pytest

from .conftest import WAIT_DEFINITION, LiveServer, SdkUser, pass_definition

SCHEMA = {"type": "object", "properties": {"x": {"type": "boolean"}}}


@pytest.fixture
def users(live_server: LiveServer) -> tuple[SdkUser, SdkUser, SdkUser]:
    """alice, bob, and carol (a member of the group "team")."""
    return live_server.user("alice"), live_server.user("bob"), live_server.user("carol", groups=("team",))


def test_flow_methods_round_trip(users: tuple[SdkUser, SdkUser, SdkUser]) -> None:
    alice, bob, _ = users
    created = alice.flows.create_flow(
        "sdk flow", pass_definition(2), SCHEMA, subtitle="s", keywords=["k"], flow_viewers=[bob.urn]
    )
    assert created.http_status == 201
    flow_id = created["id"]
    assert alice.flows.get_flow(flow_id)["title"] == "sdk flow"
    updated = alice.flows.update_flow(flow_id, description="d", subtitle=None)
    assert updated["description"] == "d" and updated["subtitle"] == "s"
    assert [f["id"] for f in alice.flows.list_flows(filter_roles=["flow_owner"])] == [flow_id]
    assert [f["id"] for f in bob.flows.list_flows(filter_roles="flow_viewers")] == [flow_id]
    validated = alice.flows.validate_flow(pass_definition(1), SCHEMA)
    assert validated["scopes"] == {} or isinstance(validated["scopes"], dict)
    deleted = alice.flows.delete_flow(flow_id)
    assert deleted["DELETED"] is True
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.flows.get_flow(flow_id)
    assert (info.value.http_status, info.value.code) == (404, "NOT_FOUND")
    assert info.value.messages == [f"No Flow exists with id value {flow_id}"]


def test_run_methods_round_trip(users: tuple[SdkUser, SdkUser, SdkUser]) -> None:
    alice, bob, carol = users
    flow_id = alice.flows.create_flow("runs", WAIT_DEFINITION, SCHEMA)["id"]
    specific = alice.specific(flow_id)
    assert specific.validate_run({"x": True}, label="v")["message"] == "validation successful"
    run = specific.run_flow(
        {"x": True}, label="first", tags=["a"], run_monitors=[bob.urn], run_managers=[carol.group_urns[0]]
    )
    assert run.http_status == 201
    run_id = run["run_id"]
    assert run["status"] == "ACTIVE" and run["details"]["code"] == "FlowStarting"
    assert alice.flows.get_run(run_id, include_flow_description=True)["flow_description"]["id"] == flow_id
    assert alice.flows.get_run_definition(run_id)["definition"] == WAIT_DEFINITION
    assert alice.flows.update_run(run_id, label="renamed", tags=[])["tags"] == []
    assert [r["run_id"] for r in alice.flows.list_runs(filter_flow_id=flow_id)] == [run_id]
    assert [r["run_id"] for r in bob.flows.list_runs(filter_roles=["run_monitors"])] == [run_id]
    assert specific.resume_run(run_id)["status"] == "ACTIVE"  # an ACTIVE run is returned unchanged
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.flows.delete_run(run_id)
    assert (info.value.http_status, info.value.code) == (409, "STATE_CONFLICT")
    assert "has status 'ACTIVE'" in info.value.message
    canceled = carol.flows.cancel_run(run_id)
    assert canceled.http_status == 202
    assert canceled["status"] == "FAILED" and canceled["details"]["code"] == "FlowCanceled"
    codes = [e["code"] for e in alice.flows.get_run_logs(run_id)["entries"]]
    assert codes == ["FlowStarted", "FlowCanceled"]
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        specific.resume_run(run_id)
    assert info.value.http_status == 409
    assert alice.flows.delete_run(run_id)["run_id"] == run_id
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.flows.get_run(run_id)
    assert info.value.http_status == 404


def test_errors_as_the_sdk_parses_them(
    users: tuple[SdkUser, SdkUser, SdkUser], live_server: LiveServer
) -> None:
    alice, bob, _ = users
    flow_id = alice.flows.create_flow("private", pass_definition(), SCHEMA, flow_viewers=[bob.urn])["id"]
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        bob.specific(flow_id).run_flow({})
    err = info.value
    assert (err.http_status, err.code) == (403, "FORBIDDEN")
    assert err.messages == [
        "You do not have the necessary permissions to perform this action on the flow with id value "
        f"{flow_id}. Missing permissions: RUN."
    ]
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.specific(flow_id).run_flow({"x": "not-a-boolean"})
    assert (info.value.http_status, info.value.code) == (400, "FLOW_INPUT_ERROR")
    assert info.value.raw_json["error"]["detail"][0]["loc"] == ["$.x"]
    assert info.value.raw_json["error"]["message"] == "Input failed schema validation with 1 error."
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        alice.flows.create_flow("bad", pass_definition(), {}, flow_administrators=["not-a-urn", "also-bad"])
    assert (info.value.http_status, info.value.code) == (422, "UNPROCESSABLE_ENTITY")
    assert [d["loc"] for d in info.value.raw_json["error"]["detail"]] == [
        ["flow_administrators", 0],
        ["flow_administrators", 1],
    ]
    assert info.value.messages[0].startswith('Unrecognized principal string: "not-a-urn"')
    anonymous = globus_sdk.FlowsClient(base_url=live_server.base_url, authorizer=globus_sdk.NullAuthorizer())
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        anonymous.list_flows()
    assert (info.value.http_status, info.value.code) == (401, "AUTHENTICATION_ERROR")
    assert info.value.messages == ["Expired or invalid Bearer token"]
    scoped = live_server.user(
        "alice", scopes=["https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/view_flows"]
    )
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        scoped.specific(flow_id).run_flow({})
    assert (info.value.http_status, info.value.code) == (403, "MISSING_SCOPE")
    assert info.value.messages == [
        f"This action requires the following scope: https://auth.globus.org/scopes/{flow_id}/"
        f"flow_{flow_id.replace('-', '_')}_user"
    ]


def test_paginated_variants_over_several_pages(users: tuple[SdkUser, SdkUser, SdkUser]) -> None:
    alice, _, _ = users
    flow_ids = [alice.flows.create_flow(f"p{i:02d}", pass_definition(), {})["id"] for i in range(7)]
    pages = list(
        alice.flows.paginated.list_flows(
            filter_roles="flow_owner", orderby="title ASC", query_params={"per_page": 3}
        ).pages()
    )
    assert [len(p["flows"]) for p in pages] == [3, 3, 1]
    assert [f["id"] for p in pages for f in p["flows"]] == flow_ids
    assert [p["has_next_page"] for p in pages] == [True, True, False]
    client = alice.specific(flow_ids[0])
    run_ids = [client.run_flow({}, label=f"r{i}")["run_id"] for i in range(5)]
    listed = [
        r["run_id"]
        for r in alice.flows.paginated.list_runs(
            query_params={"per_page": 2, "orderby": "start_time ASC"}
        ).items()
    ]
    assert listed == run_ids
    alice.flows.cancel_run(run_ids[0])
    entries = list(alice.flows.paginated.get_run_logs(run_ids[0], limit=1).items())
    assert [e["code"] for e in entries] == ["FlowStarted", "FlowCanceled"]
    backwards = list(alice.flows.paginated.get_run_logs(run_ids[0], limit=1, reverse_order=True).items())
    assert backwards == list(reversed(entries))


def test_group_and_role_rules(users: tuple[SdkUser, SdkUser, SdkUser]) -> None:
    alice, bob, carol = users
    team = carol.group_urns[0]
    flow_id = alice.flows.create_flow(
        "team flow", WAIT_DEFINITION, {}, flow_starters=[team], run_monitors=[bob.urn]
    )["id"]
    assert carol.flows.get_flow(flow_id)["user_role"] == "flow_starter"
    run_id = carol.specific(flow_id).run_flow({})["run_id"]
    # bob: flow-level run monitor -> sees the run, cannot cancel it; sees no role lists on the flow (404: no
    # flow role)
    assert bob.flows.get_run(run_id)["user_role"] == "flow_run_monitor"
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        bob.flows.cancel_run(run_id)
    assert info.value.http_status == 403
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        bob.flows.get_flow(flow_id)
    assert info.value.http_status == 403  # a role on the flow (run monitor) but not viewer
    stranger = carol.server.user("dave")
    with pytest.raises(globus_sdk.FlowsAPIError) as info:
        stranger.flows.get_run(run_id)
    assert info.value.http_status == 404
    # alice owns the flow: she manages every run of it
    assert alice.flows.cancel_run(run_id)["status"] == "FAILED"
    assert str(uuid.UUID(run_id)) == run_id
