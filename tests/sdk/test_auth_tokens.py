"""The Auth token endpoints with this virtualenv's globus-sdk (4.x here, 3.66 under `make test`'s second run):
the native app's authorization-code grant with PKCE and refresh tokens, the ID token, refresh, the validate
call globus-cli makes before each command (a 3.x method), revocation, and client credentials.

The code comes from `openflows.auth.authorization.approve`, run by the project's own Python (the interpreter
next to the `openflows` executable under test), as the consent page's Allow button would.
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t
import warnings
from pathlib import Path

import globus_sdk
import pytest

from .support import ALL_SCOPE, IS_SDK3, Server

GLADIER_CLIENT_ID = "f1631610-d9e4-4db2-81ba-7f93ad4414e3"

_APPROVE = """
import json, sys, uuid
from urllib.parse import parse_qs, urlsplit
from openflows.auth import authorization
from openflows.auth.tokens import utcnow
from openflows.store.db import Database
url, username = sys.argv[1], sys.argv[2]
db = Database(sys.argv[3])
query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
with db.read() as conn:
    request = authorization.check_request(conn, query)
assert isinstance(request, authorization.AuthorizeRequest), request
def approve(conn):
    from openflows.store.identities import get_identity_by_username
    identity = get_identity_by_username(conn, username)
    return authorization.approve(conn, identity_id=identity.id, client_id=request.client_id, session_id=None,
        requested=request.requested, redirect_uri=request.redirect_uri, code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method, nonce=request.nonce,
        access_type=request.access_type, now=utcnow())
print(json.dumps(db.transact(approve)))
"""


@pytest.fixture
def auth_env(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Server:
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_AUTH", server.base_url)
    monkeypatch.setenv("HOME", str(tmp_path))
    return server


def approve(server: Server, url: str, username: str) -> str:
    python = Path(server.bin_path).parent / "python"
    done = subprocess.run(
        [str(python), "-c", _APPROVE, url, username, server.env["OPENFLOWS_DATABASE_URL"]],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return t.cast(str, json.loads(done.stdout.strip().splitlines()[-1]))


def validate(client: t.Any, token: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in globus-sdk 3, still what globus-cli calls
        return bool(client.oauth2_validate_token(token)["active"])


def test_native_app_login_refresh_validate_and_revoke(auth_env: Server) -> None:
    person = auth_env.create_identity(f"auth-{os.getpid()}@example.org")
    client = globus_sdk.NativeAppAuthClient(GLADIER_CLIENT_ID)
    client.oauth2_start_flow(requested_scopes=["openid", "profile", ALL_SCOPE], refresh_tokens=True)
    url = client.oauth2_get_authorize_url()
    assert "code_challenge_method=S256" in url and url.startswith(auth_env.base_url + "v2/oauth2/authorize")
    tokens = client.oauth2_exchange_code_for_tokens(approve(auth_env, url, person.username))

    assert set(tokens.by_resource_server) == {"auth.globus.org", "flows.globus.org"}
    assert tokens["resource_server"] == "auth.globus.org" and tokens["other_tokens"]
    assert tokens.decode_id_token()["sub"] == person.identity_id
    flows_data = tokens.by_resource_server["flows.globus.org"]
    assert flows_data["scope"] == ALL_SCOPE and flows_data["refresh_token"]

    authorizer = globus_sdk.RefreshTokenAuthorizer(flows_data["refresh_token"], client)  # refreshes at once
    assert authorizer.access_token and authorizer.access_token != flows_data["access_token"]
    flows = globus_sdk.FlowsClient(base_url=auth_env.base_url, authorizer=authorizer)
    assert isinstance(list(flows.list_flows()), list)

    auth = globus_sdk.AuthClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(
            tokens.by_resource_server["auth.globus.org"]["access_token"]
        )
    )
    assert auth.userinfo()["sub"] == person.identity_id
    if IS_SDK3:  # the call globus-cli makes before every command (removed from globus-sdk 4)
        assert validate(client, flows_data["refresh_token"]) is True

    client.oauth2_revoke_token(flows_data["refresh_token"])
    with pytest.raises(globus_sdk.GlobusAPIError) as caught:
        list(flows.list_flows())
    assert caught.value.http_status == 401
    with pytest.raises(globus_sdk.AuthAPIError) as refused:
        client.oauth2_refresh_token(flows_data["refresh_token"])
    assert refused.value.http_status == 401
    if IS_SDK3:
        assert validate(client, flows_data["refresh_token"]) is False
