"""SpecificFlowClient against a live server: run_flow, validate_run, resume_run (flows-api.md §3, §6, §8)."""

from __future__ import annotations

import typing as t
import uuid

import globus_sdk
import pytest
from globus_sdk.gare import to_gare

from .support import (
    IS_SDK3,
    MSG_SCHEMA,
    OPEN_SCHEMA,
    Identity,
    assert_same_shape,
    expect_error,
    hello_definition,
    load_fixture_common,
    pass_definition,
    unique,
    wait_definition,
    wait_for_run,
)

COMMON = load_fixture_common()
# Keys of a run document in the SDK fixtures; `search` is optional, `completion_time` absent while active.
RUN_REFERENCE = {**COMMON.TWO_HOP_TRANSFER_RUN, **COMMON.RUN}
ACTIVE_OPTIONAL = ("search", "completion_time")


def make_flow(user: Identity, **kwargs: t.Any) -> str:
    kwargs.setdefault("title", unique("flow"))
    kwargs.setdefault("definition", pass_definition())
    kwargs.setdefault("input_schema", OPEN_SCHEMA)
    return user.flows.create_flow(**kwargs)["id"]


def test_run_flow_returns_a_starting_run_document(alice: Identity) -> None:
    flow_id = make_flow(alice, title="runs", definition=wait_definition())
    run = alice.specific(flow_id).run_flow({"x": 1}).data
    assert_same_shape(run, RUN_REFERENCE, "run_flow response", optional=ACTIVE_OPTIONAL)
    assert str(uuid.UUID(run["run_id"])) == run["run_id"]
    assert run["action_id"] == run["run_id"]
    assert run["flow_id"] == flow_id
    assert run["flow_title"] == "runs"
    assert run["status"] == "ACTIVE"
    assert run["display_status"] == "ACTIVE"
    assert run["details"]["code"] == "FlowStarting"
    assert run["details"]["details"]["input"] == {"x": 1}
    assert run["run_owner"] == alice.urn
    assert run["created_by"] == alice.urn
    assert run["user_role"] == "run_owner"
    assert run["tags"] == []
    assert run["run_managers"] == []
    assert run["run_monitors"] == []
    alice.flows.cancel_run(run["run_id"])


def test_run_flow_with_every_option(alice: Identity, bob: Identity, team_urn: str) -> None:
    flow_id = make_flow(alice, definition=wait_definition())
    kwargs: dict[str, t.Any] = {
        "label": "my label",
        "tags": ["one", "two"],
        "run_managers": [bob.urn],
        "run_monitors": [team_urn],
    }
    if IS_SDK3 and not _sdk_has_param("run_flow", "activity_notification_policy"):
        kwargs["additional_fields"] = {"activity_notification_policy": {"status": ["INACTIVE", "FAILED"]}}
    else:
        kwargs["activity_notification_policy"] = {"status": ["INACTIVE", "FAILED"]}
    run = alice.specific(flow_id).run_flow({"k": "v"}, **kwargs).data
    assert run["label"] == "my label"
    assert run["tags"] == ["one", "two"]
    assert run["run_managers"] == [bob.urn]
    assert run["manage_by"] == [bob.urn]
    assert run["run_monitors"] == [team_urn]
    assert run["monitor_by"] == [team_urn]
    fetched = alice.flows.get_run(run["run_id"]).data
    for key in ("label", "tags", "run_managers", "run_monitors"):
        assert fetched[key] == run[key], key
    alice.flows.cancel_run(run["run_id"])


def _sdk_has_param(method: str, name: str) -> bool:
    import inspect

    return name in inspect.signature(getattr(globus_sdk.SpecificFlowClient, method)).parameters


def test_run_flow_with_the_notification_policy_object(alice: Identity) -> None:
    policy_cls = getattr(globus_sdk, "RunActivityNotificationPolicy", None)
    if policy_cls is None:
        pytest.skip("this globus-sdk has no RunActivityNotificationPolicy")
    flow_id = make_flow(alice)
    run = alice.specific(flow_id).run_flow({}, activity_notification_policy=policy_cls(status=["SUCCEEDED"]))
    assert run.http_status in (200, 201)
    empty = alice.specific(flow_id).run_flow({}, activity_notification_policy=policy_cls())
    assert empty.http_status in (200, 201)


def test_run_flow_tags_are_normalised(alice: Identity) -> None:
    """Spec §8 Update: tags are trimmed and inner whitespace collapsed."""
    flow_id = make_flow(alice)
    run = alice.specific(flow_id).run_flow({}, tags=["  padded  ", "inner \t  space"]).data
    assert run["tags"] == ["padded", "inner space"]


def test_run_flow_with_none_label(alice: Identity) -> None:
    """3.x drops label=None; 4.x sends "label": null, which must be accepted as absent (spec §3)."""
    flow_id = make_flow(alice)
    run = alice.specific(flow_id).run_flow({}, label=None)
    assert run.http_status in (200, 201)
    assert run["label"] in (None, "")


def test_run_flow_input_schema_failure_is_400_flow_input_error(alice: Identity) -> None:
    flow_id = make_flow(alice, definition=hello_definition(), input_schema=MSG_SCHEMA)
    err = expect_error(alice.specific(flow_id).run_flow, {"msg": 5}, status=400, code="FLOW_INPUT_ERROR")
    detail = err.raw_json["error"]["detail"]
    assert detail[0]["loc"] == ["$.msg"], detail
    assert detail[0]["type"] == "InvalidActionInput"
    assert err.messages == [d["msg"] for d in detail]


def test_run_flow_unknown_flow_is_404(alice: Identity) -> None:
    expect_error(alice.specific(str(uuid.uuid4())).run_flow, {}, status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# validate_run


@pytest.mark.skipif(
    not hasattr(globus_sdk.SpecificFlowClient, "validate_run"), reason="validate_run: SDK 3.58+"
)
def test_validate_run_accepts_good_input_without_starting_a_run(alice: Identity) -> None:
    user = alice
    flow_id = make_flow(user, definition=hello_definition(), input_schema=MSG_SCHEMA)
    response = user.specific(flow_id).validate_run({"msg": "hi"}, label="l", tags=["t"])
    assert response.http_status == 200
    assert isinstance(response["message"], str) and response["message"]
    assert list(user.flows.list_runs(filter_flow_id=flow_id)) == []


@pytest.mark.skipif(
    not hasattr(globus_sdk.SpecificFlowClient, "validate_run"), reason="validate_run: SDK 3.58+"
)
def test_validate_run_reports_input_errors_with_loc(alice: Identity) -> None:
    """SDK fixture validate_run/invalid_input_payload: 400 FLOW_INPUT_ERROR, detail [{loc: ["$.x"], ...}]."""
    schema = {"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]}
    flow_id = make_flow(alice, input_schema=schema)
    err = expect_error(
        alice.specific(flow_id).validate_run, {"x": "not-a-boolean"}, status=400, code="FLOW_INPUT_ERROR"
    )
    detail = err.raw_json["error"]["detail"]
    assert detail == [{"loc": ["$.x"], "type": "InvalidActionInput", "msg": detail[0]["msg"]}], detail
    assert "boolean" in detail[0]["msg"]
    assert isinstance(err.raw_json["error"].get("message"), str)
    missing = expect_error(alice.specific(flow_id).validate_run, {}, status=400, code="FLOW_INPUT_ERROR")
    assert missing.messages, missing.text


@pytest.mark.skipif(
    not hasattr(globus_sdk.SpecificFlowClient, "validate_run"), reason="validate_run: SDK 3.58+"
)
def test_validate_run_by_a_viewer_is_403(alice: Identity, bob: Identity) -> None:
    """SDK fixture validate_run/not_a_flow_starter: 403 FORBIDDEN."""
    flow_id = make_flow(alice, flow_viewers=[bob.urn])
    expect_error(bob.specific(flow_id).validate_run, {}, status=403, code="FORBIDDEN")


# ----------------------------------------------------------------------------------------------------
# resume_run: the built-in hello_world provider's `required_dependent_scope` makes the run INACTIVE.


def test_resume_run_after_consent_required(alice: Identity) -> None:
    scope = "https://auth.globus.org/scopes/actions.globus.org/hello_world/needs_consent"
    definition = hello_definition({"echo_string": "resumed", "required_dependent_scope": scope})
    flow_id = make_flow(alice, definition=definition)
    client = alice.specific(flow_id)
    run_id = client.run_flow({}, label="needs consent")["run_id"]
    inactive = wait_for_run(alice.flows, run_id, statuses={"INACTIVE", "SUCCEEDED", "FAILED"})
    assert inactive["status"] == "INACTIVE", inactive
    details = inactive["details"]
    assert details["code"] == "ConsentRequired", details
    assert isinstance(details.get("description"), str), details
    scopes = [details.get("required_scope")] + list(
        (details.get("authorization_parameters") or {}).get("required_scopes") or []
    )
    assert scope in scopes, details
    gare = to_gare(details)
    assert gare is not None, f"INACTIVE details are not a GARE: {details}"
    resumed = client.resume_run(run_id)
    assert resumed.http_status in (200, 202)
    assert resumed["run_id"] == run_id
    assert resumed["status"] in ("ACTIVE", "SUCCEEDED"), resumed.data
    done = wait_for_run(alice.flows, run_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["details"]["output"]["hello"]["details"]["hello"] == "resumed"


def test_resume_run_of_unknown_run_is_404(alice: Identity) -> None:
    flow_id = make_flow(alice)
    expect_error(alice.specific(flow_id).resume_run, str(uuid.uuid4()), status=404, code="NOT_FOUND")


def test_resume_run_of_a_finished_run_is_a_client_error(alice: Identity) -> None:
    flow_id = make_flow(alice)
    run_id = alice.specific(flow_id).run_flow({})["run_id"]
    assert wait_for_run(alice.flows, run_id)["status"] == "SUCCEEDED"
    try:
        response = alice.specific(flow_id).resume_run(run_id)
    except globus_sdk.FlowsAPIError as err:
        assert 400 <= err.http_status < 500, err.text
    else:
        assert response["status"] == "SUCCEEDED", response.data
