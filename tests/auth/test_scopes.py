"""Scope strings and what they grant."""

from __future__ import annotations

import uuid

import pytest

from openflows.auth import scopes

FLOW_ID = uuid.UUID("9b1c1b8a-6b0f-4a4e-9a42-3c1c0a7b2f10")


def test_scope_strings_match_the_hosted_service() -> None:
    assert scopes.ALL == "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
    assert (
        scopes.RUN_MANAGE == "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/run_manage"
    )
    assert len(scopes.SERVICE_SCOPES) == 7
    # the JS SDK's web input scopes (spec flows-api.md §5); `all` implies them, as the CLI relies on
    assert scopes.WEB_INPUT_VIEW == scopes.SCOPE_PREFIX + "web_input_view"
    assert scopes.WEB_INPUT_RESPOND == scopes.SCOPE_PREFIX + "web_input_respond"
    assert scopes.grants(frozenset({scopes.ALL}), scopes.WEB_INPUT_RESPOND)
    all_scopes = scopes.ALL_SCOPES
    assert all_scopes == scopes.SERVICE_SCOPES | {scopes.ALL}


def test_flow_scope_format_and_parse() -> None:
    text = scopes.flow_scope(FLOW_ID)
    assert text == (
        "https://auth.globus.org/scopes/9b1c1b8a-6b0f-4a4e-9a42-3c1c0a7b2f10/"
        "flow_9b1c1b8a_6b0f_4a4e_9a42_3c1c0a7b2f10_user"
    )
    assert scopes.flow_scope(str(FLOW_ID).upper()) == text
    assert scopes.parse_flow_scope(text) == FLOW_ID
    assert scopes.parse_flow_scope(scopes.ALL) is None
    other = scopes.flow_scope(uuid.uuid4())
    mismatched = text.split("/flow_")[0] + "/flow_" + other.split("/flow_")[1]
    assert scopes.parse_flow_scope(mismatched) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("all", scopes.ALL),
        ("run_status", scopes.RUN_STATUS),
        (scopes.VIEW_FLOWS, scopes.VIEW_FLOWS),
        ("*", "*"),
        (str(FLOW_ID), scopes.flow_scope(FLOW_ID)),
        (scopes.flow_scope(FLOW_ID), scopes.flow_scope(FLOW_ID)),
        # the built-in providers: their names, their scopes, and the legacy scopes they also accept
        ("transfer", "urn:globus:auth:scope:transfer.api.globus.org:all"),
        ("mkdir", "urn:globus:auth:scope:transfer.api.globus.org:all"),
        ("hello_world", "https://auth.globus.org/scopes/actions.globus.org/hello_world"),
        ("search_ingest", "https://auth.globus.org/scopes/actions.globus.org/search/ingest"),
        (
            "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer",
            "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer",
        ),
        (
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/notification_notify",
            "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/notification_notify",
        ),
        # the Timers API
        ("timer", "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"),
        (scopes.TIMERS, scopes.TIMERS),
    ],
)
def test_normalize_scope(given: str, expected: str) -> None:
    assert scopes.normalize_scope(given) == expected


@pytest.mark.parametrize("bad", ["", "everything", "https://auth.globus.org/scopes/other/all", "openid"])
def test_normalize_scope_rejects_unknown_scopes(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        scopes.normalize_scope(bad)


def test_all_implies_the_service_scopes_but_not_flow_scopes() -> None:
    held = frozenset({scopes.ALL})
    assert all(scopes.grants(held, scope) for scope in scopes.SERVICE_SCOPES)
    assert scopes.grants(held, scopes.ALL)
    assert not scopes.grants(held, scopes.flow_scope(FLOW_ID))


def test_wildcard_implies_everything() -> None:
    held = frozenset({scopes.WILDCARD})
    assert all(scopes.grants(held, scope) for scope in scopes.ALL_SCOPES)
    assert scopes.grants(held, scopes.flow_scope(FLOW_ID))


def test_a_single_scope_grants_only_itself() -> None:
    held = frozenset({scopes.VIEW_FLOWS, scopes.flow_scope(FLOW_ID)})
    assert scopes.grants(held, scopes.VIEW_FLOWS)
    assert scopes.grants(held, scopes.flow_scope(FLOW_ID))
    assert not scopes.grants(held, scopes.MANAGE_FLOWS)
    assert not scopes.grants(held, scopes.ALL)
    assert not scopes.grants(held, scopes.flow_scope(uuid.uuid4()))


def test_provider_scopes_are_granted_only_by_themselves_or_the_wildcard() -> None:
    transfer = scopes.PROVIDER_SCOPES["transfer"]
    assert scopes.provider_scopes("transfer") == (
        transfer,
        "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer",
    )
    assert scopes.provider_scopes("stat") == (transfer,)  # no legacy hosted stat provider
    assert scopes.grants(frozenset({scopes.WILDCARD}), transfer)
    assert scopes.grants(frozenset({transfer}), transfer)
    # no Flows scope grants a provider scope, not even `all` (as on the hosted service)
    assert not scopes.grants(frozenset({scopes.ALL, *scopes.SERVICE_SCOPES}), transfer)
    assert not scopes.grants(frozenset({transfer}), scopes.PROVIDER_SCOPES["hello_world"])
