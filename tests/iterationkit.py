"""Flow definitions the iterations tests share (API, CLI and dashboard): nested Maps and Parallels, and a Map
whose item waits for a consent."""

from __future__ import annotations

from typing import Any

#: Outer maps over groups; each group's item maps its `xs` (Inner: a value 2 fails, tolerated), then runs a
#: Parallel (Pair) whose first branch maps the same `xs` again (Deep): a Map in a Map item, a Parallel in a
#: Map item, and a Map in a branch of that Parallel
NESTED: dict[str, Any] = {
    "StartAt": "Outer",
    "States": {
        "Outer": {
            "Type": "Map",
            "ItemsPath": "$.groups",
            "ItemProcessor": {
                "StartAt": "Inner",
                "States": {
                    "Inner": {
                        "Type": "Map",
                        "ItemsPath": "$.xs",
                        "ToleratedFailureCount": 5,
                        "ItemSelector": {"v.$": "$._context.map_item.value", "_private_note": "hidden"},
                        "ItemProcessor": {
                            "StartAt": "Check",
                            "States": {
                                "Check": {
                                    "Type": "Choice",
                                    "Choices": [{"Variable": "$.v", "NumericEquals": 2, "Next": "Boom"}],
                                    "Default": "Ok",
                                },
                                "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "two is bad"},
                                "Ok": {"Type": "Pass", "Parameters": {"doubled.$": "$.v"}, "End": True},
                            },
                        },
                        "ResultPath": "$.inner",
                        "Next": "Pair",
                    },
                    "Pair": {
                        "Type": "Parallel",
                        "Branches": [
                            {
                                "StartAt": "Deep",
                                "States": {
                                    "Deep": {
                                        "Type": "Map",
                                        "ItemsPath": "$.xs",
                                        "ItemProcessor": {
                                            "StartAt": "Leaf",
                                            "States": {"Leaf": {"Type": "Pass", "End": True}},
                                        },
                                        "End": True,
                                    }
                                },
                            },
                            {"StartAt": "R", "States": {"R": {"Type": "Pass", "Result": "r", "End": True}}},
                        ],
                        "ResultPath": "$.pair",
                        "End": True,
                    },
                },
            },
            "End": True,
        }
    },
}


#: item 1's action needs a consent nobody gave: the item waits INACTIVE (and so does the run); item 0 passes
WAITING_ON_CONSENT: dict[str, Any] = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Which",
                "States": {
                    "Which": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.scope", "IsPresent": True, "Next": "Ask"}],
                        "Default": "Done",
                    },
                    "Ask": {
                        "Type": "Action",
                        "ActionUrl": "https://actions.globus.org/hello_world",
                        "Parameters": {"required_dependent_scope.$": "$.scope"},
                        "End": True,
                    },
                    "Done": {"Type": "Pass", "End": True},
                },
            },
            "End": True,
        }
    },
}
