"""The pure consent rules: coverage of requirements by a consent forest, and the consents an approval
records."""

from __future__ import annotations

import uuid

from openflows.auth.consents import ConsentNode, covers, covers_all, plan_consents
from openflows.auth.scope_strings import parse_scopes

APP = uuid.UUID(int=1)
TIMERS = uuid.UUID(int=2)
TRANSFER = uuid.UUID(int=3)
OTHER_APP = uuid.UUID(int=9)

FOREST = [
    ConsentNode(1, APP, "timer", None),
    ConsentNode(2, TIMERS, "transfer", 1),
    ConsentNode(3, TRANSFER, "data_access", 2),
    ConsentNode(4, APP, "openid", None),
    ConsentNode(5, OTHER_APP, "flows", None),
]


def requirement(text: str):  # type: ignore[no-untyped-def]
    [tree] = parse_scopes(text)
    return tree


def test_a_forest_covers_its_trees_and_their_subtrees() -> None:
    assert covers(FOREST, APP, requirement("timer[transfer[*data_access]]"))
    assert covers(FOREST, APP, requirement("timer[transfer]"))
    assert covers(FOREST, APP, requirement("timer"))
    assert covers_all(FOREST, APP, [requirement("openid"), requirement("timer")])


def test_what_a_forest_does_not_cover() -> None:
    assert not covers(FOREST, APP, requirement("timer[groups]"))  # a missing dependency
    assert not covers(FOREST, APP, requirement("timer[transfer[other]]"))
    assert not covers(FOREST, APP, requirement("transfer"))  # a child is not a root
    assert not covers(FOREST, APP, requirement("flows"))  # another app's consent
    assert covers(FOREST, OTHER_APP, requirement("flows"))
    assert not covers_all(FOREST, APP, [requirement("openid"), requirement("flows")])
    assert not covers([], APP, requirement("openid"))


def test_an_optional_dependency_is_still_required() -> None:
    forest = [ConsentNode(1, APP, "transfer", None)]
    assert not covers(forest, APP, requirement("transfer[*data_access]"))


def test_plan_consents_grants_children_to_the_owner_of_the_parent_scope() -> None:
    owners = {"timer": TIMERS, "transfer": TRANSFER, "data_access": None}
    planned = plan_consents(requirement("timer[transfer[data_access] search]"), APP, owners.get)
    assert [(item.path, item.client_id) for item in planned] == [
        (("timer",), APP),
        (("timer", "transfer"), TIMERS),
        (("timer", "search"), TIMERS),
        (("timer", "transfer", "data_access"), TRANSFER),
    ]
    # a scope with no owner cannot delegate: its dependencies are not recorded
    assert [item.path for item in plan_consents(requirement("x[y]"), APP, lambda text: None)] == [("x",)]
