"""`--help` everywhere (with an example), a light `openflows --help`, completion, `openflows profile`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from openflows.cli.main import app

CLIENT_GROUPS = ("flows", "run", "runs", "dev", "profile", "clients")


def iter_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    found = []
    for group_name in CLIENT_GROUPS:
        group = root.commands[group_name]
        for name, command in group.commands.items():
            found.append((f"{group_name} {name}", command))
    return found


@pytest.mark.parametrize("name,command", iter_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_client_command_has_help_with_an_example(name: str, command: Any) -> None:
    assert command.help and "Example: openflows " + name in command.help
    result = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_help_imports_no_server_or_sdk_module() -> None:
    code = (
        "import sys\n"
        "from openflows.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='openflows')\n"
        "except SystemExit:\n"
        "    pass\n"
        "try:\n"
        "    app(['runs', 'watch', '--help'], prog_name='openflows')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', sorted(m for m in ('fastapi', 'sqlalchemy', 'globus_sdk') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "LOADED []" in done.stdout, done.stdout[-500:]


def test_shell_completion() -> None:
    cli = [sys.executable, "-c", "from openflows.cli.main import main; main()"]
    script = subprocess.run([*cli, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert "_openflows_completion" in script.stdout
    env = {"_OPENFLOWS_COMPLETE": "complete_bash", "COMP_WORDS": "openflows runs wa", "COMP_CWORD": "2"}
    done = subprocess.run(
        cli, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["watch"]


def run(home: Path, *args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, ["profile", *args], env={"OPENFLOWS_HOME": str(home)})
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return result.stdout + result.stderr


def test_profile_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "No profiles" in run(home, "list")
    assert "Saved profile prod (active)." in run(
        home, "add", "prod", "--url", "https://p.example/", "--token", "of_0123456789abcdef"
    )
    assert "Saved profile dev." in run(home, "add", "dev", "--url", "http://127.0.0.1:1/")
    listing = run(home, "list")
    assert "* prod  https://p.example/" in listing and "  dev   http://127.0.0.1:1/" in listing
    shown = run(home, "show")
    assert "prod (active)" in shown and "of_012…cdef" in shown and "0123456789" not in shown
    assert "of_0123456789abcdef" in run(home, "show", "prod", "--show-token")
    assert json.loads(run(home, "list", "--format", "json"))["active"] == "prod"
    assert "Active profile: dev." in run(home, "use", "dev")
    assert json.loads(run(home, "show", "--format", "json"))["name"] == "dev"
    assert "no profile named 'nope'" in run(home, "use", "nope", exit_code=1)
    assert "Removed profile dev." in run(home, "remove", "dev")
    assert json.loads(run(home, "list", "--format", "json"))["active"] is None
    assert ((home / "profiles.json").stat().st_mode & 0o777) == 0o600


def test_named_profile_is_used_by_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "add", "down", "--url", "http://127.0.0.1:9/")
    result = CliRunner().invoke(
        app, ["flows", "list", "--profile", "down"], env={"OPENFLOWS_HOME": str(home)}
    )
    assert result.exit_code == 1 and "cannot reach the server" in result.stderr
    result = CliRunner().invoke(
        app, ["flows", "list", "--profile", "nope"], env={"OPENFLOWS_HOME": str(home)}
    )
    assert result.exit_code == 1 and "no profile named 'nope'" in result.stderr


def test_serve_writes_the_local_profile_without_stealing_the_active_one(tmp_path: Path) -> None:
    from openflows.profiles import load_profiles, resolve_connection, write_local_profile

    home = tmp_path / "home"
    write_local_profile(home, "http://127.0.0.1:1/", "of_first")
    doc = load_profiles(home / "profiles.json")
    assert doc == {
        "active": "local",
        "profiles": {"local": {"url": "http://127.0.0.1:1/", "token": "of_first"}},
    }
    run(home, "add", "prod", "--url", "https://p.example/", "--use")
    write_local_profile(home, "http://127.0.0.1:2/", "of_second")  # a restart on another port
    doc = load_profiles(home / "profiles.json")
    assert doc["active"] == "prod"
    assert doc["profiles"]["local"] == {"url": "http://127.0.0.1:2/", "token": "of_second"}
    env = {"OPENFLOWS_HOME": str(home), "OPENFLOWS_URL": "http://elsewhere.invalid/"}
    assert resolve_connection(environ=env).url == "http://elsewhere.invalid/"  # type: ignore[union-attr]
    by_flag = resolve_connection(profile="local", environ=env)
    assert by_flag is not None and (by_flag.url, by_flag.token) == ("http://127.0.0.1:2/", "of_second")
