"""A real, certified OpenID Connect provider for the sign-in tests: the npm package `oidc-provider` (panva's,
OpenID Certified) run under Node. Nothing of the protocol is written here: this module installs the
package, writes a small configuration (one client for OpenFlows with its redirect URI, test accounts through
`findAccount`) and starts it on a free port; its own development login and consent pages (`devInteractions`)
sign the test accounts in.

The package is installed once into `.oidc-provider/<version>` at the repository root (git-ignored) and
reused; a file lock makes concurrent pytest-xdist workers wait for one installation instead of racing. The
tests are skipped when Node/npm are missing or the registry cannot be reached.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OIDC_PROVIDER_VERSION = "9.13.3"
CACHE = REPO_ROOT / ".oidc-provider"
#: longest time `npm install` may take
INSTALL_TIMEOUT = 300  # seconds
#: longest wait for the provider to answer its discovery URL
READY_TIMEOUT = 30  # seconds

#: the provider: configuration from the JSON file named by argv[2]; the package's entry from argv[3]
RUNNER = r"""
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { default: Provider } = await import(pathToFileURL(process.argv[3]).href);
const accounts = config.accounts;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['openflows-test-cookie-key'] },
});
provider.listen(config.port, () => console.log(`oidc-provider listening on ${config.issuer}`));
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider_package() -> Path:
    """The installed package's entry (`lib/index.js`), installing it on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the oidc-provider package")
    target = CACHE / OIDC_PROVIDER_VERSION
    entry = target / "node_modules" / "oidc-provider" / "lib" / "index.js"
    marker = target / "installed.ok"
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker installs; the others wait, then reuse
        if marker.exists() and entry.exists():
            return entry
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=CACHE))
        try:
            (staging / "package.json").write_text('{"name": "openflows-oidc-test", "private": true}\n')
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"oidc-provider@{OIDC_PROVIDER_VERSION}",
                ],
                cwd=staging,
                check=True,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            output = getattr(exc, "stderr", b"") or b""
            pytest.skip(f"cannot install oidc-provider with npm: {output.decode(errors='replace')[-300:]}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        marker.write_text(OIDC_PROVIDER_VERSION + "\n")
    return entry


class OidcProvider:
    """A running oidc-provider: `issuer`, the OpenFlows client's id and secret, and the accounts' claims."""

    def __init__(
        self, workdir: Path, *, redirect_uris: list[str], accounts: dict[str, dict[str, Any]]
    ) -> None:
        self.port = _free_port()
        # `localhost` while OpenFlows is on 127.0.0.1: two sites, so cookies and SameSite behave as deployed
        self.issuer = f"http://localhost:{self.port}"
        self.client_id = "openflows"
        self.client_secret = "openflows-test-secret-" + os.urandom(8).hex()
        self.accounts = accounts
        self.workdir = workdir
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "accounts": accounts,
            "clients": [
                {
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "redirect_uris": redirect_uris,
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }
            ],
        }
        (workdir / "provider.json").write_text(json.dumps(config))
        (workdir / "provider.mjs").write_text(RUNNER)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        entry = provider_package()
        log = open(self.workdir / "provider.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            ["node", str(self.workdir / "provider.mjs"), str(self.workdir / "provider.json"), str(entry)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_ENV": "development"},
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"oidc-provider exited: {self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"oidc-provider did not start: {self.output()}")

    def output(self) -> str:
        return (self.workdir / "provider.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def env(self) -> dict[str, str]:
        """OpenFlows' settings for this provider."""
        return {
            "OPENFLOWS_OIDC_ISSUER": self.issuer,
            "OPENFLOWS_OIDC_CLIENT_ID": self.client_id,
            "OPENFLOWS_OIDC_CLIENT_SECRET": self.client_secret,
        }


@contextlib.contextmanager
def running_provider(workdir: Path, **kwargs: Any) -> Iterator[OidcProvider]:
    provider = OidcProvider(workdir, **kwargs)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def upstream_sign_in(page: Any, provider: OidcProvider, account: str, *, wait_ms: int = 20_000) -> None:
    """On OpenFlows' sign-in page: choose the upstream provider, sign in there as `account` and allow
    OpenFlows (the provider's own development pages)."""
    page.get_by_role("button", name=f"Sign in with {provider.issuer.split('//')[1].split(':')[0]}").click()
    try:
        page.locator('input[name="login"]').wait_for(timeout=wait_ms)
    except Exception as exc:
        body = page.locator("body").text_content()
        raise AssertionError(
            f"no upstream login page at {page.url}: {body[:500]}\n{provider.output()}"
        ) from exc
    page.locator('input[name="login"]').fill(account)
    page.locator('input[name="password"]').fill("any password")
    page.locator('button[type="submit"]').click()
    page.get_by_role("button", name="Continue").click()
