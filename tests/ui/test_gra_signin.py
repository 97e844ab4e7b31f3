"""globus-registered-api (1.0.1), unchanged, signs a person in through OpenFlows' pages (issue 13).

Without GLOBUS_REGISTERED_API_CLIENT_ID/_SECRET, `gra` is a globus-sdk `UserApp` with its own public native
client: its first command that needs a token prints an authorize URL (display redirect, PKCE, no refresh
tokens) and reads the code from standard input; it stores the tokens in a JSON file under HOME. Headless
Chromium visits the URL, signs in through the form and allows on the consent page; the test types the code
back. Then `gra session whoami` (text and JSON: userinfo) needs no login, and `gra session logout` revokes the
tokens at OpenFlows: the stored tokens stop working, and the next `whoami` asks for a login again. The gra
virtualenv is tests/e2e/test_gra.py's (`.venv-gra`, e2e/venvkit.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from e2e.crashkit import ServerProcess
from openflows.auth import catalog
from ui.signin import PERSON, CommandLineLogin, client_environment, code_from_the_pages

pytestmark = pytest.mark.slow
FLOWS_ALL = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"


def stored_tokens(home: Path) -> list[dict[str, Any]]:
    """The token documents (one per resource server) in gra's JSON token storage under `home`."""

    def walk(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, dict):
            if "access_token" in value:
                yield value
            else:
                for item in value.values():
                    yield from walk(item)

    return [doc for path in sorted(home.rglob("*.json")) for doc in walk(json.loads(path.read_text()))]


def test_gra_session_whoami_and_logout_after_signing_in(
    chromium_browser: Any, signin_server: ServerProcess, tmp_path: Path, screenshots: Path
) -> None:
    from e2e.test_gra import gra_executable

    gra = str(gra_executable())
    base = signin_server.url
    home = tmp_path / "home"
    home.mkdir()
    env = client_environment(base, home, sdk_environment=None)  # gra refuses names it does not know

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [gra, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )

    whoami = CommandLineLogin([gra, "session", "whoami"], env, tmp_path / "stderr.txt")
    context = chromium_browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        url = whoami.next_authorize_url(base)
        query = {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}
        assert query["client_id"] == str(catalog.GRA_CLIENT_ID)
        assert query["redirect_uri"] == f"{base}v2/web/auth-code" and query["code_challenge_method"] == "S256"
        assert set(query["scope"].split()) >= {"openid", "profile", "email", catalog.GROUPS_VIEW, FLOWS_ALL}
        consent = code_from_the_pages(context, url, screenshot=screenshots / "consent-gra.png")
        assert consent.signed_in and consent.heading == "Allow globus-registered-api?"
        assert consent.scopes is not None and catalog.SEARCH_SEARCH in consent.scopes
        whoami.answer(consent.code)
        out = whoami.finish()
    finally:
        context.close()
        whoami.kill()
    assert out.strip().splitlines()[-1].split()[-1] == PERSON  # after the code prompt, on its line

    again = run("session", "whoami")  # no login: the stored tokens
    assert again.returncode == 0 and again.stdout.strip() == PERSON, again.stderr
    as_json = run("session", "whoami", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    userinfo = json.loads(as_json.stdout)
    assert userinfo["preferred_username"] == PERSON
    assert f"urn:globus:auth:identity:{userinfo['sub']}" in signin_server.cli("users", "list")

    tokens = stored_tokens(home)
    by_server = {doc["resource_server"]: doc["access_token"] for doc in tokens}
    assert set(by_server) >= {"auth.globus.org", "flows.globus.org", "groups.api.globus.org"}
    assert not any(doc.get("refresh_token") for doc in tokens)  # gra asks for none (access_type=online)
    where = {  # an endpoint of each resource server, which accepts only that server's tokens
        "auth.globus.org": "v2/oauth2/userinfo",
        "flows.globus.org": "flows",
        "groups.api.globus.org": "v2/groups/my_groups",
    }

    def statuses() -> dict[str, int]:
        return {
            server: httpx.get(
                f"{base}{path}", headers={"Authorization": f"Bearer {by_server[server]}"}
            ).status_code
            for server, path in where.items()
        }

    assert statuses() == dict.fromkeys(where, 200)

    logout = run("session", "logout")
    assert logout.returncode == 0 and logout.stdout.strip() == "Logged out successfully.", logout.stderr
    assert stored_tokens(home) == []
    assert statuses() == dict.fromkeys(where, 401)  # revoked at OpenFlows, not only forgotten
    signed_out = run("session", "whoami")  # a login again, which nobody answers here
    assert signed_out.returncode != 0 and f"{base}v2/oauth2/authorize?" in signed_out.stdout
