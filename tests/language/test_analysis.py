"""`analyze_definition`: scopes per RunAs role and the number of routes through a flow."""

from __future__ import annotations

import time
from typing import Any

import pytest

from openflows.language.analysis import MAX_POSSIBILITIES, analyze_definition, known_scope
from openflows.language.validation import validate_definition

TRANSFER = "urn:globus:auth:scope:transfer.api.globus.org:all"
HELLO = "https://auth.globus.org/scopes/actions.globus.org/hello_world"


def end() -> dict[str, Any]:
    return {"Type": "Pass", "End": True}


def choice(*targets: str, default: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "NumericEquals": i, "Next": t} for i, t in enumerate(targets)],
    }
    if default:
        state["Default"] = default
    return state


def count(states: dict[str, Any], start: str | None = None) -> int:
    definition = {"StartAt": start or next(iter(states)), "States": states}
    assert validate_definition(definition) == [], validate_definition(definition)
    return analyze_definition(definition)["analysis"]["number_of_possibilities"]


def test_linear_flow_has_one_route() -> None:
    assert (
        count(
            {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Wait", "Seconds": 1, "Next": "C"}, "C": end()}
        )
        == 1
    )


def test_choice_rules_and_default_fork() -> None:
    assert count({"C": choice("X", "Y", default="Z"), "X": end(), "Y": end(), "Z": end()}) == 3


def test_edges_to_the_same_state_are_one_route() -> None:
    assert count({"C": choice("X", "X", default="X"), "X": end()}) == 1


def test_choice_without_default_counts_only_its_rules() -> None:
    assert count({"C": choice("X", "Y"), "X": end(), "Y": end()}) == 2


def test_fail_and_succeed_are_terminal() -> None:
    states = {
        "C": choice("F", default="S"),
        "F": {"Type": "Fail", "Error": "E"},
        "S": {"Type": "Succeed"},
    }
    assert count(states) == 2


def test_diamonds_multiply() -> None:
    states = {
        "C1": choice("A", default="B"),
        "A": {"Type": "Pass", "Next": "C2"},
        "B": {"Type": "Pass", "Next": "C2"},
        "C2": choice("X", default="Y"),
        "X": end(),
        "Y": end(),
    }
    assert count(states) == 4


def test_catch_forks() -> None:
    states = {
        "Act": {
            "Type": "Action",
            "ActionUrl": "https://x.org/a",
            "Catch": [
                {"ErrorEquals": ["ActionTimeout"], "Next": "Timeout"},
                {"ErrorEquals": ["States.ALL"], "Next": "Failed"},
            ],
            "End": True,
        },
        "Timeout": end(),
        "Failed": {"Type": "Fail"},
    }
    assert count(states) == 3  # End itself, and each catcher


def test_loops_are_counted_once() -> None:
    states = {
        "Init": {"Type": "Pass", "Next": "Test"},
        "Test": choice("Work", default="Done"),
        "Work": {"Type": "ExpressionEval", "Parameters": {"n.=": "1"}, "ResultPath": "$.n", "Next": "Test"},
        "Done": end(),
    }
    assert count(states) == 1
    states["Work"]["Next"] = "Branch"
    states["Branch"] = choice("Test", default="Done")
    assert count(states) == 2  # Init-Test-Done, Init-Test-Work-Branch-Done


def test_thousand_states_are_fast_and_capped() -> None:
    # 999 binary choices in a row: 2**999 routes
    states: dict[str, Any] = {}
    for i in range(999):
        nxt = f"C{i + 1}" if i < 998 else "End"
        states[f"C{i}"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsNull": True, "Next": f"P{i}"}],
            "Default": nxt,
        }
        states[f"P{i}"] = {"Type": "Pass", "Next": nxt}
    states["End"] = end()
    definition = {"StartAt": "C0", "States": states}
    started = time.process_time()  # CPU, not wall time: a loaded CI machine must not fail it
    result = analyze_definition(definition)["analysis"]
    assert time.process_time() - started < 3.0  # an uncapped walk of 2**999 routes would never end
    assert result["number_of_possibilities"] == MAX_POSSIBILITIES
    assert result["possibilities_capped"] is True


def test_long_chain_does_not_recurse() -> None:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(5000)}
    states["S5000"] = end()
    result = analyze_definition({"StartAt": "S0", "States": states})["analysis"]
    assert result == {
        "number_of_possibilities": 1,
        "possibilities_capped": False,
        "unknown_scopes": {},
        "warnings": [],
        "portability": [],
    }


def action(url: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Action", "ActionUrl": url, "End": True, **fields}


def scopes_of(*actions: dict[str, Any]) -> dict[str, Any]:
    states = {f"A{i}": a for i, a in enumerate(actions)}
    return analyze_definition({"StartAt": "A0", "States": states})


def test_scopes_per_run_as_role() -> None:
    result = scopes_of(
        action("https://transfer.actions.globus.org/transfer"),
        action("https://transfer.actions.globus.org/delete/"),
        action("https://actions.globus.org/hello_world", RunAs="Flow"),
        action("https://example.org/ap", RunAs="Curator", ActionScope="https://auth.example.org/scopes/ap"),
        action("https://example.org/unknown", RunAs="Curator"),
    )
    assert result["scopes"] == {
        "Curator": ["https://auth.example.org/scopes/ap"],
        "Flow": [HELLO],
        "User": [TRANSFER],
    }
    assert list(result["scopes"]) == ["Curator", "Flow", "User"]
    assert result["analysis"]["unknown_scopes"] == {"Curator": ["https://example.org/unknown"]}


def test_action_scope_overrides_the_known_scope() -> None:
    result = scopes_of(action("https://transfer.actions.globus.org/transfer", ActionScope="custom"))
    assert result["scopes"] == {"User": ["custom"]}


def test_handler_provides_url_and_scope() -> None:
    result = scopes_of(
        {
            "Type": "Action",
            "Handler": {"Type": "ActionProvider", "Url": "https://example.org/a", "Scope": "s"},
            "End": True,
        }
    )
    assert result["scopes"] == {"User": ["s"]}


def test_role_with_only_unknown_providers_maps_to_an_empty_list() -> None:
    result = scopes_of(action("https://example.org/ap"))
    assert result["scopes"] == {"User": []}
    assert result["analysis"]["unknown_scopes"] == {"User": ["https://example.org/ap"]}


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("https://actions.globus.org/hello_world", HELLO),
        ("https://actions.automate.globus.org/hello_world/", HELLO),
        ("https://transfer.actions.globus.org/transfer/", TRANSFER),
        ("https://transfer.actions.globus.org/gcsv5/create_guest_collection", TRANSFER),
        (
            "https://compute.actions.globus.org",
            "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all",
        ),
        (
            "https://compute.actions.globus.org/v3",
            "https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all",
        ),
        (
            "https://actions.globus.org/search/ingest",
            "https://auth.globus.org/scopes/actions.globus.org/search/ingest",
        ),
        (
            "https://actions.globus.org/search/delete",
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/search_delete",
        ),
        (
            "https://actions.globus.org/transfer/ls",
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/transfer_ls",
        ),
        (
            "https://actions.globus.org/notification/notify",
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/notification_notify",
        ),
        (
            "https://actions.automate.globus.org/transfer/transfer",
            "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer",
        ),
        ("https://actions.globus.org/hello_world_not", None),
        (
            "https://actions.globus.org/weboption/wait_for_option",
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/weboption_wait_for_option",
        ),
        ("https://actions.globus.org/weboption/unknown", None),
        ("https://evil.example.org/hello_world", None),
        ("not a url", None),
    ],
)
def test_known_scope(url: str, scope: str | None) -> None:
    assert known_scope(url) == scope


def test_never_raises_on_garbage() -> None:
    for value in (
        None,
        [],
        {"States": []},
        {"StartAt": "A", "States": {"A": 5}},
        {"States": {"A": {"Type": "Action"}}},
    ):
        result = analyze_definition(value)
        assert result["analysis"]["number_of_possibilities"] >= 0


def test_registered_api_states_add_the_first_scope_of_their_api_to_their_role() -> None:
    """Issue 15: a RegisteredAPI handler needs its API's first scope (the one requested when the user has
    consented to none), under the state's RunAs role; the caller looks the scopes up and passes them."""
    api_id = "6e1d0c8a-7a43-4d4e-9a53-0f3b0c2c5a11"
    handler = {"Type": "RegisteredAPI", "Id": api_id}
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": {"Type": "Action", "Handler": handler, "Next": "Write"},
            "Write": {"Type": "Action", "Handler": handler, "RunAs": "Robot", "Next": "Gone"},
            "Gone": {"Type": "Action", "Handler": {"Type": "RegisteredAPI", "Id": "x"}, "End": True},
        },
    }
    scopes = {"Read": ["urn:read", "urn:all"], "Write": ["urn:write"], "Gone": []}
    result = analyze_definition(definition, registered_api_scopes=scopes)
    assert result["scopes"] == {"Robot": ["urn:write"], "User": ["urn:read"]}
    assert result["analysis"]["unknown_scopes"] == {}
    assert analyze_definition(definition)["scopes"] == {"Robot": [], "User": []}
