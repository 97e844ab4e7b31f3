"""`openflows users add|list|disable|remove` through Typer's runner (the password on standard input), and
once as a real subprocess."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from openflows.auth import accounts
from openflows.cli.main import app
from openflows.store.db import Database
from openflows.store.schema import local_accounts

OPENFLOWS = Path(sys.executable).parent / "openflows"
PASSWORD = "s3cret passphrase"


@pytest.fixture
def run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None, exit_code: int = 0):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == exit_code, f"{result.stdout}\n{result.stderr}\n{result.exception!r}"
        return result

    return run


def verify(database_url: str, username: str, password: str) -> bool:
    db = Database(database_url)
    try:
        now = dt.datetime.now(dt.UTC)
        return (
            db.transact(lambda conn: accounts.verify_password(conn, username, password, now=now)) is not None
        )
    finally:
        db.dispose()


def test_add_list_disable_enable_remove(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "users", "add", "--username", "alice", "--email", "alice@lab.example", "--name", "Alice",
        "--password-stdin", "--json", stdin=PASSWORD + "\n",
    )  # fmt: skip
    document = json.loads(added.stdout)
    assert document["username"] == "alice" and document["identity_urn"].startswith(
        "urn:globus:auth:identity:"
    )
    assert PASSWORD not in added.stdout
    assert verify(database_url, "alice", PASSWORD)
    assert not verify(database_url, "alice", PASSWORD + "x")

    listed = json.loads(run("users", "list", "--json").stdout)["users"]
    assert [(u["username"], u["name"], u["disabled"]) for u in listed] == [("alice", "Alice", False)]
    assert "alice  enabled  urn:globus:auth:identity:" in run("users", "list").stdout

    assert "Disabled local account alice." in run("users", "disable", "alice").stdout
    assert not verify(database_url, "alice", PASSWORD)
    assert "alice  disabled" in run("users", "list").stdout
    run("users", "disable", "alice", "--enable")
    assert verify(database_url, "alice", PASSWORD)

    changed = run("users", "set-password", "alice", "--password-stdin", stdin="a new passphrase\n")
    assert "Changed the password of local account alice." in changed.stdout
    assert verify(database_url, "alice", "a new passphrase") and not verify(database_url, "alice", PASSWORD)

    assert "Removed local account alice." in run("users", "remove", "alice").stdout
    assert not verify(database_url, "alice", PASSWORD)
    assert "No local accounts." in run("users", "list").stdout
    db = Database(database_url)
    try:
        with db.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(local_accounts)).scalar() == 0
    finally:
        db.dispose()


def test_refusals(run) -> None:  # type: ignore[no-untyped-def]
    no_stdin = run("users", "add", "--username", "bob", exit_code=1)
    assert "--password-stdin" in no_stdin.stderr
    short = run("users", "add", "--username", "bob", "--password-stdin", stdin="short\n", exit_code=1)
    assert "at least 8 characters" in short.stderr
    run("users", "add", "--username", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    again = run("users", "add", "--username", "bob", "--password-stdin", stdin=PASSWORD + "\n", exit_code=1)
    assert "already exists" in again.stderr
    assert "no local account named 'carol'" in run("users", "disable", "carol", exit_code=1).stderr
    assert "no local account named 'carol'" in run("users", "remove", "carol", exit_code=1).stderr


def test_an_identity_made_for_tokens_gets_the_password(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    token = json.loads(run("tokens", "create", "--username", "dora", "--json").stdout)
    user = json.loads(
        run("users", "add", "--username", "dora", "--password-stdin", "--json", stdin=PASSWORD).stdout
    )
    assert user["identity_id"] == token["identity_id"]


def test_as_a_subprocess(database_url: str, tmp_path: Path) -> None:
    env = {
        "OPENFLOWS_HOME": str(tmp_path / "home"),
        "OPENFLOWS_DATABASE_URL": database_url,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(OPENFLOWS), "users", "add", "--username", "eve", "--password-stdin"],
        input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Added local account eve (urn:globus:auth:identity:")
    assert verify(database_url, "eve", PASSWORD)
