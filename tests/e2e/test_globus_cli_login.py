"""The stock `globus` CLI (3.44.0) logs in to a live OpenFlows as a person: `globus login --no-local-server`
prints the authorize URL, the test approves it as the consent page's Allow button would
(`auth.authorization.approve`) and types the code back. Then `whoami`, `session show` (introspection of the
CLI's own token with `session_info`), `flows list` (validate before each command, identities), a refresh of an
expired token, and `logout` (revocation as the template client). The sign-in pages themselves are tested with
the browser elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_globus_cli import OPENFLOWS, globus_executable

from openflows.auth import authorization
from openflows.auth.tokens import utcnow
from openflows.store.db import Database
from openflows.store.identities import ensure_identity
from openflows.store.schema import auth_sessions
from sdk.support import Server, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="openflows-globus-login-"))
    live = start_server(OPENFLOWS, workdir)
    try:
        yield live
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def approve(db: Database, url: str, username: str) -> str:
    query = {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}
    with db.read() as conn:
        request = authorization.check_request(conn, query)
    assert isinstance(request, authorization.AuthorizeRequest), request
    assert request.prompt == "login" and request.access_type == "offline" and request.code_challenge is None

    def allow(conn: Any) -> str:
        now = utcnow()
        identity = ensure_identity(conn, username, email=f"{username}@example.org", name="Dana", now=now)
        session_id = uuid.uuid4()  # what signing in on the page would have made
        conn.execute(
            auth_sessions.insert().values(
                id=session_id,
                token_hash=uuid.uuid4().hex * 2,
                identity_id=identity.id,
                method="password",
                idp="local",
                auth_time=now,
                created_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
        )
        return authorization.approve(
            conn,
            identity_id=identity.id,
            client_id=request.client_id,
            session_id=session_id,
            requested=request.requested,
            redirect_uri=request.redirect_uri,
            code_challenge=None,
            code_challenge_method=None,
            nonce=None,
            access_type=request.access_type,
            now=utcnow(),
        )

    return db.transact(allow)


def test_globus_login_whoami_session_and_logout(server: Server, tmp_path: Path) -> None:
    executable = globus_executable()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GLOBUS_CLI_INTERACTIVE": "0",
        "GLOBUS_SDK_HTTP_TIMEOUT": "30",
        **{
            f"GLOBUS_SDK_SERVICE_URL_{name}": server.base_url
            for name in ("AUTH", "FLOWS", "GROUPS", "SEARCH", "TRANSFER", "TIMERS")
        },
    }

    def globus(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(executable), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (
            f"globus {args}: {done.returncode}\n{done.stdout}\n{done.stderr}\n{server.log_tail(30)}"
        )
        return done

    db = Database(server.env["OPENFLOWS_DATABASE_URL"])
    try:
        login = subprocess.Popen(
            [str(executable), "login", "--no-local-server"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert login.stdout is not None and login.stdin is not None
        url = ""
        while not url:
            line = login.stdout.readline()
            assert line, f"globus login ended early: {login.stderr.read() if login.stderr else ''}"
            if line.startswith(server.base_url + "v2/oauth2/authorize?"):
                url = line.strip()
        code = approve(db, url, "dana")
        out, err = login.communicate(code + "\n", timeout=120)
        assert login.returncode == 0, f"{out}\n{err}\n{server.log_tail(30)}"
        assert "You have successfully logged in to the Globus CLI" in out

        assert globus("whoami").stdout.strip() == "dana"
        linked = globus("whoami", "--linked-identities").stdout
        assert "dana" in linked
        session = json.loads(globus("session", "show", "-F", "json").stdout)
        [(identity_id, authentication)] = session["authentications"].items()
        assert authentication["auth_time"] > 0 and session["session_id"]
        assert "dana" in globus("session", "show").stdout  # the identity looked up by id
        assert json.loads(globus("flows", "list", "-F", "json").stdout)["flows"] == []
        done = globus("logout", "--yes")
        assert "dana" in done.stdout
        not_logged_in = subprocess.run(
            [str(executable), "whoami"], env=env, capture_output=True, text=True, timeout=60
        )
        assert not_logged_in.returncode != 0
        assert not db_tokens_active(db)
    finally:
        db.dispose()


def db_tokens_active(db: Database) -> list[Any]:
    """Tokens of the login still unrevoked (logout revokes them all)."""
    import sqlalchemy as sa

    from openflows.store.schema import tokens

    with db.read() as conn:
        return conn.execute(
            sa.select(tokens.c.id).where(tokens.c.client_id.is_not(None), tokens.c.revoked_at.is_(None))
        ).all()
