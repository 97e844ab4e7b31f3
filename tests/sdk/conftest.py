"""Fixtures for the SDK acceptance tests: one live `openflows serve` per session and a few identities.

Imports only the standard library, pytest and globus_sdk (see support.py): these tests also run in a
virtualenv
that has globus-sdk 3.66 and pytest but not openflows, with
`python -m pytest -c tests/sdk/pytest-sdk3.ini --confcutdir=tests/sdk tests/sdk`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing as t
from pathlib import Path

import pytest

from .support import Identity, Server, openflows_bin, start_server, unique

GROUP_NAME = "sdk-team"


@pytest.fixture(scope="session")
def openflows_executable() -> Path:
    path = openflows_bin()
    if not path.exists():
        pytest.skip(f"openflows executable not found at {path} (set OPENFLOWS_TEST_BIN)")
    return path


@pytest.fixture(scope="session")
def server(openflows_executable: Path) -> t.Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-sdk-"))
    os.environ.setdefault("GLOBUS_SDK_HTTP_TIMEOUT", "30")
    live = start_server(openflows_executable, workdir)
    previous_url = os.environ.get("GLOBUS_SDK_SERVICE_URL_FLOWS")
    os.environ["GLOBUS_SDK_SERVICE_URL_FLOWS"] = live.base_url
    try:
        yield live
    finally:
        live.stop()
        if previous_url is None:
            os.environ.pop("GLOBUS_SDK_SERVICE_URL_FLOWS", None)
        else:
            os.environ["GLOBUS_SDK_SERVICE_URL_FLOWS"] = previous_url
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def alice(server: Server) -> Identity:
    return server.create_identity("alice@example.org")


@pytest.fixture(scope="session")
def bob(server: Server) -> Identity:
    return server.create_identity("bob@example.org")


@pytest.fixture(scope="session")
def carol(server: Server) -> Identity:
    """A member of the group `sdk-team`."""
    return server.create_identity("carol@example.org", groups=[GROUP_NAME])


@pytest.fixture(scope="session")
def dave(server: Server) -> Identity:
    """Nobody in particular: no group, no roles unless a test grants them."""
    return server.create_identity("dave@example.org")


@pytest.fixture(scope="session")
def loner(server: Server) -> Identity:
    """An identity that never creates anything: its own listings stay empty."""
    return server.create_identity("loner@example.org")


@pytest.fixture(scope="session")
def team_urn(carol: Identity) -> str:
    assert len(carol.group_urns) == 1, carol.group_urns
    return carol.group_urns[0]


@pytest.fixture
def new_user(server: Server) -> t.Callable[..., Identity]:
    """A factory of fresh identities, for tests that count what one user sees."""

    def make(groups: t.Sequence[str] = (), scopes: t.Sequence[str] | None = None) -> Identity:
        return server.create_identity(f"{unique('user')}@example.org", groups=groups, scopes=scopes)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> t.Iterator[None]:
    """Attach the tail of the server log to failing tests (the server runs in another process)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "server" in getattr(item, "fixturenames", ()):
        live = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(live, Server):
            report.sections.append(("openflows serve log (tail)", live.log_tail(60)))
