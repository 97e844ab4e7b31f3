"""Helpers for the acceptance test of an action provider built with the unchanged globus-action-provider-tools
(APT): the provider's own virtualenv, the provider process, and people's tokens from OpenFlows' Auth.

APT pins globus-sdk < 4 while OpenFlows' own environment has globus-sdk 4, so the provider runs in a
virtualenv of its own, `.venv-apt` at the repository root (git-ignored), built on first use and reused while
its requirements stay the same (e2e/venvkit.py).

The provider (`apt_provider/app.py`) is a Flask app started as a subprocess on a free port, with
`GLOBUS_SDK_SERVICE_URL_AUTH` / `_GROUPS` pointing at the OpenFlows under test and `GLOBUS_SDK_ENVIRONMENT`
set to a name globus-sdk does not know, so a call to any other Globus service fails instead of leaving the
machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import globus_sdk

from e2e.venvkit import client_venv
from openflows.auth import authorization
from openflows.auth.tokens import utcnow
from openflows.store.db import Database
from sdk.support import free_port

APP_DIR = Path(__file__).resolve().parent / "apt_provider"
#: the last release of the toolkit (it needs globus-sdk < 4; 3.66.0 is the last 3.x) with its Flask extra
REQUIREMENTS = ("globus-action-provider-tools[flask]==0.21.0", "globus-sdk==3.66.0")
#: the URL prefix of the provider's blueprint (`url_prefix` in app.py)
URL_PREFIX = "/apt"
PROVIDER_START_TIMEOUT = 30.0  # seconds
#: a name globus-sdk does not know: any service without a GLOBUS_SDK_SERVICE_URL_* override is an error
SDK_ENVIRONMENT = "openflows-test"


def apt_python() -> Path:
    """The python of `.venv-apt`, built (once, under the lock) when missing or of other requirements."""
    return client_venv("apt", REQUIREMENTS) / "bin" / "python"


def sdk_environment(base_url: str) -> dict[str, str]:
    """The variables that point globus-sdk (in the provider's process) at the OpenFlows under test."""
    return {
        "GLOBUS_SDK_ENVIRONMENT": SDK_ENVIRONMENT,
        "GLOBUS_SDK_SERVICE_URL_AUTH": base_url,
        "GLOBUS_SDK_SERVICE_URL_GROUPS": base_url,
    }


def clean_environment(extra: dict[str, str], home: Path) -> dict[str, str]:
    """A minimal environment for a process of the provider's virtualenv (nothing of the test's own)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_script(python: Path, script: str, args: Sequence[str], env: dict[str, str]) -> Any:
    """Run one of the provider's scripts (apt_provider/<script>) and parse the JSON it prints."""
    done = subprocess.run(
        [str(python), str(APP_DIR / script), *args],
        env=env,
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{script} {args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


@dataclass
class ProviderProcess:
    """The provider app (`apt_provider/app.py`) running on a free port."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """The action URL (its introspection document; `/run`, `/actions/{id}` below it)."""
        return f"http://127.0.0.1:{self.port}{URL_PREFIX}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no provider log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_provider(python: Path, env: dict[str, str], workdir: Path) -> ProviderProcess:
    """Start the provider and wait (bounded) until its introspection document answers 200."""
    last = ""
    for attempt in range(3):  # another process may take the free port first
        port = free_port()
        log_path = workdir / f"provider-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(python), str(APP_DIR / "app.py"), "--port", str(port)],
                env=env,
                cwd=APP_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        provider = ProviderProcess(process, port, log_path)
        deadline = time.monotonic() + PROVIDER_START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(provider.url, timeout=2) as response,
            ):
                if response.status == 200:
                    return provider
            time.sleep(0.1)
        last = f"exit code {process.poll()}; log:\n{provider.log()[-3000:]}"
        provider.stop()
    raise RuntimeError(f"the action provider did not start within {PROVIDER_START_TIMEOUT}s: {last}")


@contextlib.contextmanager
def running_provider(python: Path, env: dict[str, str], workdir: Path) -> Iterator[ProviderProcess]:
    provider = start_provider(python, env, workdir)
    try:
        yield provider
    finally:
        provider.stop()


def approve(db: Database, authorize_url: str, identity_id: uuid.UUID, base_url: str) -> str:
    """What the consent page's Allow does for an authorize URL built by globus-sdk: the code."""
    query = {key: values[-1] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    with db.read() as conn:
        request = authorization.check_request(conn, query, base_url=base_url)
    assert isinstance(request, authorization.AuthorizeRequest), request
    return db.transact(
        lambda conn: authorization.approve(
            conn,
            identity_id=identity_id,
            client_id=request.client_id,
            session_id=None,
            requested=request.requested,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            nonce=request.nonce,
            access_type=request.access_type,
            now=utcnow(),
        )
    )


def sign_in(
    db: Database, base_url: str, client_id: str, identity_id: str, scopes: list[str]
) -> globus_sdk.OAuthTokenResponse:
    """A person's tokens, as a native app (PKCE) gets them after the person approves on the consent page."""
    from globus_sdk.transport import RetryConfig

    client = globus_sdk.NativeAppAuthClient(
        client_id, base_url=base_url, retry_config=RetryConfig(max_retries=0)
    )
    client.oauth2_start_flow(requested_scopes=scopes)
    code = approve(db, client.oauth2_get_authorize_url(), uuid.UUID(identity_id), base_url)
    return client.oauth2_exchange_code_for_tokens(code)
