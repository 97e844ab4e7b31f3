"""`portability_notes`: every OpenFlows extension a definition uses, sub-machines included, agreeing with
strict mode on what a hosted Globus flow could not use."""

from __future__ import annotations

from typing import Any

from openflows.language.analysis import analyze_definition
from openflows.language.portability import FEATURES, portability_entries, portability_notes
from openflows.language.validation import validate_definition

from .test_nested_validation import FULL

EXTENDED: dict[str, Any] = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Action",
            "ActionUrl": "http://localhost:8080/providers/echo",
            "Parameters": {},
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "Next": "Ask",
        },
        "Ask": {"Type": "AwaitWebInput", "Parameters": {"WebInputId.$": "$.id"}, "WaitTime": 60, "Next": "H"},
        "H": {
            "Type": "Action",
            "Handler": {"Type": "ActionProvider", "Url": "http://x.org/ap"},
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_notes_name_each_place_and_feature() -> None:
    entries = portability_entries(EXTENDED, ("definition",))
    assert [(e["loc"], e["feature"]) for e in entries] == [
        (["definition", "States", "Call", "Retry"], "Retry"),
        (["definition", "States", "Call", "ActionUrl"], "http"),
        (["definition", "States", "Ask", "WaitTime"], "AwaitWebInput.WaitTime"),
        (["definition", "States", "H", "Handler", "Url"], "http"),
        (["definition", "States", "Done", "Type"], "Succeed"),
    ]
    assert {e["type"] for e in entries} == {"not_portable"}
    assert {e["feature"] for e in entries} <= set(FEATURES)


def test_notes_agree_with_strict_mode_where_strict_mode_looks() -> None:
    lenient = {p.loc for p in validate_definition(EXTENDED)}
    strict = {p.loc for p in validate_definition(EXTENDED, strict=True)} - lenient
    assert lenient == set()
    assert strict == {note.loc for note in portability_notes(EXTENDED)}


def test_notes_walk_inside_map_and_parallel() -> None:
    found = [(note.loc[-3:], note.loc[-1]) for note in portability_notes(FULL)]
    assert [loc for _, loc in found] == ["Type", "Type", "Retry", "Type", "Type"]
    features = [e["feature"] for e in portability_entries(FULL)]
    assert features == ["Map", "Parallel", "Retry", "Map", "Succeed"]


def test_a_globus_flow_has_no_notes_and_odd_input_none() -> None:
    hosted = {
        "StartAt": "Hello",
        "States": {
            "Hello": {"Type": "Action", "ActionUrl": "https://actions.globus.org/hello_world", "End": True}
        },
    }
    assert portability_notes(hosted) == []
    for odd in (None, [], {"States": []}, {"States": {"A": 1}}):
        assert portability_notes(odd) == []


def test_analysis_reports_portability_and_scopes_inside_sub_machines() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "Iterator": {
                    "StartAt": "Hello",
                    "States": {
                        "Hello": {
                            "Type": "Action",
                            "ActionUrl": "https://actions.globus.org/hello_world",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    result = analyze_definition(definition)
    assert result["scopes"] == {"User": ["https://auth.globus.org/scopes/actions.globus.org/hello_world"]}
    assert result["analysis"]["portability"] == [
        {
            "loc": ["definition", "States", "Fan", "Type"],
            "msg": "State type 'Map' is an OpenFlows extension; a hosted Globus flow cannot use it",
            "type": "not_portable",
            "feature": "Map",
        }
    ]
