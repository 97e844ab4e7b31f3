"""Map and Parallel conformance: fixed cases run in our `step()` (iterations driven by the test driver, with
the same gathering function the engine uses) and in moto's Step Functions interpreter must agree on the final
status, the output, and the error and cause.

The cases cover nesting (a Map in a Parallel in a Map), ItemsPath and ItemSelector (with the item's index and
value: ASL's `$$.Map.Item.Index` / `.Value`, OpenFlows' `$._context.map_item.index` / `.value`; `translate`
writes the moto form), the older Iterator / Parameters, ResultPath, InputPath, empty lists, failures of items
and branches, Catch around a Map and a Parallel. Known differences, normalised (docs/language.md):
- ItemsPath naming something that is not an array: moto fails with `States.QueryEvaluationError`, OpenFlows
  with `States.Runtime` (AWS's error for JSONPath definitions) -> only "failed" is compared;
- tolerated failures (`ToleratedFailureCount` / `...Percentage`) are a Distributed Map feature that moto does
  not run inline: they are covered by tests/language/test_step_iterations.py instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from .conftest import drive  # noqa: E402
from .test_differential_moto import moto_backend, run_in_moto  # noqa: E402, F401


def translate(definition: Any) -> Any:
    """The definition as moto reads it: `$._context.map_item.X` becomes ASL's `$$.Map.Item.X`."""
    text = json.dumps(definition)
    text = text.replace("$._context.map_item.index", "$$.Map.Item.Index")
    text = text.replace("$._context.map_item.value", "$$.Map.Item.Value")
    return json.loads(text)


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


PASS_END = {"Type": "Pass", "End": True}
DOUBLE = machine(D={"Type": "Pass", "Parameters": {"doubled.$": "$.n", "again.$": "$.n"}, "End": True})
ODD_FAILS = machine(
    Check={
        "Type": "Choice",
        "Choices": [{"Variable": "$.odd", "BooleanEquals": True, "Next": "Bad"}],
        "Default": "Good",
    },
    Bad={"Type": "Fail", "Error": "OddItem", "Cause": "an odd item"},
    Good={"Type": "Pass", "Result": "fine", "End": True},
)


def fan(processor: dict[str, Any], key: str = "ItemProcessor", **fields: Any) -> dict[str, Any]:
    return {"Type": "Map", "ItemsPath": "$.items", key: processor, **fields}


def numbers(*values: int) -> list[dict[str, Any]]:
    return [{"n": v, "odd": v % 2 == 1} for v in values]


CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    (
        "map-items-path-result-path",
        machine(M={**fan(DOUBLE), "ResultPath": "$.out", "End": True}),
        [{"items": numbers(1, 2, 3)}, {"items": []}],
    ),
    (
        "map-older-iterator-whole-input",
        machine(M={"Type": "Map", "Iterator": machine(P=PASS_END), "End": True}),
        [[1, "two", {"three": 3}], []],
    ),
    (
        "map-item-selector-index-value",
        machine(
            M={
                **fan(machine(P=PASS_END)),
                "ItemSelector": {
                    "value.$": "$._context.map_item.value",
                    "index.$": "$._context.map_item.index",
                    "shared.$": "$.shared",
                    "constant": [1, 2],
                },
                "ResultPath": "$.selected",
                "End": True,
            }
        ),
        [{"items": ["a", "b", "c"], "shared": {"k": 1}}],
    ),
    (
        "map-older-parameters-and-input-path",
        machine(
            M={
                "Type": "Map",
                "InputPath": "$.job",
                "ItemsPath": "$.files",
                "Parameters": {"file.$": "$._context.map_item.value", "dest.$": "$.dest"},
                "Iterator": machine(P={"Type": "Pass", "ResultPath": "$.seen", "Result": True, "End": True}),
                "ResultPath": "$.job.copied",
                "End": True,
            }
        ),
        [{"job": {"files": ["x", "y"], "dest": "/d"}}],
    ),
    (
        "map-item-fails",
        machine(M={**fan(ODD_FAILS), "End": True}),
        [{"items": numbers(2, 3)}, {"items": numbers(2, 4)}],
    ),
    (
        "catch-around-map",
        machine(
            M={
                **fan(ODD_FAILS),
                "Catch": [{"ErrorEquals": ["OddItem"], "ResultPath": "$.error", "Next": "Handled"}],
                "ResultPath": "$.results",
                "Next": "Done",
            },
            Handled={"Type": "Pass", "Result": "handled", "ResultPath": "$.how", "Next": "Done"},
            Done={"Type": "Succeed"},
        ),
        [{"items": numbers(1)}, {"items": numbers(2, 4)}],
    ),
    (
        "parallel-branches-in-order",
        machine(
            Both={
                "Type": "Parallel",
                "InputPath": "$.job",
                "Branches": [
                    machine(A={"Type": "Pass", "Result": "first", "End": True}),
                    machine(B={"Type": "Pass", "InputPath": "$.n", "End": True}),
                    machine(C=PASS_END),
                ],
                "ResultPath": "$.out",
                "Next": "After",
            },
            After={"Type": "Pass", "End": True},
        ),
        [{"job": {"n": 4}}],
    ),
    (
        "parallel-branch-fails-and-is-caught",
        machine(
            Both={
                "Type": "Parallel",
                "Branches": [
                    machine(A=PASS_END),
                    machine(F={"Type": "Fail", "Error": "BranchBroke", "Cause": "b"}),
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
                "End": True,
            },
            Recover={"Type": "Pass", "End": True},
        ),
        [{"x": 1}],
    ),
    (
        "parallel-branch-fails",
        machine(
            Both={
                "Type": "Parallel",
                "Branches": [machine(F={"Type": "Fail", "Error": "BranchBroke", "Cause": "b"})],
                "End": True,
            }
        ),
        [{}],
    ),
    (
        "map-in-parallel-in-map",
        machine(
            Outer={
                **fan(
                    machine(
                        Both={
                            "Type": "Parallel",
                            "Branches": [
                                machine(Inner={**fan(DOUBLE), "ItemsPath": "$.inner", "End": True}),
                                machine(Keep=PASS_END),
                            ],
                            "End": True,
                        }
                    )
                ),
                "End": True,
            }
        ),
        [{"items": [{"inner": numbers(1, 2)}, {"inner": []}]}],
    ),
    (
        "parallel-then-choice-on-its-result",
        machine(
            Both={
                "Type": "Parallel",
                "Branches": [machine(A={"Type": "Pass", "Result": 1, "End": True})],
                "ResultPath": "$.r",
                "Next": "Pick",
            },
            Pick={
                "Type": "Choice",
                "Choices": [{"Variable": "$.r[0]", "NumericEquals": 1, "Next": "Yes"}],
                "Default": "No",
            },
            Yes={"Type": "Succeed"},
            No={"Type": "Fail", "Error": "Wrong"},
        ),
        [{}],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "definition", "inputs"), CASES, ids=[case[0] for case in CASES])
def test_map_and_parallel_agree_with_moto(
    moto_backend: Any,  # noqa: F811
    name: str,
    definition: dict[str, Any],
    inputs: list[Any],
) -> None:
    for run_input, theirs in zip(
        inputs, run_in_moto(moto_backend, translate(definition), inputs), strict=True
    ):
        ours = drive(definition, run_input)
        assert ours.status == theirs["status"], (name, ours.outcome, theirs.get("error"), theirs.get("cause"))
        if ours.status == "SUCCEEDED":
            assert ours.output == json.loads(theirs["output"]), name
        else:
            assert (ours.error, ours.cause or None) == (theirs.get("error"), theirs.get("cause")), name


@pytest.mark.slow
def test_items_that_are_not_an_array_fail_in_both(moto_backend: Any) -> None:  # noqa: F811
    definition = machine(M={**fan(machine(P=PASS_END)), "End": True})
    (theirs,) = run_in_moto(moto_backend, definition, [{"items": 5}])
    ours = drive(definition, {"items": 5})
    assert theirs["status"] == ours.status == "FAILED"
    assert ours.error == "States.Runtime"
