"""Map and Parallel validation (language/nested.py): sub-machines are checked like whole definitions, with
locations inside their state; names are unique across the whole definition; strict mode refuses them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openflows.language.model import Limits
from openflows.language.nested import all_states, iter_states
from openflows.language.validation import validate_definition


def machine(*names: str, last: dict[str, Any] | None = None) -> dict[str, Any]:
    """A sub-machine of Pass states named `names`, chained, the last one ending (or `last`)."""
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        states[name] = (
            {"Type": "Pass", "Next": names[i + 1]} if i + 1 < len(names) else {"Type": "Pass", "End": True}
        )
    if last is not None:
        states[names[-1]] = last
    return {"StartAt": names[0], "States": states}


#: a Map inside a Parallel inside a Map, with every optional field
FULL: dict[str, Any] = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "Comment": "one child per item",
            "InputPath": "$.job",
            "ItemsPath": "$.files",
            "ItemSelector": {"file.$": "$._context.map_item.value", "dest.$": "$.dest"},
            "MaxConcurrency": 10,
            "ToleratedFailureCount": 2,
            "ToleratedFailurePercentage": 12.5,
            "ResultPath": "$.copied",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Both",
                "States": {
                    "Both": {
                        "Type": "Parallel",
                        "Parameters": {"f.$": "$.file"},
                        "Branches": [
                            machine("Copy"),
                            {
                                "StartAt": "Inner",
                                "States": {
                                    "Inner": {
                                        "Type": "Map",
                                        "Iterator": machine("Leaf", "Done", last={"Type": "Succeed"}),
                                        "End": True,
                                    }
                                },
                            },
                        ],
                        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Oops"}],
                        "End": True,
                    },
                    "Oops": {"Type": "Fail", "Error": "CopyFailed"},
                },
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report"}],
            "Next": "Report",
        },
        "Report": {"Type": "Pass", "End": True},
    },
}


def problems(definition: Any, **kwargs: Any) -> list[tuple[tuple[Any, ...], str]]:
    return [(p.loc, p.msg) for p in validate_definition(definition, **kwargs)]


def test_full_nested_definition_is_valid() -> None:
    assert problems(FULL) == []
    parallel = {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [machine("A")], "End": True}},
    }
    assert problems(parallel) == []


def test_iter_states_walks_sub_machines_depth_first() -> None:
    locs = [loc for loc, _, _ in iter_states(FULL)]
    assert locs == [
        ("States", "Fan"),
        ("States", "Report"),
        ("States", "Fan", "ItemProcessor", "States", "Both"),
        ("States", "Fan", "ItemProcessor", "States", "Oops"),
        ("States", "Fan", "ItemProcessor", "States", "Both", "Branches", 0, "States", "Copy"),
        ("States", "Fan", "ItemProcessor", "States", "Both", "Branches", 1, "States", "Inner"),
        (
            *("States", "Fan", "ItemProcessor", "States", "Both", "Branches", 1, "States", "Inner"),
            *("Iterator", "States", "Leaf"),
        ),
        (
            *("States", "Fan", "ItemProcessor", "States", "Both", "Branches", 1, "States", "Inner"),
            *("Iterator", "States", "Done"),
        ),
    ]
    assert sorted(all_states(FULL)) == ["Both", "Copy", "Done", "Fan", "Inner", "Leaf", "Oops", "Report"]
    assert list(iter_states("not a definition")) == [] and all_states({"States": 3}) == {}


FAN = ("States", "Fan")


def with_fan(**fields: Any) -> dict[str, Any]:
    """A one-state flow whose Map 'Fan' has `fields` (a field given as None is removed)."""
    fan: dict[str, Any] = {"Type": "Map", "ItemsPath": "$.items", "Iterator": machine("X"), "End": True}
    for key, value in fields.items():
        if value is None:
            fan.pop(key, None)
        else:
            fan[key] = value
    return {"StartAt": "Fan", "States": {"Fan": fan}}


@pytest.mark.parametrize(
    ("definition", "loc", "fragment"),
    [
        (
            with_fan(Iterator=machine("X", last={"Type": "Pass", "Next": "Nope"})),
            (*FAN, "Iterator", "States", "X", "Next"),
            "'Next' names a state 'Nope' that does not exist",
        ),
        (
            with_fan(Iterator={"States": machine("X")["States"]}),
            (*FAN, "Iterator", "StartAt"),
            "needs 'StartAt'",
        ),
        (with_fan(Iterator=[1]), (*FAN, "Iterator"), "'Iterator' must be a sub-machine object"),
        (with_fan(Iterator=None), (*FAN, "ItemProcessor"), "needs 'ItemProcessor' (or the older 'Iterator')"),
        (with_fan(ItemProcessor=machine("Y")), (*FAN, "Iterator"), "either 'ItemProcessor' or"),
        (with_fan(ItemSelector={}, Parameters={}), (*FAN, "Parameters"), "either 'ItemSelector' or"),
        (with_fan(ItemSelector=[]), (*FAN, "ItemSelector"), "'ItemSelector' must be an object, not an array"),
        (with_fan(ItemSelector={"a.$": "items"}), (*FAN, "ItemSelector", "a.$"), "not a valid path"),
        (with_fan(ItemsPath="$.[["), (*FAN, "ItemsPath"), "'ItemsPath' is not a valid path"),
        (with_fan(MaxConcurrency=-1), (*FAN, "MaxConcurrency"), "must be at least 0"),
        (with_fan(MaxConcurrency="2"), (*FAN, "MaxConcurrency"), "must be an integer, not a string"),
        (with_fan(ToleratedFailureCount=True), (*FAN, "ToleratedFailureCount"), "must be an integer"),
        (with_fan(ToleratedFailurePercentage=101), (*FAN, "ToleratedFailurePercentage"), "between 0 and 100"),
        (with_fan(ToleratedFailurePercentage="5"), (*FAN, "ToleratedFailurePercentage"), "must be a number"),
        (with_fan(ResultPath="$._context.x"), (*FAN, "ResultPath"), "read-only"),
        (
            with_fan(ItemReader={}),
            (*FAN, "ItemReader"),
            "a Map reads its items from the array at 'ItemsPath'",
        ),
        (with_fan(ResultSelector={}), (*FAN, "ResultSelector"), "do not support ResultSelector"),
        (with_fan(Branches=[]), (*FAN, "Branches"), "allowed on: Parallel"),
        (with_fan(Retry=[{"ErrorEquals": []}]), (*FAN, "Retry", 0, "ErrorEquals"), "at least one error"),
        (with_fan(Catch=[{"ErrorEquals": ["States.ALL"]}]), (*FAN, "Catch", 0, "Next"), "needs 'Next'"),
        (
            with_fan(ItemProcessor={**machine("X"), "ProcessorConfig": {"Mode": "FAST"}}, Iterator=None),
            (*FAN, "ItemProcessor", "ProcessorConfig", "Mode"),
            "'Mode' must be one of INLINE, DISTRIBUTED",
        ),
        (
            with_fan(Iterator={**machine("X"), "ProcessorConfig": {"Mode": "INLINE"}}),
            (*FAN, "Iterator", "ProcessorConfig"),
            "Unknown top-level field 'ProcessorConfig'",
        ),
        (with_fan(End=None), FAN, "either terminal"),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True}}},
            ("States", "P", "Branches"),
            "needs 'Branches'",
        ),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": True}}},
            ("States", "P", "Branches"),
            "at least one sub-machine",
        ),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": {}, "End": True}}},
            ("States", "P", "Branches"),
            "must be an array of sub-machines",
        ),
        (
            {
                "StartAt": "P",
                "States": {
                    "P": {"Type": "Parallel", "Branches": [machine("A"), {"StartAt": "B"}], "End": True}
                },
            },
            ("States", "P", "Branches", 1, "States"),
            "needs 'States'",
        ),
    ],
)
def test_problems_are_located_inside_the_state(definition: Any, loc: tuple[Any, ...], fragment: str) -> None:
    found = problems(definition)
    assert any(p_loc == loc and fragment in msg for p_loc, msg in found), found


def test_a_sub_machine_cannot_move_to_a_state_outside_it() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "Iterator": machine("X", last={"Type": "Pass", "Next": "After"}),
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }
    assert problems(definition) == [
        ((*FAN, "Iterator", "States", "X", "Next"), "'Next' names a state 'After' that does not exist")
    ]


def test_state_names_are_unique_in_the_whole_definition() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [machine("A"), machine("B", "A"), machine("Fan")],
                "End": True,
            },
        },
    }
    assert problems(definition) == [
        (
            ("States", "Fan", "Branches", 1, "States", "A"),
            "State name 'A' is already used at $.States.Fan.Branches[0].States.A: state names must be unique "
            "in the whole definition, sub-machines included",
        ),
        (
            ("States", "Fan", "Branches", 2, "States", "Fan"),
            "State name 'Fan' is already used at $.States.Fan: state names must be unique in the whole "
            "definition, sub-machines included",
        ),
    ]


def test_unreachable_states_of_a_sub_machine_come_after_the_causes() -> None:
    sub = {
        "StartAt": "X",
        "States": {"X": {"Type": "Pass", "Next": "Yy"}, "Y": {"Type": "Pass", "End": True}},
    }
    found = problems(with_fan(Iterator=sub))
    assert [loc for loc, _ in found] == [
        (*FAN, "Iterator", "States", "X", "Next"),
        (*FAN, "Iterator", "States", "Y"),
    ]
    assert "did you mean 'Y'?" in found[0][1] and "is not reachable from StartAt" in found[1][1]


def test_the_state_limit_counts_sub_machines() -> None:
    limits = Limits(max_states=4)
    assert problems(with_fan(Iterator=machine("A", "B", "C")), limits=limits) == []
    found = problems(with_fan(Iterator=machine("A", "B", "C", "D")), limits=limits)
    assert found == [
        ((*FAN, "Iterator"), "The flow has more than 4 states, sub-machines included; the limit is 4")
    ]


def test_strict_mode_refuses_map_and_parallel() -> None:
    found = problems(FULL, strict=True)
    assert found == [
        (("States", "Fan", "Type"), "State type 'Map' is an OpenFlows extension (strict mode rejects it)")
    ]


def test_validation_does_not_mutate_and_never_raises_on_odd_sub_machines() -> None:
    before = copy.deepcopy(FULL)
    validate_definition(FULL)
    assert before == FULL
    for odd in (None, 3, "x", [], {"StartAt": 1, "States": []}, {"StartAt": "A", "States": {"A": 5}}):
        assert problems(with_fan(Iterator=odd))
        assert problems(
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [odd], "End": True}}}
        )


def test_deep_nesting_is_refused_by_the_depth_cap_not_a_recursion_error() -> None:
    definition: dict[str, Any] = machine("L0")
    for depth in range(1, 40):
        definition = {
            "StartAt": f"L{depth}",
            "States": {f"L{depth}": {"Type": "Map", "Iterator": definition, "End": True}},
        }
    found = problems(definition)
    assert found and found[0][1].startswith("The definition is nested more than")
