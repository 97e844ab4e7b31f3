"""Token scopes are enforced (issue 3, spec flows-api.md §5): the five Flows scopes, `all`, the flow scope.

A token created without `--scope` holds all of them (alice's session token); the tokens here are more tokens
of alice's identity created with only some scopes.
"""

from __future__ import annotations

import typing as t

import pytest

from .support import (
    ALL_SCOPE,
    MANAGE_FLOWS,
    OPEN_SCHEMA,
    RUN_MANAGE,
    RUN_STATUS,
    VIEW_FLOWS,
    Identity,
    expect_error,
    flow_scope,
    pass_definition,
    unique,
    wait_definition,
    wait_for_log,
    wait_for_run,
)


@pytest.fixture(scope="module")
def scoped(alice: Identity) -> t.Callable[..., Identity]:
    """`scoped(S1, S2...)`: alice's identity with a token holding only those scopes (made once per set)."""
    made: dict[tuple[str, ...], Identity] = {}

    def token_for(*scopes: str) -> Identity:
        key = tuple(sorted(scopes))
        if key not in made:
            made[key] = alice.server.create_identity(alice.username, scopes=list(key))
            assert made[key].urn == alice.urn, "a second token for the same username is the same identity"
        return made[key]

    return token_for


def flow_kwargs(**extra: t.Any) -> dict[str, t.Any]:
    return {"title": unique("scoped"), "definition": pass_definition(), "input_schema": OPEN_SCHEMA, **extra}


def test_token_without_manage_flows_cannot_create_update_or_delete(
    alice: Identity, scoped: t.Callable[..., Identity]
) -> None:
    viewer = scoped(VIEW_FLOWS)
    flow_id = alice.flows.create_flow(**flow_kwargs())["id"]
    assert viewer.flows.get_flow(flow_id)["id"] == flow_id
    assert viewer.flows.list_flows().http_status == 200
    expect_error(viewer.flows.create_flow, **flow_kwargs(), status=403, code="MISSING_SCOPE")
    expect_error(viewer.flows.update_flow, flow_id, title="x", status=403, code="MISSING_SCOPE")
    expect_error(viewer.flows.delete_flow, flow_id, status=403, code="MISSING_SCOPE")
    assert alice.flows.get_flow(flow_id)["title"] != "x"


def test_token_without_view_flows_cannot_read_flows(
    alice: Identity, scoped: t.Callable[..., Identity]
) -> None:
    status_only = scoped(RUN_STATUS)
    flow_id = alice.flows.create_flow(**flow_kwargs())["id"]
    expect_error(status_only.flows.get_flow, flow_id, status=403, code="MISSING_SCOPE")
    expect_error(status_only.flows.list_flows, status=403, code="MISSING_SCOPE")


def test_manage_flows_alone_allows_flow_management(scoped: t.Callable[..., Identity]) -> None:
    manager = scoped(MANAGE_FLOWS)
    flow_id = manager.flows.create_flow(**flow_kwargs())["id"]
    assert manager.flows.update_flow(flow_id, title="renamed")["title"] == "renamed"
    assert manager.flows.delete_flow(flow_id)["DELETED"] is True


def test_run_flow_needs_the_flow_scope(alice: Identity, scoped: t.Callable[..., Identity]) -> None:
    """SDK fixture run_flow/missing_scope_error: 403 MISSING_SCOPE."""
    flow_id = alice.flows.create_flow(**flow_kwargs())["id"]
    service_only = scoped(VIEW_FLOWS)
    expect_error(service_only.specific(flow_id).run_flow, {}, status=403, code="MISSING_SCOPE")
    flow_only = alice.server.create_identity(alice.username, scopes=[flow_scope(flow_id)])
    run_id = flow_only.specific(flow_id).run_flow({})["run_id"]
    assert wait_for_run(alice.flows, run_id)["status"] == "SUCCEEDED"
    other_flow = alice.flows.create_flow(**flow_kwargs())["id"]
    expect_error(flow_only.specific(other_flow).run_flow, {}, status=403, code="MISSING_SCOPE")


def test_run_status_and_run_manage(alice: Identity, scoped: t.Callable[..., Identity]) -> None:
    flow_id = alice.flows.create_flow(**flow_kwargs(definition=wait_definition()))["id"]
    run_id = alice.specific(flow_id).run_flow({})["run_id"]
    status_only = scoped(RUN_STATUS)
    assert status_only.flows.get_run(run_id)["run_id"] == run_id
    assert run_id in {run["run_id"] for run in status_only.flows.list_runs(filter_flow_id=flow_id)}
    assert wait_for_log(status_only.flows, run_id)[0]["code"] == "FlowStarted"
    expect_error(status_only.flows.cancel_run, run_id, status=403, code="MISSING_SCOPE")
    expect_error(status_only.flows.update_run, run_id, label="x", status=403, code="MISSING_SCOPE")
    expect_error(status_only.flows.delete_run, run_id, status=403, code="MISSING_SCOPE")
    viewer = scoped(VIEW_FLOWS)
    expect_error(viewer.flows.get_run, run_id, status=403, code="MISSING_SCOPE")
    manage_only = scoped(RUN_MANAGE)
    assert manage_only.flows.update_run(run_id, label="managed")["label"] == "managed"
    manage_only.flows.cancel_run(run_id)
    assert wait_for_run(alice.flows, run_id)["status"] == "FAILED"


def test_all_scope_allows_every_service_operation(alice: Identity, scoped: t.Callable[..., Identity]) -> None:
    """`all` covers the service scopes; running a flow needs the flow's own scope (the CLI asks for it)."""
    everything = scoped(ALL_SCOPE)
    flow_id = everything.flows.create_flow(**flow_kwargs())["id"]
    assert everything.flows.update_flow(flow_id, title="renamed")["title"] == "renamed"
    assert everything.flows.get_flow(flow_id)["id"] == flow_id
    run_id = alice.specific(flow_id).run_flow({})["run_id"]
    assert wait_for_run(everything.flows, run_id)["status"] == "SUCCEEDED"
    assert everything.flows.get_run_logs(run_id)["entries"]
    assert everything.flows.update_run(run_id, label="x")["label"] == "x"
    everything.flows.delete_run(run_id)
    everything.flows.delete_flow(flow_id)
