"""The role model of spec flows-api.md §9 with real identities and a real group.

alice owns everything unless stated; bob and dave are individuals; carol is a member of the group `team_urn`.
Another user's private flow or run is a 404; visible but not permitted is 403 FORBIDDEN.
"""

from __future__ import annotations

import contextlib
import typing as t

import globus_sdk
import pytest

from .support import (
    OPEN_SCHEMA,
    Identity,
    expect_error,
    pass_definition,
    unique,
    wait_definition,
    wait_for_log,
    wait_for_run,
)

ROLE_LISTS = ("flow_viewers", "flow_starters", "flow_administrators", "run_managers", "run_monitors")


def make_flow(user: Identity, **kwargs: t.Any) -> str:
    kwargs.setdefault("title", unique("flow"))
    kwargs.setdefault("definition", pass_definition())
    kwargs.setdefault("input_schema", OPEN_SCHEMA)
    return user.flows.create_flow(**kwargs)["id"]


def flow_ids(user: Identity, **kwargs: t.Any) -> set[str]:
    return {flow["id"] for flow in user.flows.paginated.list_flows(**kwargs).items()}


def run_ids(user: Identity, **kwargs: t.Any) -> set[str]:
    return {run["run_id"] for run in user.flows.paginated.list_runs(**kwargs).items()}


# ----------------------------------------------------------------------------------------------------
# Flow roles


def test_private_flow_is_invisible_to_others(alice: Identity, bob: Identity) -> None:
    flow_id = make_flow(alice)
    expect_error(bob.flows.get_flow, flow_id, status=404, code="NOT_FOUND")
    expect_error(bob.flows.update_flow, flow_id, title="x", status=404, code="NOT_FOUND")
    expect_error(bob.flows.delete_flow, flow_id, status=404, code="NOT_FOUND")
    expect_error(bob.specific(flow_id).run_flow, {}, status=404, code="NOT_FOUND")
    assert flow_id not in flow_ids(bob, filter_roles=["flow_viewer", "flow_starter", "flow_administrator"])
    assert flow_id not in flow_ids(bob)


def test_viewer_can_see_but_not_run_update_or_delete(alice: Identity, bob: Identity, dave: Identity) -> None:
    flow_id = make_flow(alice, flow_viewers=[bob.urn], flow_starters=[dave.urn], run_monitors=[dave.urn])
    flow = bob.flows.get_flow(flow_id).data
    assert flow["user_role"] == "flow_viewer"
    assert flow["flow_owner"] == alice.urn
    for role in ROLE_LISTS:
        assert flow[role] == [], f"a viewer sees {role}={flow[role]} (spec §9: empty for non-administrators)"
    assert flow_id in flow_ids(bob, filter_roles="flow_viewer")
    err = expect_error(bob.specific(flow_id).run_flow, {}, status=403, code="FORBIDDEN")
    assert err.message, err.text
    expect_error(bob.flows.update_flow, flow_id, title="x", status=403, code="FORBIDDEN")
    expect_error(bob.flows.delete_flow, flow_id, status=403, code="FORBIDDEN")


def test_starter_can_run(alice: Identity, bob: Identity) -> None:
    flow_id = make_flow(alice, flow_starters=[bob.urn])
    assert bob.flows.get_flow(flow_id)["user_role"] == "flow_starter"
    run = bob.specific(flow_id).run_flow({"by": "bob"}).data
    assert run["run_owner"] == bob.urn
    assert wait_for_run(bob.flows, run["run_id"])["status"] == "SUCCEEDED"
    expect_error(bob.flows.update_flow, flow_id, title="x", status=403, code="FORBIDDEN")


def test_group_starters(alice: Identity, carol: Identity, dave: Identity, team_urn: str) -> None:
    flow_id = make_flow(alice, flow_starters=[team_urn])
    assert carol.flows.get_flow(flow_id)["user_role"] == "flow_starter"
    run_id = carol.specific(flow_id).run_flow({})["run_id"]
    assert wait_for_run(carol.flows, run_id)["status"] == "SUCCEEDED"
    expect_error(dave.flows.get_flow, flow_id, status=404, code="NOT_FOUND")
    expect_error(dave.specific(flow_id).run_flow, {}, status=404, code="NOT_FOUND")


def test_group_viewers_and_administrators(alice: Identity, carol: Identity, team_urn: str) -> None:
    viewed = make_flow(alice, flow_viewers=[team_urn])
    assert carol.flows.get_flow(viewed)["user_role"] == "flow_viewer"
    expect_error(carol.specific(viewed).run_flow, {}, status=403, code="FORBIDDEN")
    administered = make_flow(alice, flow_administrators=[team_urn])
    assert carol.flows.update_flow(administered, title="by carol")["title"] == "by carol"


def test_public_flow_is_visible_to_everyone_but_not_runnable(alice: Identity, dave: Identity) -> None:
    flow_id = make_flow(alice, flow_viewers=["public"])
    assert dave.flows.get_flow(flow_id)["id"] == flow_id
    expect_error(dave.specific(flow_id).run_flow, {}, status=403, code="FORBIDDEN")
    assert flow_id in flow_ids(dave, filter_roles="flow_viewer")


def test_all_authenticated_users_can_run(alice: Identity, dave: Identity) -> None:
    flow_id = make_flow(alice, flow_starters=["all_authenticated_users"])
    assert dave.flows.get_flow(flow_id)["user_role"] == "flow_starter"
    run_id = dave.specific(flow_id).run_flow({})["run_id"]
    assert wait_for_run(dave.flows, run_id)["status"] == "SUCCEEDED"


def test_administrator_sees_role_lists_and_can_edit_and_delete(
    alice: Identity, bob: Identity, dave: Identity
) -> None:
    flow_id = make_flow(
        alice, flow_administrators=[bob.urn], flow_viewers=[dave.urn], run_monitors=[dave.urn]
    )
    flow = bob.flows.get_flow(flow_id).data
    assert flow["user_role"] == "flow_administrator"
    assert flow["flow_administrators"] == [bob.urn]
    assert flow["flow_viewers"] == [dave.urn]
    assert flow["run_monitors"] == [dave.urn]
    assert bob.flows.update_flow(flow_id, description="edited")["description"] == "edited"
    run_id = bob.specific(flow_id).run_flow({})["run_id"]  # administrators can start runs
    wait_for_run(bob.flows, run_id)
    assert bob.flows.delete_flow(flow_id)["DELETED"] is True


def test_owner_sees_role_lists(alice: Identity, bob: Identity) -> None:
    flow_id = make_flow(alice, flow_viewers=[bob.urn])
    assert alice.flows.get_flow(flow_id)["flow_viewers"] == [bob.urn]


def test_user_roles_lists_every_role_held(alice: Identity, bob: Identity) -> None:
    flow_id = make_flow(alice, flow_viewers=[bob.urn], flow_starters=[bob.urn])
    flow = bob.flows.get_flow(flow_id).data
    assert flow["user_role"] == "flow_starter"
    assert set(flow["user_roles"]) >= {"flow_viewer", "flow_starter"}, flow["user_roles"]


# ----------------------------------------------------------------------------------------------------
# Run roles


@pytest.fixture
def monitored_run(alice: Identity, bob: Identity, carol: Identity, team_urn: str) -> tuple[str, str]:
    """A long-running run of alice's private flow: bob monitors it, the group (carol) manages it."""
    flow_id = make_flow(alice, definition=wait_definition())
    run_id = alice.specific(flow_id).run_flow({}, run_monitors=[bob.urn], run_managers=[team_urn])["run_id"]
    yield flow_id, run_id
    with contextlib.suppress(globus_sdk.FlowsAPIError):  # already finished or deleted by the test
        alice.flows.cancel_run(run_id)


def test_run_monitor_can_view_but_not_manage(monitored_run: tuple[str, str], bob: Identity) -> None:
    _, run_id = monitored_run
    run = bob.flows.get_run(run_id).data
    assert run["user_role"] == "run_monitor"
    assert run["run_managers"] == [] and run["run_monitors"] == [], "spec §9: monitors see empty role lists"
    assert wait_for_log(bob.flows, run_id)[0]["code"] == "FlowStarted"
    assert bob.flows.get_run_definition(run_id)["definition"] == wait_definition()
    expect_error(bob.flows.cancel_run, run_id, status=403, code="FORBIDDEN")
    expect_error(bob.flows.update_run, run_id, label="x", status=403, code="FORBIDDEN")
    expect_error(bob.flows.delete_run, run_id, status=403, code="FORBIDDEN")
    assert run_id in run_ids(bob, filter_roles=["run_monitor"])
    assert run_id in run_ids(bob, filter_roles=["run_monitors"])
    assert run_id not in run_ids(bob, filter_roles=["run_manager"])


def test_run_manager_group_can_update_and_cancel(
    monitored_run: tuple[str, str], alice: Identity, carol: Identity, team_urn: str
) -> None:
    _, run_id = monitored_run
    run = carol.flows.get_run(run_id).data
    assert run["user_role"] == "run_manager"
    assert run["run_managers"] == [team_urn]
    assert carol.flows.update_run(run_id, label="carol was here")["label"] == "carol was here"
    assert run_id in run_ids(carol, filter_roles=["run_manager"])
    assert run_id in run_ids(carol, filter_roles="run_managers")
    carol.flows.cancel_run(run_id)
    assert wait_for_run(alice.flows, run_id)["details"]["code"] == "FlowCanceled"
    assert carol.flows.delete_run(run_id)["run_id"] == run_id


def test_stranger_cannot_see_a_run(monitored_run: tuple[str, str], dave: Identity) -> None:
    _, run_id = monitored_run
    expect_error(dave.flows.get_run, run_id, status=404, code="NOT_FOUND")
    expect_error(dave.flows.get_run_logs, run_id, status=404, code="NOT_FOUND")
    expect_error(dave.flows.get_run_definition, run_id, status=404, code="NOT_FOUND")
    expect_error(dave.flows.cancel_run, run_id, status=404, code="NOT_FOUND")
    expect_error(dave.flows.update_run, run_id, label="x", status=404, code="NOT_FOUND")
    expect_error(dave.flows.delete_run, run_id, status=404, code="NOT_FOUND")
    assert run_id not in run_ids(dave)


def test_flow_viewer_does_not_see_other_users_runs(alice: Identity, bob: Identity, dave: Identity) -> None:
    flow_id = make_flow(alice, flow_starters=[bob.urn], flow_viewers=[dave.urn])
    run_id = bob.specific(flow_id).run_flow({})["run_id"]
    expect_error(dave.flows.get_run, run_id, status=404, code="NOT_FOUND")


def test_flow_owner_and_administrators_manage_runs_of_their_flow(
    alice: Identity, bob: Identity, carol: Identity
) -> None:
    """Spec §9: flow administrators are implicitly flow run managers (and so is the owner)."""
    flow_id = make_flow(
        alice, definition=wait_definition(), flow_starters=[bob.urn], flow_administrators=[carol.urn]
    )
    first = bob.specific(flow_id).run_flow({})["run_id"]
    second = bob.specific(flow_id).run_flow({})["run_id"]
    assert alice.flows.get_run(first)["run_owner"] == bob.urn
    assert first in run_ids(alice, filter_roles=["flow_run_manager"])
    alice.flows.cancel_run(first)
    assert wait_for_run(bob.flows, first)["details"]["code"] == "FlowCanceled"
    carol.flows.cancel_run(second)
    assert wait_for_run(bob.flows, second)["details"]["code"] == "FlowCanceled"


def test_flow_level_run_managers_and_monitors_apply_to_every_run(
    alice: Identity, bob: Identity, carol: Identity, dave: Identity, team_urn: str
) -> None:
    flow_id = make_flow(
        alice,
        definition=wait_definition(),
        flow_starters=[bob.urn],
        run_managers=[team_urn],
        run_monitors=[dave.urn],
    )
    run_id = bob.specific(flow_id).run_flow({})["run_id"]
    # dave: flow-level run monitor
    assert dave.flows.get_run(run_id)["run_id"] == run_id
    assert wait_for_log(dave.flows, run_id)[0]["code"] == "FlowStarted"
    expect_error(dave.flows.cancel_run, run_id, status=403, code="FORBIDDEN")
    assert run_id in run_ids(dave, filter_roles=["flow_run_monitor"])
    assert run_id in run_ids(dave, filter_roles=["flow_run_monitors"])
    # carol (via the group): flow-level run manager
    assert run_id in run_ids(carol, filter_roles=["flow_run_manager"])
    assert run_id in run_ids(carol, filter_roles=["flow_run_managers"])
    assert carol.flows.update_run(run_id, tags=["from carol"])["tags"] == ["from carol"]
    carol.flows.cancel_run(run_id)
    assert wait_for_run(bob.flows, run_id)["details"]["code"] == "FlowCanceled"


def test_list_runs_filter_roles_run_owner(alice: Identity, bob: Identity) -> None:
    owned_flow = make_flow(bob)
    mine = bob.specific(owned_flow).run_flow({})["run_id"]
    shared_flow = make_flow(alice)
    monitored = alice.specific(shared_flow).run_flow({}, run_monitors=[bob.urn])["run_id"]
    ours = {mine, monitored}
    assert run_ids(bob, filter_roles="run_owner") & ours == {mine}
    assert run_ids(bob, filter_roles=["run_monitor"]) & ours == {monitored}
    assert run_ids(bob, filter_roles=["run_owner", "run_monitor"]) & ours == {mine, monitored}
    assert run_ids(bob) & ours == {mine, monitored}


def test_run_owner_without_flow_role_keeps_access_to_their_run(alice: Identity, bob: Identity) -> None:
    flow_id = make_flow(alice, flow_starters=[bob.urn])
    run_id = bob.specific(flow_id).run_flow({})["run_id"]
    wait_for_run(bob.flows, run_id)
    alice.flows.update_flow(flow_id, flow_starters=[])
    assert bob.flows.get_run(run_id)["run_owner"] == bob.urn
    expect_error(bob.specific(flow_id).run_flow, {}, status=404, code="NOT_FOUND")
