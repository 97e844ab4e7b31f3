"""gladier, unchanged, with its default user login, against a real `openflows serve`, driven as a person would
drive it (issue 13).

gladier 0.10.0, the last release whose default login works: 0.11.0's `UserAppLoginManager.login` looks up
`FlowsClient.scopes.scope_names`, which no globus-sdk 4 has (ScopeBuilder became ScopeCollection in 4.0), so
it fails with AttributeError before it sends anything. 0.10.0 has the same default login manager on
globus-sdk 3.x.

A person's program (programs/gladier_hello.py: a minimal GladierBaseClient with one Hello World tool) runs in
gladier's virtualenv (`.venv-gladier`, e2e/venvkit.py), pointed at OpenFlows by globus-sdk's GLOBUS_SDK_*
variables only. With no client credentials in the environment gladier uses `UserAppLoginManager`: its public
native client and globus-sdk's command-line login, which prints an authorize URL (display redirect
`<base>v2/web/auth-code`, PKCE, refresh tokens) and reads the code from standard input. Headless Chromium
visits each printed URL, signs in through the form and allows on the consent page; the test types the code
from `#auth-code` back.

`run_flow` logs in twice: first for Flows, Compute and Auth (to deploy the flow), then, in the same browser
(already signed in), for the new flow's own scope, whose consent includes Hello World's scope. The run
succeeds as the signed-in person. Run again after its access tokens have expired, the program needs no login
at all: globus-sdk refreshes them with the refresh tokens gladier stored. When the tool's flow gains a step
at another provider, gladier updates the flow, the run is refused for want of consent (403 MISSING_SCOPE),
gladier logs in again for the flow's scope, and the consent page lists the new provider's scope under it.
Logging out with gladier revokes, at OpenFlows, the tokens it forgets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from e2e.crashkit import ServerProcess
from e2e.venvkit import client_venv
from openflows.auth import catalog
from openflows.auth.scopes import PROVIDER_SCOPES
from openflows.auth.tokens import hash_token, utcnow
from openflows.store.db import Database
from openflows.store.schema import tokens
from ui.signin import PERSON, CommandLineLogin, client_environment, code_from_the_pages

pytestmark = pytest.mark.slow
GLADIER_VERSION = "0.10.0"
PROGRAM = Path(__file__).resolve().parent / "programs" / "gladier_hello.py"
FLOWS = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/"
HELLO_WORLD_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/hello_world"
EXPRESSION_EVAL_SCOPE = PROVIDER_SCOPES["expression_eval"]


def gladier_python() -> Path:
    """The python of `.venv-gladier` (gladier brings globus-sdk 4 and globus-compute-sdk)."""
    return client_venv("gladier", [f"gladier=={GLADIER_VERSION}"]) / "bin" / "python"


def result_of(output: str) -> dict[str, Any]:
    """The program's `RESULT <json>` line (after a code prompt, on the same line)."""
    [line] = [line for line in output.splitlines() if "RESULT " in line]
    return json.loads(line.split("RESULT ", 1)[1])


def identity_urn(server: ServerProcess, username: str) -> str:
    """The identity URN of a local account, from `openflows users list`."""
    for line in server.cli("users", "list").splitlines():
        fields = line.split()
        if fields and fields[0] == username:
            return next(field for field in fields if field.startswith("urn:globus:auth:identity:"))
    raise AssertionError(f"no local account {username}")


def expire_access_tokens(server: ServerProcess, client_id: uuid.UUID) -> int:
    """Make the client's live access tokens expired a minute ago; how many."""
    db = Database(server.database_url)
    try:
        live = (tokens.c.client_id == client_id) & (tokens.c.kind == "access") & tokens.c.revoked_at.is_(None)
        update = tokens.update().where(live).values(expires_at=utcnow() - dt.timedelta(minutes=1))
        return int(db.transact(lambda conn: conn.execute(update).rowcount))
    finally:
        db.dispose()


def live_access_tokens(server: ServerProcess, client_id: uuid.UUID) -> list[str | None]:
    """The client's unexpired, unrevoked access tokens: for each, the kind of token it was issued from."""
    db = Database(server.database_url)
    parents = tokens.alias("parents")
    query = (
        sa.select(parents.c.kind)
        .select_from(tokens.outerjoin(parents, tokens.c.parent_id == parents.c.id))
        .where(
            tokens.c.client_id == client_id,
            tokens.c.kind == "access",
            tokens.c.revoked_at.is_(None),
            tokens.c.expires_at > utcnow(),
        )
    )
    try:
        with db.read() as conn:
            return list(conn.execute(query).scalars())
    finally:
        db.dispose()


def gladier_stored_tokens(home: Path) -> dict[str, list[str]]:
    """The tokens (access, refresh) in gladier's token storage (globus-sdk's SQLite one in ~/.gladier), by
    resource server."""
    found: dict[str, list[str]] = {}
    for path in sorted(home.glob(".gladier/*.db")):
        with contextlib.closing(sqlite3.connect(path)) as conn:
            for server, data in conn.execute("SELECT resource_server, token_data_json FROM token_storage"):
                doc = json.loads(data)
                found[server] = [
                    doc["access_token"],
                    *([doc["refresh_token"]] if doc.get("refresh_token") else []),
                ]
    return found


def revoked(server: ServerProcess, secrets: list[str]) -> list[bool]:
    """For each token, whether OpenFlows has it as revoked (it stores only their hashes)."""
    db = Database(server.database_url)
    hashes = [hash_token(secret) for secret in secrets]
    query = sa.select(tokens.c.token_hash, tokens.c.revoked_at).where(tokens.c.token_hash.in_(hashes))
    try:
        with db.read() as conn:
            found = {row.token_hash: row.revoked_at is not None for row in conn.execute(query)}
    finally:
        db.dispose()
    assert set(found) == set(hashes), "a stored token unknown to OpenFlows"
    return [found[digest] for digest in hashes]


def query_of(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def test_gladier_default_login_deploys_and_runs_a_flow_as_the_person(
    chromium_browser: Any, signin_server: ServerProcess, tmp_path: Path, screenshots: Path
) -> None:
    python = gladier_python()
    base = signin_server.url
    env_home = tmp_path / "home"
    env_home.mkdir()
    env = client_environment(base, env_home)
    program = CommandLineLogin(
        [str(python), str(PROGRAM), "hello from erin"], env, tmp_path / "stderr.txt", cwd=tmp_path
    )
    context = chromium_browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        # first login: what deploying the flow needs
        first_url = program.next_authorize_url(base)
        first = query_of(first_url)
        assert first["client_id"] == str(catalog.GLADIER_CLIENT_ID)
        assert first["redirect_uri"] == f"{base}v2/web/auth-code"
        assert first["code_challenge_method"] == "S256" and first["access_type"] == "offline"
        asked = first["scope"].split()
        assert {FLOWS + "manage_flows", FLOWS + "run", catalog.COMPUTE_ALL, "openid"} <= set(asked)
        consent = code_from_the_pages(context, first_url, screenshot=screenshots / "consent-gladier.png")
        assert consent.signed_in and consent.heading == "Allow Gladier Client?"
        assert consent.scopes is not None and FLOWS + "manage_flows" in consent.scopes
        program.answer(consent.code)

        # second login: the new flow's own scope (the browser is still signed in)
        second_url = program.next_authorize_url(base)
        [flow_scope] = [scope for scope in query_of(second_url)["scope"].split() if "/flow_" in scope]
        again = code_from_the_pages(context, second_url)
        assert not again.signed_in and again.heading == "Allow Gladier Client?"
        assert again.scopes is not None and flow_scope in again.scopes
        assert HELLO_WORLD_SCOPE in again.scopes  # the flow acts at Hello World on the person's behalf
        program.answer(again.code)
        result = result_of(program.finish())
    finally:
        context.close()
        program.kill()

    erin = identity_urn(signin_server, PERSON)
    flow_id = result["flow_id"]
    assert flow_scope.startswith(f"https://auth.globus.org/scopes/{flow_id}/")
    run, status = result["run"], result["status"]
    assert run["flow_id"] == flow_id and run["run_owner"] == erin and run["label"] == "hello from gladier"
    assert status["status"] == "SUCCEEDED", status
    said = status["details"]["output"]["SayHello"]["details"]
    assert said == {"Hello": "World", "hello": "hello from erin"}
    assert result["logged_in"] is True

    # days later: the access tokens have expired (made so at the server), the same program needs no login:
    # globus-sdk refreshes them with gladier's stored refresh tokens, and the flow id is gladier's stored one
    expired = expire_access_tokens(signin_server, catalog.GLADIER_CLIENT_ID)
    assert expired >= 2 and live_access_tokens(signin_server, catalog.GLADIER_CLIENT_ID) == []
    rerun = subprocess.run(
        [str(python), str(PROGRAM), "hello again"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, f"{rerun.stdout}\n{rerun.stderr[-3000:]}"
    assert "v2/oauth2/authorize" not in rerun.stdout
    again_result = result_of(rerun.stdout)
    assert again_result["flow_id"] == flow_id and again_result["run"]["run_owner"] == erin
    assert again_result["status"]["status"] == "SUCCEEDED", again_result["status"]
    renewed = live_access_tokens(signin_server, catalog.GLADIER_CLIENT_ID)
    assert renewed and set(renewed) == {"refresh"}, renewed  # refresh grants, not a new login

    # the flow changes: a second step at another provider; gladier updates the flow, the run needs the
    # person's consent to that provider's scope too (403 MISSING_SCOPE), and gladier asks for it
    shout = CommandLineLogin(
        [str(python), str(PROGRAM), "hello", "--shout"], env, tmp_path / "stderr-shout.txt", cwd=tmp_path
    )
    context = chromium_browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        url = shout.next_authorize_url(base)
        assert flow_scope in query_of(url)["scope"].split()
        consent = code_from_the_pages(context, url)  # a new browser: signs in again
        assert consent.signed_in and consent.scopes is not None
        assert EXPRESSION_EVAL_SCOPE in consent.scopes and HELLO_WORLD_SCOPE in consent.scopes
        shout.answer(consent.code)
        shouted = result_of(shout.finish())
    finally:
        context.close()
        shout.kill()
    assert shouted["flow_id"] == flow_id and shouted["run"]["run_owner"] == erin
    assert shouted["status"]["status"] == "SUCCEEDED", shouted["status"]
    assert shouted["status"]["details"]["output"]["Shout"]["details"] == {"result": "hello!"}

    # gladier's logout revokes the tokens it forgets, at OpenFlows. (gladier 0.10.0 on globus-sdk 3.x forgets
    # only those of the resource servers its app requires in that process; a fresh one requires only Auth.)
    held = gladier_stored_tokens(env_home)
    assert {"auth.globus.org", "flows.globus.org", flow_id} <= set(held)
    assert all(len(pair) == 2 for pair in held.values()), held  # refresh tokens too
    assert not any(revoked(signin_server, [token for pair in held.values() for token in pair]))
    logout = subprocess.run(
        [str(python), str(PROGRAM), "--logout"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert logout.returncode == 0, f"{logout.stdout}\n{logout.stderr[-3000:]}"
    assert result_of(logout.stdout) == {"logged_in": False}
    kept = gladier_stored_tokens(env_home)
    forgotten = [token for server, pair in held.items() if server not in kept for token in pair]
    assert "auth.globus.org" not in kept and forgotten
    assert all(revoked(signin_server, forgotten))
