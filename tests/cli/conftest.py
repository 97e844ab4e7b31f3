"""Fixtures of the client-command tests: one live `openflows serve` subprocess per session, and `run_line`,
which runs `openflows ...` in-process (Typer's runner) against it with the profile `serve` wrote."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import HELLO
from typer.testing import CliRunner

from sdk.support import Server, start_server

OPENFLOWS = Path(sys.executable).parent / "openflows"


@pytest.fixture(scope="session")
def live_server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-cli-"))
    server = start_server(OPENFLOWS, workdir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def cli_env(live_server: Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a user on the server's machine: only OPENFLOWS_HOME (the profile is there)."""
    for key in ("OPENFLOWS_URL", "OPENFLOWS_TOKEN", "OPENFLOWS_PROFILE", "GLOBUS_SDK_SERVICE_URL_FLOWS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENFLOWS_HOME", live_server.env["OPENFLOWS_HOME"])
    monkeypatch.setenv("COLUMNS", "200")
    return {"OPENFLOWS_HOME": live_server.env["OPENFLOWS_HOME"]}


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run_line(cli_env: dict[str, str], live_server: Server):  # type: ignore[no-untyped-def]
    """`run_line("openflows flows list", exit_code=0)`: run in-process; on a wrong exit status, fail with
    stdout, stderr, the exception and the server log's tail."""
    from openflows.cli.main import app

    runner = CliRunner()

    def run(line: str | list[str], *, exit_code: int = 0, input: str | None = None) -> Result:
        argv = shlex.split(line) if isinstance(line, str) else list(line)
        assert argv[0] == "openflows"
        result = runner.invoke(app, argv[1:], input=input, prog_name="openflows")
        unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert result.exit_code == exit_code and not unexpected, (
            f"{argv} exited {result.exit_code}, expected {exit_code}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}\nexception: {result.exception!r}\n"
            f"server log:\n{live_server.log_tail(30)}"
        )
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def hello_file(tmp_path: Path) -> Path:
    path = tmp_path / "hello.json"
    path.write_text(json.dumps(HELLO))
    return path
