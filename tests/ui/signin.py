"""A person at the sign-in pages, for the tests of real command-line clients (the globus CLI, gladier,
globus-registered-api) that log in with the display redirect: the client prints an authorize URL and waits for
the code on standard input; Chromium opens the URL, signs in through the form (inputs named `username` and
`password`), allows on the consent page (the button named `allow`), and reads the code from `#auth-code`
(issue 13's contract for scripts and assistive technology).

- `CommandLineLogin`: the client as a subprocess whose printed authorize URLs are read line by line and whose
  prompts are answered with codes.
- `code_from_the_pages`: one visit of an authorize URL in a browser context; a context that already signed in
  (a person logging in a second time) goes straight to the consent page, or to the code when the consent page
  is skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WAIT_MS = 20_000
#: the local account the tests sign in with, and its password
PERSON = "erin"
PASSWORD = "erin's passphrase"


def client_environment(
    base_url: str, home: Path, *, sdk_environment: str | None = "openflows-test", **extra: str
) -> dict[str, str]:
    """A minimal environment for a real client pointed at OpenFlows through globus-sdk's documented variables:
    every service it may call at `base_url`, and GLOBUS_SDK_ENVIRONMENT a name globus-sdk does not know, so a
    call to any other service fails instead of leaving the machine (None: unset, for a client that accepts
    only Globus' own environment names)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        **({"GLOBUS_SDK_ENVIRONMENT": sdk_environment} if sdk_environment else {}),
        "GLOBUS_SDK_HTTP_TIMEOUT": "30",
        **{
            f"GLOBUS_SDK_SERVICE_URL_{name}": base_url
            for name in ("AUTH", "FLOWS", "GROUPS", "SEARCH", "TRANSFER", "TIMERS")
        },
        **extra,
    }


@dataclass
class Consent:
    """What one visit of the pages saw: whether it signed in, the consent page's heading and scope list (None
    when the consent page was skipped), and the code."""

    signed_in: bool
    heading: str | None
    scopes: str | None
    code: str


def code_from_the_pages(
    context: Any,
    url: str,
    *,
    username: str = PERSON,
    password: str = PASSWORD,
    screenshot: Path | None = None,
) -> Consent:
    """Visit `url` in the browser `context`, sign in when asked, allow, and read the code."""
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(url)
        form = page.locator("input[name=username]")
        allow = page.locator("button[name=allow]")
        code = page.locator("#auth-code")
        form.or_(allow).or_(code).first.wait_for()
        signed_in = False
        if form.count():
            form.fill(username)
            page.locator("input[name=password]").fill(password)
            page.locator("#password-signin button[type=submit]").click()
            signed_in = True
            allow.or_(code).first.wait_for()
        heading = scopes = None
        if allow.count():
            heading = page.locator("h1").text_content()
            scopes = page.locator("#requested-scopes").text_content()
            if screenshot is not None:
                page.screenshot(path=screenshot, full_page=True)
            allow.click()
        code.wait_for()
        return Consent(signed_in, heading, scopes, code.text_content().strip())
    finally:
        page.close()


@dataclass
class CommandLineLogin:
    """A real client run as a subprocess that logs in on the command line (prints the authorize URL, reads the
    code from standard input). Its standard error goes to `stderr_path`."""

    argv: Sequence[str]
    env: Mapping[str, str]
    stderr_path: Path
    cwd: Path | None = None
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def next_authorize_url(self, base_url: str) -> str:
        """The next line that is an authorize URL of `base_url` (the lines before it are kept in `lines`)."""
        assert self.process is not None and self.process.stdout is not None
        prefix = f"{base_url}v2/oauth2/authorize?"
        while True:
            line = self.process.stdout.readline()
            assert line, f"{self.argv[0]} ended before printing an authorize URL:\n{self.output()}"
            self.lines.append(line)
            if line.strip().startswith(prefix):
                return line.strip()

    def answer(self, code: str) -> None:
        """Type `code` at the prompt."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(code + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 120) -> str:
        """Wait for the exit (standard input closed); the rest of standard output. Asserts a zero exit."""
        assert self.process is not None
        rest, _ = self.process.communicate(timeout=timeout)
        self.lines.append(rest)
        assert self.process.returncode == 0, (
            f"{self.argv[0]} exited {self.process.returncode}:\n{self.output()}"
        )
        return rest

    def output(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"stdout:\n{''.join(self.lines)}\nstderr:\n{stderr[-4000:]}"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
