"""`openflows tokens ...` and `openflows db ...`, through Typer's runner and once as a real subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openflows.auth import scopes
from openflows.auth.tokens import lookup_principal
from openflows.cli.main import app
from openflows.store.db import Database
from openflows.store.migrate import current_revision, head_revision

OPENFLOWS = Path(sys.executable).parent / "openflows"


@pytest.fixture
def run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `openflows ARGS...` in-process on this test's database; fail loudly on an unexpected exit code."""
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, exit_code: int = 0):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args))
        assert result.exit_code == exit_code, (
            f"openflows {' '.join(args)} exited {result.exit_code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
        )
        return result

    return run


def _principal(database_url: str, token: str):  # type: ignore[no-untyped-def]
    db = Database(database_url)
    try:
        with db.read() as conn:
            return lookup_principal(conn, token, now=dt.datetime.now(dt.UTC))
    finally:
        db.dispose()


def test_create_prints_the_token_last(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = run("tokens", "create", "--username", "alice", "--group", "team", "--description", "laptop")
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Created a token for alice (urn:globus:auth:identity:")
    token = lines[-1]
    principal = _principal(database_url, token)
    assert principal is not None
    assert principal.username == "alice"
    assert principal.scopes == {scopes.WILDCARD}
    assert len(principal.group_urns) == 1


def test_create_json(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(run("tokens", "create", "--username", "bob", "--group", "lab", "--json").stdout)
    second = json.loads(
        run(
            "tokens", "create", "--username", "bob", "--group", "lab", "--group", "team",
            "--scope", "all", "--scope", scopes.RUN, "--email", "bob@example.org", "--json",
        ).stdout
    )  # fmt: skip
    assert set(first) >= {
        "token",
        "token_id",
        "identity_id",
        "identity_urn",
        "username",
        "group_urns",
        "scopes",
    }
    assert first["identity_id"] == second["identity_id"]  # same identity, stable id
    assert first["identity_urn"] == f"urn:globus:auth:identity:{first['identity_id']}"
    assert first["group_urns"][0] == second["group_urns"][0]  # same group
    assert all(urn.startswith("urn:globus:groups:id:") for urn in second["group_urns"])
    assert second["scopes"] == sorted([scopes.ALL, scopes.RUN])
    assert first["scopes"] == ["*"]
    principal = _principal(database_url, second["token"])
    assert principal is not None
    assert principal.email == "bob@example.org"
    assert principal.group_urns == set(second["group_urns"])
    assert principal.has_scope(scopes.MANAGE_FLOWS)


def test_create_rejects_unknown_scopes(run) -> None:  # type: ignore[no-untyped-def]
    result = run("tokens", "create", "--username", "alice", "--scope", "everything", exit_code=1)
    assert "unknown scope 'everything'" in result.stderr
    assert result.stdout == ""


def test_create_with_provider_scopes(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """A provider's name stands for the scope it requires; full scope strings are kept as given."""
    legacy = "https://auth.globus.org/scopes/actions.globus.org/transfer/transfer"
    created = json.loads(
        run(
            "tokens", "create", "--username", "carol", "--scope", "transfer", "--scope", "hello_world",
            "--scope", legacy, "--json",
        ).stdout
    )  # fmt: skip
    assert created["scopes"] == sorted(
        [scopes.PROVIDER_SCOPES["transfer"], scopes.PROVIDER_SCOPES["hello_world"], legacy]
    )
    principal = _principal(database_url, created["token"])
    assert principal is not None and principal.has_scope("urn:globus:auth:scope:transfer.api.globus.org:all")
    assert not principal.has_scope(scopes.VIEW_FLOWS)


def test_revoke_and_list(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    created = [
        json.loads(run("tokens", "create", "--username", name, "--json").stdout) for name in ("a", "b")
    ]
    run("tokens", "revoke", created[0]["token"])
    run("tokens", "revoke", created[1]["token_id"])
    assert _principal(database_url, created[0]["token"]) is None
    assert _principal(database_url, created[1]["token"]) is None
    assert "no such token" in run("tokens", "revoke", "of_nothing", exit_code=1).stderr

    listed = json.loads(run("tokens", "list", "--json").stdout)["tokens"]
    assert [item["username"] for item in listed] == ["a", "b"]
    assert all(item["revoked_at"] for item in listed)
    only_b = json.loads(run("tokens", "list", "--username", "b", "--json").stdout)["tokens"]
    assert [item["token_id"] for item in only_b] == [created[1]["token_id"]]
    text = run("tokens", "list").stdout
    assert "revoked" in text and created[0]["token_id"] in text
    for item in created:
        assert item["token"] not in text


def test_db_commands(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    assert f"revision {head_revision()} (head)" in run("db", "current").stdout
    assert f"revision {head_revision()} (head)" in run("db", "upgrade").stdout


def test_every_command_migrates_an_empty_database(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", empty_database_url)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "current"])
    assert "none (empty database)" in result.stdout
    result = runner.invoke(app, ["tokens", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "No tokens."
    db = Database(empty_database_url)
    try:
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_default_database_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["tokens", "create", "--username", "alice"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "openflows.db").is_file()


def test_bad_settings_give_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", "mysql://localhost/x")
    result = CliRunner().invoke(app, ["tokens", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: unsupported database 'mysql': use sqlite:/// or postgresql+psycopg://"
    ]


def test_real_command_in_a_subprocess(database_url: str, tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OPENFLOWS_")  # the autouse fixture already removed them; be explicit
    }
    env.update(OPENFLOWS_HOME=str(tmp_path / "home"), OPENFLOWS_DATABASE_URL=database_url)
    completed = subprocess.run(
        [str(OPENFLOWS), "tokens", "create", "--username", "carol", "--group", "g1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert document["username"] == "carol"
    principal = _principal(database_url, document["token"])
    assert principal is not None and principal.identity_urn == document["identity_urn"]


def test_help_imports_no_heavy_modules(tmp_path: Path) -> None:
    """`openflows --help` must stay fast: no FastAPI, SQLAlchemy or globus-sdk at import."""
    code = (
        "import sys\n"
        "sys.argv = ['openflows', '--help']\n"
        "from openflows.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('fastapi', 'sqlalchemy', 'globus_sdk', 'alembic', 'uvicorn')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path
    )
    assert "HEAVY []" in completed.stdout, completed.stdout + completed.stderr
    assert "tokens" in completed.stdout and "serve" in completed.stdout


def test_a_flow_scope_token_carries_consent_and_consents_can_be_revoked(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from openflows.auth.scopes import PROVIDER_SCOPES
    from openflows.store.flows import create_flow

    flow_id = uuid.uuid4()
    db = Database(database_url)
    try:
        db.transact(
            lambda conn: create_flow(
                conn,
                flow_id=flow_id,
                flow_owner="urn:globus:auth:identity:00000000-0000-4000-8000-000000000000",
                title="hello",
                definition={"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                input_schema={},
                now=dt.datetime.now(dt.UTC),
                dependent_scopes=[PROVIDER_SCOPES["hello_world"]],
            )
        )
    finally:
        db.dispose()
    result = run("tokens", "create", "--username", "alice", "--scope", str(flow_id), "--json")
    created = json.loads(result.stdout)
    assert created["scopes"] == [scopes.flow_scope(flow_id)] and len(created["consent_ids"]) == 1
    text = run("tokens", "create", "--username", "alice", "--scope", str(flow_id)).stdout
    assert "Consented, for alice, to the flow scope(s) with their dependent scopes" in text

    listed = json.loads(run("consents", "list", "--username", "alice", "--json").stdout)["consents"]
    assert [(item["scope_string"], item["parent_id"] is None) for item in listed] == [
        (scopes.flow_scope(flow_id), True),
        (PROVIDER_SCOPES["hello_world"], False),
    ]
    assert listed[0]["id"] == created["consent_ids"][0]
    assert PROVIDER_SCOPES["hello_world"] in run("consents", "list", "--username", "alice").stdout
    done = run("consents", "revoke", str(listed[0]["id"]), "--username", "alice").stdout
    assert done.strip() == "Revoked 2 consent(s) and 2 token(s)."
    assert _principal(database_url, created["token"]) is None
    assert run("consents", "list", "--username", "alice").stdout.strip() == "No consents."
    assert "has no consent" in run("consents", "revoke", "1", "--username", "alice", exit_code=1).stderr
