"""The stock `globus` CLI's consent round trip against a live OpenFlows (issue 14), without a browser: the
consent page's Allow is `auth.authorization.approve` (as in test_globus_cli_login.py).

1. `globus login` and `globus login --flow` (consent to the flow while it does nothing as the user);
2. the flow is updated to call a provider as the user: `globus flows start` answers with the consent message
   naming the flow's scope with its dependent scope (exit 4);
3. `globus session consent '<that scope>'`; `globus flows start` succeeds and the run acts as the user;
4. a run waiting before its action: the consent is withdrawn (which revokes the CLI's token for the flow
   too, so `globus flows run resume` asks for a login for the flow), the run goes INACTIVE with a GARE; after
   `globus session consent '<scope>'`, `globus flows run resume RUN` (which checks the user's consents
   against the GARE, no --skip-inactive-reason-check) resumes the run, which finishes;
5. `globus logout` does not stop a run started before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_globus_cli import OPENFLOWS, globus_executable
from test_globus_cli_login import approve

from openflows.auth import authorization
from openflows.auth.scopes import PROVIDER_SCOPES, flow_scope
from openflows.auth.tokens import utcnow
from openflows.store.auth_consents import list_consents
from openflows.store.db import Database
from openflows.store.identities import get_identity_by_username
from sdk.support import Server, start_server

pytestmark = pytest.mark.slow

HELLO = PROVIDER_SCOPES["hello_world"]
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
HELLO_STATE = {
    "Type": "Action",
    "ActionUrl": "https://actions.globus.org/hello_world",
    "Parameters": {"echo_string": "hi"},
    "ResultPath": "$.hi",
    "End": True,
}
#: waits a little before its action, so that the consent can be withdrawn in between
NAP_THEN_HELLO = {
    "StartAt": "Nap",
    "States": {"Nap": {"Type": "Wait", "Seconds": 4, "Next": "Hi"}, "Hi": HELLO_STATE},
}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-globus-consent-"))
    live = start_server(OPENFLOWS, workdir)
    try:
        yield live
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class CLI:
    """The stock globus CLI as one person, with a throwaway HOME; logins approved with `approve`."""

    def __init__(self, server: Server, home: Path, db: Database, username: str) -> None:
        self.server = server
        self.db = db
        self.username = username
        self.executable = str(globus_executable())
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GLOBUS_CLI_INTERACTIVE": "0",
            "GLOBUS_SDK_HTTP_TIMEOUT": "30",
            **{
                f"GLOBUS_SDK_SERVICE_URL_{name}": server.base_url
                for name in ("AUTH", "FLOWS", "GROUPS", "SEARCH", "TRANSFER", "TIMERS")
            },
        }

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.executable, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == code, (
            f"globus {args}: {done.returncode}\n{done.stdout}\n{done.stderr}\n{self.server.log_tail(30)}"
        )
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-F", "json").stdout)

    def login(self, *args: str) -> None:
        """A login command that prints an authorize URL and reads the code (`--no-local-server`)."""
        process = subprocess.Popen(
            [self.executable, *args, "--no-local-server"],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        url = ""
        while not url:
            line = process.stdout.readline()
            assert line, f"globus {args} ended early: {process.stderr.read() if process.stderr else ''}"
            if line.startswith(self.server.base_url + "v2/oauth2/authorize?"):
                url = line.strip()
        out, err = process.communicate(approve(self.db, url, self.username) + "\n", timeout=120)
        assert process.returncode == 0, f"{out}\n{err}\n{self.server.log_tail(30)}"


def wait_for(cli: CLI, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = cli.json("flows", "run", "show", run_id)
        if run["status"] == status or time.monotonic() > deadline:
            assert run["status"] == status, run
            return run
        time.sleep(0.3)


def run_status(db: Database, run_id: str, wanted: str) -> str:
    """The run's status once it is `wanted` (or the last seen after a minute), read from the database."""
    import uuid

    import sqlalchemy as sa

    from openflows.store.schema import runs

    deadline = time.monotonic() + 60
    while True:
        with db.read() as conn:
            status = conn.execute(sa.select(runs.c.status).where(runs.c.id == uuid.UUID(run_id))).scalar_one()
        if status == wanted or time.monotonic() > deadline:
            return str(status)
        time.sleep(0.3)


def withdraw_consent(db: Database, username: str, scope: str) -> None:
    """What taking a consent back on the consent-management page does: every root consent to `scope`."""

    def withdraw(conn: Any) -> None:
        identity = get_identity_by_username(conn, username)
        for row in list_consents(conn, identity.id):
            if row.parent_id is None and row.scope_string == scope:
                authorization.revoke_consent(conn, identity_id=identity.id, consent_id=row.id, now=utcnow())

    db.transact(withdraw)


def test_consent_round_trip_with_the_stock_cli(server: Server, tmp_path: Path) -> None:
    db = Database(server.env["OPENFLOWS_DATABASE_URL"])
    try:
        cli = CLI(server, tmp_path, db, "dana")
        cli.login("login")
        definition = tmp_path / "pass.json"
        definition.write_text(json.dumps(PASS))
        flow_id = cli.json("flows", "create", "consenting", str(definition))["id"]
        scope = flow_scope(flow_id)
        cli.login("login", "--flow", flow_id)
        assert cli.json("flows", "start", flow_id)["status"] == "ACTIVE"

        # the flow now acts as its user at hello_world: the old consent does not cover that
        definition.write_text(json.dumps({"StartAt": "Hi", "States": {"Hi": HELLO_STATE}}))
        cli.json("flows", "update", flow_id, "--definition", str(definition))
        refused = cli.run("flows", "start", flow_id, code=4)
        required = f"{scope}[{HELLO}]"
        assert "requires you to consent" in refused.stdout + refused.stderr
        assert f"globus session consent '{required}'" in refused.stdout + refused.stderr

        cli.login("session", "consent", required)
        run = cli.json("flows", "start", flow_id)
        assert (
            wait_for(cli, run["run_id"], "SUCCEEDED")["details"]["output"]["hi"]["details"]["hello"] == "hi"
        )

        # the consent is withdrawn while a run waits before its action: INACTIVE, with a GARE
        definition.write_text(json.dumps(NAP_THEN_HELLO))
        cli.json("flows", "update", flow_id, "--definition", str(definition))
        run_id = cli.json("flows", "start", flow_id)["run_id"]
        withdraw_consent(db, "dana", scope)
        inactive = wait_for(cli, run_id, "INACTIVE")
        assert inactive["details"]["code"] == "ConsentRequired"
        assert inactive["details"]["authorization_parameters"]["required_scopes"] == [required]
        # withdrawing the consent revoked the CLI's token for the flow too: it asks for a login for the flow
        refused = cli.run("flows", "run", "resume", run_id, code=4)
        assert f"globus login --flow {flow_id}" in refused.stderr

        cli.login("session", "consent", required)
        resumed = cli.json("flows", "run", "resume", run_id)
        assert resumed["status"] == "ACTIVE"
        assert wait_for(cli, run_id, "SUCCEEDED")["details"]["output"]["hi"]["status"] == "SUCCEEDED"

        # `globus logout` revokes the CLI's tokens, not what a run holds: a run started before it finishes
        run_id = cli.json("flows", "start", flow_id)["run_id"]
        cli.run("logout", "--yes")
        assert run_status(db, run_id, "SUCCEEDED") == "SUCCEEDED"
    finally:
        db.dispose()


#: a Map of three hello_world items; item 1 waits a little first, so that the consent can be withdrawn
MAP_OF_HELLOS = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Which",
                "States": {
                    "Which": {
                        "Type": "Choice",
                        "Choices": [
                            {"Variable": "$._context.map_item.index", "NumericEquals": 1, "Next": "Nap"}
                        ],
                        "Default": "Hi",
                    },
                    "Nap": {"Type": "Wait", "Seconds": 4, "Next": "Hi"},
                    "Hi": {**HELLO_STATE, "Parameters": {"echo_string.$": "$.name"}},
                },
            },
            "ResultPath": "$.out",
            "End": True,
        }
    },
}


def test_the_cli_resumes_a_run_whose_map_item_lost_consent(server: Server, tmp_path: Path) -> None:
    """The item of a Map that goes INACTIVE makes the run INACTIVE with the item's GARE: `globus flows run
    resume` reads it like any run's (asks for the consent it names), and resumes the run, which finishes."""
    db = Database(server.env["OPENFLOWS_DATABASE_URL"])
    try:
        cli = CLI(server, tmp_path, db, "erin")
        cli.login("login")
        definition = tmp_path / "map.json"
        definition.write_text(json.dumps(MAP_OF_HELLOS))
        flow_id = cli.json("flows", "create", "mapping", str(definition))["id"]
        scope = flow_scope(flow_id)
        required = f"{scope}[{HELLO}]"
        cli.login("login", "--flow", flow_id)
        cli.login("session", "consent", required)
        items = json.dumps({"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
        run_id = cli.json("flows", "start", flow_id, "--input", items)["run_id"]
        withdraw_consent(db, "erin", scope)
        inactive = wait_for(cli, run_id, "INACTIVE")
        details = inactive["details"]
        assert details["code"] == "ConsentRequired" and details["iteration"] == {"state": "Fan", "index": 1}
        assert details["authorization_parameters"]["required_scopes"] == [required]
        refused = cli.run("flows", "run", "resume", run_id, code=4)
        assert f"globus login --flow {flow_id}" in refused.stderr

        cli.login("session", "consent", required)
        assert cli.json("flows", "run", "resume", run_id)["status"] == "ACTIVE"
        done = wait_for(cli, run_id, "SUCCEEDED")
        assert [item["hi"]["details"]["hello"] for item in done["details"]["output"]["out"]] == [
            "a",
            "b",
            "c",
        ]
    finally:
        db.dispose()
