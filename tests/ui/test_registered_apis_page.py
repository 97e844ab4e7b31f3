"""The registered API pages of the dashboard (issue 15) in real headless Chromium against a real `openflows
serve`: the list (reached from the navigation, with a role filter) and one API (name, description, the
operation's method and URL, roles, Globus Auth scopes, the state input schema), as the owner, a viewer and an
identity with no role; an API marked for deletion; a 360 px screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regapikit import ALL_SCOPE, VIEW_SCOPE, thing_target

from .conftest import LiveServer
from .test_browser import new_page, sign_in, stray_text

LONG_DESCRIPTION = "Get one thing by its id, with an optional verbose flag. " * 4


@pytest.fixture
def page(chromium_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from new_page(chromium_browser, live_server)


@pytest.fixture(scope="module")
def apis(live_server: LiveServer) -> dict[str, Any]:
    bob = live_server.identity_urn(live_server.bob)
    made = live_server.call(
        live_server.alice,
        "POST",
        "/registered_apis",
        {
            "name": "get-thing",
            "description": LONG_DESCRIPTION,
            "target": thing_target(),
            "roles": {"viewers": [bob]},
        },
    )
    old = live_server.call(
        live_server.alice,
        "POST",
        "/registered_apis",
        {"name": "old-thing", "description": "Replaced", "target": thing_target()},
    )
    live_server.call(live_server.alice, "DELETE", f"/registered_apis/{old['id']}")
    return {"thing": made, "old": old, "alice": made["roles"]["owners"][0], "bob": bob}


def test_the_owner_lists_and_reads_registered_apis(
    page: Any, live_server: LiveServer, apis: dict[str, Any], screenshots: Path
) -> None:
    sign_in(page, live_server.alice)
    page.get_by_role("link", name="Registered APIs", exact=True).click()
    page.get_by_role("link", name="get-thing").wait_for()
    assert page.locator('#nav a[aria-current="page"]').text_content() == "Registered APIs"
    assert page.get_by_role("link", name="old-thing").count() == 0  # marked for deletion: not listed
    page.get_by_label("Your role").select_option("viewer")  # alice is the owner, not a listed viewer
    page.get_by_text("No registered APIs.").wait_for()
    page.get_by_label("Your role").select_option("owner")
    page.get_by_role("link", name="get-thing").wait_for()
    page.screenshot(path=screenshots / "registered-apis.png")

    page.get_by_role("link", name="get-thing").click()
    page.locator("#api-url").wait_for()
    assert page.locator("#api-name").text_content() == "get-thing ACTIVE"
    assert page.locator("#api-description").text_content() == LONG_DESCRIPTION
    assert page.locator("#api-method").text_content() == "GET"
    assert page.locator("#api-url").text_content() == "https://things.example.org/things/{thing_id}"
    assert page.locator("#api-your-roles").text_content() == "owner, administrator, viewer"
    assert page.locator("#api-owners").text_content() == apis["alice"]
    assert page.locator("#api-administrators").text_content() == "—"
    assert page.locator("#api-viewers").text_content() == apis["bob"]
    assert page.locator("#api-scopes li").all_text_contents() == [VIEW_SCOPE, ALL_SCOPE]
    schema = page.locator("#api-input-schema").text_content()
    assert '"thing_id"' in schema and '"verbose"' in schema and '"X-Trace"' in schema
    assert f'"Id":"{apis["thing"]["id"]}"' in page.locator("code.handler").text_content()
    assert stray_text(page) == []
    page.screenshot(path=screenshots / "registered-api.png", full_page=True)

    page.goto(f"/ui#/registered-apis/{apis['old']['id']}")  # owners still see one marked for deletion
    page.locator("#api-pending").wait_for()
    assert page.locator("#api-name .badge").text_content() == "DELETE_PENDING"
    assert "removed for good on" in page.locator("#api-pending").text_content()


def test_a_viewer_sees_less_and_an_outsider_nothing(
    chromium_browser: Any, live_server: LiveServer, apis: dict[str, Any]
) -> None:
    for page in new_page(chromium_browser, live_server):
        sign_in(page, live_server.bob)
        page.goto("/ui#/registered-apis")
        page.get_by_role("link", name="get-thing").wait_for()  # "any role" by default
        page.get_by_role("link", name="get-thing").click()
        page.locator("#api-url").wait_for()
        assert page.locator("#api-your-roles").text_content() == "viewer"
        assert page.locator("#api-owners").text_content() == apis["alice"]
        assert page.locator("#api-viewers").text_content() == "—"  # role lists are for administrators
        assert page.locator("#api-scopes li").count() == 2
    for page in new_page(chromium_browser, live_server):
        sign_in(page, live_server.carol)
        page.goto("/ui#/registered-apis")
        page.get_by_text("No registered APIs.").wait_for()
        page.goto(f"/ui#/registered-apis/{apis['thing']['id']}")
        page.get_by_text("Not found, or you may not see it.").wait_for()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_pages_fit_a_narrow_screen(
    chromium_browser: Any, live_server: LiveServer, apis: dict[str, Any], dark: bool
) -> None:
    for page in new_page(chromium_browser, live_server, dark=dark, width=360):
        sign_in(page, live_server.alice)
        for hash_, ready in [
            ("#/registered-apis", "table.list"),
            (f"#/registered-apis/{apis['thing']['id']}", "#api-url"),
        ]:
            page.goto(f"/ui{hash_}")
            page.locator(ready).wait_for()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, hash_
