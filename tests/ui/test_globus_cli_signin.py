"""The stock `globus` CLI (3.44.0) logs in through the sign-in and consent pages, as a person would:
`globus login --no-local-server` prints the authorize URL; headless Chromium opens it, signs in with a local
account, allows the CLI, and reads the code from the auth-code page (`#auth-code`); the test types it back.
Then `globus whoami` names the person (tests/e2e/test_globus_cli_login.py covers the CLI's later commands)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from e2e.crashkit import ServerProcess
from ui.signin import PERSON, CommandLineLogin, client_environment, code_from_the_pages

pytestmark = pytest.mark.slow


def test_globus_login_through_the_pages(
    chromium_browser: Any, signin_server: ServerProcess, tmp_path: Path, screenshots: Path
) -> None:
    from e2e.test_globus_cli import globus_executable

    executable = globus_executable()
    env = client_environment(signin_server.url, tmp_path, GLOBUS_CLI_INTERACTIVE="0")
    login = CommandLineLogin([str(executable), "login", "--no-local-server"], env, tmp_path / "stderr.txt")
    context = chromium_browser.new_context(viewport={"width": 900, "height": 900})
    try:
        url = login.next_authorize_url(signin_server.url)
        assert "prompt=login" in url
        consent = code_from_the_pages(context, url, screenshot=screenshots / "consent-globus-cli.png")
        assert consent.signed_in and consent.heading == "Allow Globus CLI?"
        assert consent.scopes is not None
        assert (
            "urn:globus:auth:scope:transfer.api.globus.org:all" in consent.scopes
        )  # Timers' dependent scope
        login.answer(consent.code)
        out = login.finish()
    finally:
        context.close()
        login.kill()
    assert "You have successfully logged in to the Globus CLI" in out
    whoami = subprocess.run([str(executable), "whoami"], env=env, capture_output=True, text=True, timeout=120)
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.strip() == PERSON
