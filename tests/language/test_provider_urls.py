"""Near misses of Globus-hosted action provider URLs are warned about before anything runs (issue 18)."""

from __future__ import annotations

import json

import pytest

from corpus import CORPUS_FILES
from openflows.language.model import Problem
from openflows.language.provider_urls import HOSTED_PROVIDER_URLS, action_url_warnings, near_miss


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("https://actions.globus.org/helo_world", "https://actions.globus.org/hello_world"),
        ("https://actions.globsu.org/hello_world", "https://actions.globus.org/hello_world"),
        ("https://transfer.actions.globus.org/tranfser", "https://transfer.actions.globus.org/transfer"),
        ("https://actions.globus.org/search/ingset", "https://actions.globus.org/search/ingest"),
        (
            "https://actions.automate.globus.org/transfer/delet",
            "https://actions.automate.globus.org/transfer/delete",
        ),
    ],
)
def test_a_near_miss_gets_a_suggestion(url: str, meant: str) -> None:
    assert near_miss(url) == f"'{url}' is not a Globus-hosted action provider; did you mean '{meant}'?"


def test_an_unknown_path_on_a_hosted_host_is_flagged_without_a_guess() -> None:
    why = near_miss("https://actions.globus.org/my_thing")
    assert why is not None and "did you mean" not in why
    assert "will be called over the network" in why


@pytest.mark.parametrize(
    "url",
    [
        "https://actions.globus.org/hello_world",
        "https://transfer.actions.globus.org/transfer/",  # a trailing slash is the same URL
        "HTTPS://Compute.Actions.Globus.org",
        "https://example.org/actions/my_provider",
        "http://127.0.0.1:8765/actions/hello_world",
        "not a url",
    ],
)
def test_hosted_and_foreign_urls_are_not_flagged(url: str) -> None:
    assert near_miss(url) is None


def test_warnings_are_located_on_the_action_url_and_the_handler() -> None:
    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/helo_world",
                "Next": "Again",
            },
            "Again": {
                "Type": "Action",
                "Handler": {"Type": "ActionProvider", "Url": "https://actions.globus.org/hello_wrld"},
                "End": True,
            },
        },
    }
    warnings = action_url_warnings(definition)
    assert [w.loc for w in warnings] == [
        ("States", "Hello", "ActionUrl"),
        ("States", "Again", "Handler", "Url"),
    ]
    assert all(isinstance(w, Problem) and w.type == "unknown_action_url" for w in warnings)


def test_every_built_in_stand_in_is_a_hosted_url() -> None:
    """The built-ins answer at hosted URLs (providers/*.hosted_urls): none of those may be warned about."""
    from openflows.providers import builtin
    from openflows.providers.base import Provider, normalize_url

    classes = [c for c in vars(builtin).values() if isinstance(c, type) and issubclass(c, Provider)]
    urls = [url for provider in classes for url in provider.hosted_urls]
    assert len(urls) >= 30
    for url in urls:
        assert normalize_url(url).replace("http://", "https://") in HOSTED_PROVIDER_URLS, url
        assert near_miss(url) is None


def test_no_corpus_flow_is_warned_about() -> None:
    for path in CORPUS_FILES:
        assert action_url_warnings(json.loads(path.read_text())) == [], path.name
