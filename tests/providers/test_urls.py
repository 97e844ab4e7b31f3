"""Hosted Globus URLs resolve to the built-ins (every spelling published flows use), only when emulating."""

from __future__ import annotations

import pytest

from openflows.providers.base import Provider, ProviderRegistry

EXPECTED = {
    "https://transfer.actions.globus.org/transfer": "transfer",
    "https://transfer.actions.globus.org/transfer/": "transfer",
    "https://transfer.actions.globus.org/delete": "delete",
    "https://transfer.actions.globus.org/ls": "ls",
    "https://transfer.actions.globus.org/mkdir/": "mkdir",
    "https://transfer.actions.globus.org/stat": "stat",
    "https://transfer.actions.globus.org/manage_permission": "manage_permission",
    "https://actions.globus.org/transfer/set_permission": "manage_permission",
    "https://actions.automate.globus.org/transfer/set_permission/": "manage_permission",
    "https://actions.globus.org/transfer/transfer": "transfer",
    "https://actions.globus.org/transfer/delete": "delete",
    "https://actions.globus.org/transfer/ls": "ls",
    "https://actions.globus.org/transfer/mkdir": "mkdir",
    "https://actions.automate.globus.org/transfer/transfer": "transfer",
    "https://actions.automate.globus.org/transfer/delete/": "delete",
    "https://actions.automate.globus.org/transfer/ls": "ls",
    "https://compute.actions.globus.org": "compute",
    "https://compute.actions.globus.org/": "compute",
    "https://compute.actions.globus.org/fxap": "compute",
    "https://compute.actions.globus.org/v3/": "compute",
    "https://api.funcx.org/automate": "compute",
    "https://automate.funcx.org": "compute",
    "https://actions.globus.org/expression_eval": "expression_eval",
    "https://actions.automate.globus.org/expression_eval/": "expression_eval",
    "https://actions.globus.org/notification/notify": "notification",
    "https://actions.automate.globus.org/notification/notify": "notification",
    "https://actions.globus.org/search/ingest": "search_ingest",
    "https://actions.automate.globus.org/search/ingest/": "search_ingest",
    "https://actions.globus.org/search/delete": "search_delete",
    "https://actions.automate.globus.org/search/delete": "search_delete",
    "https://actions.globus.org/hello_world": "hello_world",
    "https://actions.automate.globus.org/hello_world/": "hello_world",
    "HTTPS://Actions.Globus.org:443/hello_world": "hello_world",
    "https://actions.globus.org/weboption/wait_for_option": "weboption",
    "https://actions.automate.globus.org/weboption/wait_for_option": "weboption",
}


def test_every_hosted_spelling_resolves(providers: dict[str, Provider]):
    registry = ProviderRegistry(providers.values(), base_urls=["http://127.0.0.1:8765"])
    for url, name in EXPECTED.items():
        resolved = registry.resolve(url)
        assert resolved is not None and resolved.name == name, url
    for name in providers:
        assert registry.resolve(f"http://127.0.0.1:8765/actions/{name}/").name == name  # type: ignore[union-attr]
    assert registry.resolve("https://actions.globus.org/weboption/wait_for_options") is None
    assert registry.resolve("https://example.org/transfer") is None


def test_emulation_off_maps_no_hosted_url(providers: dict[str, Provider]):
    registry = ProviderRegistry(
        providers.values(), base_urls=["http://127.0.0.1:8765"], emulate_globus_providers=False
    )
    for url in EXPECTED:
        assert registry.resolve(url) is None, url
    assert registry.resolve("http://127.0.0.1:8765/actions/transfer").name == "transfer"  # type: ignore[union-attr]


@pytest.mark.parametrize("doc", ["docs/providers.md"])
def test_the_docs_table_lists_every_hosted_url(providers: dict[str, Provider], doc: str):
    from pathlib import Path

    from openflows.providers.builtin import hosted_url_table

    text = (Path(__file__).resolve().parents[2] / doc).read_text()
    for url, name in hosted_url_table(list(providers.values())):
        assert f"`{url}`" in text and f"`{name}`" in text, url
