"""The role model of spec flows-api.md §9 as pure functions (shared.roles)."""

from __future__ import annotations

import uuid

import pytest

from openflows.shared import roles
from openflows.shared.roles import Permission


def urn() -> str:
    return f"urn:globus:auth:identity:{uuid.uuid4()}"


OWNER, ADMIN, STARTER, VIEWER, MANAGER, MONITOR, OTHER = (urn() for _ in range(7))
GROUP = f"urn:globus:groups:id:{uuid.uuid4()}"
FLOW = {
    "flow_owner": OWNER,
    "flow_administrators": [ADMIN],
    "flow_starters": [STARTER, GROUP],
    "flow_viewers": [VIEWER],
    "run_managers": [MANAGER],
    "run_monitors": [MONITOR],
}


@pytest.mark.parametrize(
    ("who", "strongest", "allowed", "denied"),
    [
        (
            [OWNER],
            "flow_owner",
            {Permission.VIEW, Permission.RUN, Permission.UPDATE, Permission.DELETE},
            set(),
        ),
        ([ADMIN], "flow_administrator", {Permission.UPDATE, Permission.VIEW_ROLES, Permission.RUN}, set()),
        (
            [STARTER],
            "flow_starter",
            {Permission.VIEW, Permission.RUN},
            {Permission.UPDATE, Permission.VIEW_ROLES},
        ),
        ([OTHER, GROUP], "flow_starter", {Permission.RUN}, {Permission.DELETE}),
        ([VIEWER], "flow_viewer", {Permission.VIEW}, {Permission.RUN}),
        ([MANAGER], "run_manager", set(), {Permission.VIEW}),
        ([OTHER], None, set(), {Permission.VIEW}),
    ],
)
def test_flow_roles(
    who: list[str], strongest: str | None, allowed: set[Permission], denied: set[Permission]
) -> None:
    held = roles.effective_flow_roles(who, FLOW)
    assert roles.strongest(held, roles.FLOW_ROLES) == strongest
    assert all(roles.flow_allows(held, p) for p in allowed)
    assert not any(roles.flow_allows(held, p) for p in denied)


def test_public_and_all_authenticated_users() -> None:
    flow = {**FLOW, "flow_viewers": ["public"], "flow_starters": ["all_authenticated_users"]}
    assert roles.direct_flow_roles([OTHER], flow) == {"flow_viewer", "flow_starter"}
    assert roles.direct_flow_roles([], {**FLOW, "flow_viewers": ["public"]}) == {"flow_viewer"}
    assert roles.direct_flow_roles([], flow) == {"flow_viewer"}  # anonymous callers are not "authenticated"


def test_run_roles() -> None:
    owner_of_run = urn()
    run = {"run_owner": owner_of_run, "run_managers": [GROUP], "run_monitors": [VIEWER]}
    assert (
        roles.strongest(roles.effective_run_roles([owner_of_run], run, FLOW), roles.RUN_ROLES) == "run_owner"
    )
    group_member = roles.effective_run_roles([OTHER, GROUP], run, FLOW)
    assert roles.run_allows(group_member, Permission.CANCEL) and roles.run_allows(
        group_member, Permission.RESUME
    )
    monitor = roles.effective_run_roles([VIEWER], run, FLOW)
    assert roles.run_allows(monitor, Permission.VIEW) and not roles.run_allows(monitor, Permission.VIEW_ROLES)
    for flow_level in (OWNER, ADMIN, MANAGER):
        held = roles.effective_run_roles([flow_level], run, FLOW)
        assert "flow_run_manager" in held
        assert roles.run_allows(held, Permission.CANCEL) and not roles.run_allows(held, Permission.RESUME)
    flow_monitor = roles.effective_run_roles([MONITOR], run, FLOW)
    assert roles.strongest(flow_monitor, roles.RUN_ROLES) == "flow_run_monitor"
    assert not roles.run_allows(flow_monitor, Permission.UPDATE)
    assert roles.effective_run_roles([STARTER], run, FLOW) == frozenset()  # starters do not see others' runs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flow_viewers", "flow_viewer"),
        ("Flow_Starter", "flow_starter"),
        ("run_managers", "run_manager"),
        ("flow_run_monitors", "flow_run_monitor"),
        ("run_owner", "run_owner"),
        ("king", None),
    ],
)
def test_normalize_role(name: str, expected: str | None) -> None:
    assert roles.normalize_role(name) == expected
