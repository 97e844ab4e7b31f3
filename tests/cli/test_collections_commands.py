"""`openflows collections add|allow|revoke|show|list|remove`: owners and access rules from the command line,
in-process on both databases (the providers then see exactly those rules), and once against a live
`openflows serve`, where bob's HTTP calls and bob's flow runs meet the rules."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openflows.cli.main import app
from openflows.providers.base import Caller
from openflows.providers.builtin import create_builtin_providers
from openflows.providers.collections import PermissionDenied
from openflows.providers.config import ProviderSettings
from openflows.providers.runner import ActionRunner
from openflows.store.db import Database
from sdk.support import Server, raw_request, specific_flow_client, wait_for_run


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


def _token(run: Any, username: str, *groups: str) -> dict[str, Any]:
    argv = ["tokens", "create", "--username", username, "--json"]
    for group in groups:
        argv += ["--group", group]
    return json.loads(run(*argv).stdout.strip().splitlines()[-1])


def _ls(db: Database, tmp_path: Path, collection_id: str, path: str, who: dict[str, Any]) -> dict[str, Any]:
    """`ls` of the built-in provider on `db`, as the identity of `who` (a `tokens create --json` answer)."""
    runner = ActionRunner(db, inline=True)
    [provider] = [
        p
        for p in create_builtin_providers(db, ProviderSettings(outbox_dir=tmp_path / "outbox"), runner=runner)
        if p.name == "ls"
    ]
    caller = Caller(who["identity_urn"], groups=tuple(who["group_urns"]))
    request = {"request_id": uuid.uuid4().hex, "body": {"endpoint_id": collection_id, "path": path}}
    return provider.run(request, caller)[0]


def test_a_collection_added_without_allow_is_private_to_the_administrator(run: Any, tmp_path: Path):
    root = tmp_path / "data"
    root.mkdir()
    key = str(uuid.uuid4())
    admin = _token(run, "admin")
    added = run("collections", "add", "--id", key, "--name", "Data", str(root)).stdout
    assert f"Added collection {key} (Data) at {root.resolve()}" in added
    assert f"Owner: admin ({admin['identity_urn']})" in added
    assert f"Private: only its owner, admin ({admin['identity_urn']}), may use it." in added
    assert f"openflows collections allow {key} PRINCIPAL[:r|rw][:PATH]" in added
    shown = json.loads(run("collections", "show", key, "--json").stdout)
    assert shown == {
        "id": key,
        "name": "Data",
        "root": str(root.resolve()),
        "owner": admin["identity_urn"],
        "owner_username": "admin",
        "owner_is_default": True,
        "private": True,
        "rules": [],
    }
    text = run("collections", "show", key).stdout
    assert "(the local administrator, by default)" in text and "Private:" in text
    [listed] = json.loads(run("collections", "list", "--json").stdout)
    assert (listed["owner_username"], listed["rules"]) == ("admin", 0)
    assert "owner admin  private" in run("collections", "list").stdout


def test_owner_allow_revoke_and_their_effect(run: Any, tmp_path: Path, database_url: str):
    root = tmp_path / "lab"
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "a.txt").write_text("a")
    (root / "team").mkdir()
    key = str(uuid.uuid4())
    alice, bob = _token(run, "alice"), _token(run, "bob", "readers")
    carol = _token(run, "carol")
    group = bob["group_urns"][0]
    added = run(
        "collections",
        "add",
        "--id",
        key,
        "--name",
        "Lab",
        "--owner",
        "alice",
        "--allow",
        "bob:r:/shared/",
        "--allow",
        f"{group}:rw:/team",
        "--allow",
        "all_authenticated_users:/shared/a.txt",
        "--allow",
        "dave:rw",  # a new username: its identity is made, like `tokens create` does
        str(root),
    ).stdout
    assert f"Owner: alice ({alice['identity_urn']})" in added and "Private" not in added
    assert "New identity: dave" in added
    assert f"  r   /shared/  bob ({bob['identity_urn']})" in added
    shown = json.loads(run("collections", "show", key, "--json").stdout)
    assert (shown["owner"], shown["owner_username"], shown["owner_is_default"]) == (
        alice["identity_urn"],
        "alice",
        False,
    )
    rules = {
        (r["username"] or r["principal"], r["principal_type"], r["path"], r["permissions"])
        for r in shown["rules"]
    }
    assert rules == {
        ("bob", "identity", "/shared/", "r"),
        (group, "group", "/team/", "rw"),
        ("all_authenticated_users", "all_authenticated_users", "/shared/a.txt/", "r"),
        ("dave", "identity", "/", "rw"),
    }
    db = Database(database_url)
    try:
        assert _ls(db, tmp_path, key, "/shared", bob)["status"] == "SUCCEEDED"
        assert _ls(db, tmp_path, key, "/team", bob)["status"] == "SUCCEEDED"  # through the group
        with pytest.raises(PermissionDenied):
            _ls(db, tmp_path, key, "/", bob)
        with pytest.raises(PermissionDenied):
            _ls(db, tmp_path, key, "/shared", carol)
        assert _ls(db, tmp_path, key, "/", alice)["status"] == "SUCCEEDED"

        allowed = run("collections", "allow", key, "carol:rw:/shared").stdout
        assert allowed.startswith(
            f"Allowed carol ({carol['identity_urn']}): read and write (rw) below /shared/"
        )
        changed = run("collections", "allow", key, f"{carol['identity_urn']}:r:/shared/").stdout
        assert changed.startswith("Changed the rule of carol") and "read (r)" in changed
        assert _ls(db, tmp_path, key, "/shared", carol)["status"] == "SUCCEEDED"
        revoked = run("collections", "revoke", key, "carol:/shared/").stdout
        assert revoked.startswith(f"Revoked 1 rule of carol ({carol['identity_urn']}) on /shared/")
        with pytest.raises(PermissionDenied):
            _ls(db, tmp_path, key, "/shared", carol)
        missing = run("collections", "revoke", key, "carol", exit_code=1)
        assert "has no rule in collection" in missing.stderr
        assert run("collections", "revoke", key, "bob").stdout.startswith("Revoked 1 rule of bob")
        with pytest.raises(PermissionDenied):
            _ls(db, tmp_path, key, "/shared", bob)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "--allow", "bob:rwx"], "is not PRINCIPAL[:r|rw][:PATH]"),
        (["add", "--allow", "bob:r:/a/../b"], "contains '..'"),
        (["add", "--allow", "urn:globus:auth:identity:nope:r"], "does not start with a principal"),
        (["add", "--owner", "urn:globus:groups:id:x"], "is not a principal"),
        (["allow", "KEY", "bob:w"], "is not PRINCIPAL[:r|rw][:PATH]"),
        (["revoke", "KEY", "bob:rw:/x"], "is not PRINCIPAL[:PATH]"),
        (["revoke", "KEY", "nobody-here"], "no identity with username 'nobody-here'"),
        (["allow", "UNKNOWN", "bob"], "no collection"),
        (["show", "UNKNOWN"], "no collection"),
    ],
)
def test_mistakes_are_one_line_errors(run: Any, tmp_path: Path, argv: list[str], message: str):
    key = str(uuid.uuid4())
    run("collections", "add", "--id", key, "--name", "x", str(tmp_path))
    argv = [key if a == "KEY" else str(uuid.uuid4()) if a == "UNKNOWN" else a for a in argv]
    if argv[0] == "add":
        argv = ["add", "--id", str(uuid.uuid4()), "--name", "y", *argv[1:], str(tmp_path)]
    result = run("collections", *argv, exit_code=1)
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- against a live server: bob's calls and bob's flows ------------------------------------------------------


@pytest.fixture
def admin_line(run_line: Any, live_server: Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`run_line` with the live server's database (the administration commands work on it directly)."""
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", live_server.env["OPENFLOWS_DATABASE_URL"])
    return run_line


def test_a_live_server_enforces_the_rules_the_cli_makes(
    admin_line: Any, live_server: Server, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    alice = live_server.create_identity(f"alice-{suffix}")
    bob = live_server.create_identity(f"bob-{suffix}")
    root = tmp_path / "alices"
    (root / "results").mkdir(parents=True)
    (root / "results" / "r.txt").write_text("42")
    key = str(uuid.uuid4())
    out = admin_line(f"openflows collections add --id {key} --name alices --owner {alice.username} {root}")
    assert f"Private: only its owner, {alice.username} ({alice.urn}), may use it." in out.stdout

    def bob_ls(path: str) -> Any:
        body = json.dumps({"request_id": uuid.uuid4().hex, "body": {"endpoint_id": key, "path": path}})
        return raw_request(live_server.base_url, "POST", "/actions/ls/run", body.encode(), token=bob.token)

    refused = bob_ls("/results")
    assert refused.status == 403 and refused.json()["code"] == "PermissionDenied"
    definition = {
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/ls",
                "Parameters": {"endpoint_id": key, "path": "/results"},
                "ResultPath": "$.listed",
                "End": True,
            }
        },
    }
    flow = bob.flows.create_flow(title="peek", definition=definition, input_schema={})
    specific = specific_flow_client(live_server.base_url, bob.token, flow["id"])

    def bob_runs() -> dict[str, Any]:
        return wait_for_run(bob.flows, specific.run_flow({})["run_id"])

    failed = bob_runs()
    assert (
        failed["status"] == "FAILED" and failed["details"]["details"]["cause"]["code"] == "PermissionDenied"
    )

    admin_line(f"openflows collections allow {key} {bob.username}:r:/results/")
    assert bob_ls("/results").status == 202
    assert bob_ls("/").status == 403
    succeeded = bob_runs()
    assert succeeded["status"] == "SUCCEEDED", succeeded["details"]
    assert [e["name"] for e in succeeded["details"]["output"]["listed"]["details"]["DATA"]] == ["r.txt"]

    admin_line(f"openflows collections revoke {key} {bob.username}")
    assert bob_ls("/results").status == 403
    again = bob_runs()
    assert again["status"] == "FAILED" and again["details"]["details"]["cause"]["code"] == "PermissionDenied"
