"""Fixtures for the browser tests: Debian's Chromium (installed with apt-get when missing and we are root),
Playwright for Python driving it headless, one real `openflows serve` subprocess with three identities for the
whole session, and, per test module, a fresh one with a local account for the tests of real command-line
clients signing in through the pages (`signin_server`, see signin.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: longest time the Chromium installation may take
INSTALL_TIMEOUT = 600  # seconds
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed from the Debian packages if missing and we may; else skip."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium) and we cannot apt-get install it (not root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            ["apt-get", "update"], check=True, env=env, timeout=INSTALL_TIMEOUT, capture_output=True
        )
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            check=True,
            env=env,
            timeout=INSTALL_TIMEOUT,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not install Chromium with apt-get: {exc}")
    if not CHROMIUM.exists():
        pytest.skip("apt-get installed chromium but /usr/bin/chromium is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    executable = ensure_chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class LiveServer:
    """A running `openflows serve` with tokens for alice, bob and carol."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.url = process.url.rstrip("/")
        self.alice = process.create_token("alice")["token"]
        self.bob = process.create_token("bob")["token"]
        self.carol = process.create_token("carol")["token"]
        # a local account, for signing in through the authorize pages
        self.dana_password = "dana's long password"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "openflows.cli.main",
                "users",
                "add",
                "--username",
                "dana",
                "--password-stdin",
            ],
            input=self.dana_password + "\n",
            env=process.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def call(self, token: str, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.is_success, response.text
        return response.json()

    def add_collection(self, collection_id: str, root: Path, owner: str = "alice") -> None:
        """Register `root` as a collection of `owner` for the built-in transfer provider."""
        self.process.cli(
            "collections", "add", "--id", collection_id, "--name", root.name, "--owner", owner, str(root)
        )

    def identity_urn(self, token: str) -> str:
        """The identity URN of the token's user (from a dashboard sign-in, which reports it)."""
        response = httpx.post(
            f"{self.url}/ui/session", json={"token": token}, headers={"Origin": self.url}, timeout=30
        )
        assert response.is_success, response.text
        return response.json()["identity_urn"]


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    from e2e.crashkit import ServerProcess

    home = Path(tempfile.mkdtemp(prefix="openflows-ui-"))
    process = ServerProcess(
        home,
        extra_env={
            "OPENFLOWS_LOG_LEVEL": "WARNING",
            "OPENFLOWS_POLL_MAX_SECONDS": "1",
            # a timer firing every 2 s (test_timers_page: a resume seen to work at the next firing)
            "OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS": "1",
        },
    )
    process.start()
    try:
        yield LiveServer(process)
    finally:
        process.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def signin_server() -> Iterator[Any]:
    """A fresh `openflows serve` (a `ServerProcess`) with the local account `signin.PERSON`."""
    from e2e.crashkit import ServerProcess
    from ui.signin import PASSWORD, PERSON

    home = Path(tempfile.mkdtemp(prefix="openflows-signin-"))
    process = ServerProcess(home, extra_env={"OPENFLOWS_LOG_LEVEL": "WARNING"})
    process.start()
    add = [
        sys.executable,
        "-m",
        "openflows.cli.main",
        "users",
        "add",
        "--username",
        PERSON,
        "--password-stdin",
    ]
    try:
        subprocess.run(
            add,
            input=PASSWORD + "\n",
            env=process.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        yield process
    finally:
        process.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: docs/screenshots when UPDATE_SCREENSHOTS=1 (to refresh
    the documentation's pictures on purpose), else a temporary directory (tracked files stay as they are)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
