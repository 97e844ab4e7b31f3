"""Helpers for the Auth server tests: a real server (`build_server`, uvicorn in a thread, a free port) with an
injected clock, people with identities, and helpers that get authorization codes by calling
`auth.authorization.approve` directly (the pages of the sign-in flow are tested elsewhere).

The clock starts at the real time, because globus-sdk checks ID tokens' `iat`/`exp` against the real clock;
tests move it forward to expire codes and tokens. Each test points globus-sdk at the server with
`GLOBUS_SDK_SERVICE_URL_AUTH` / `_GROUPS` (trailing slash included) and a throwaway HOME.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import globus_sdk

from openflows.auth import authorization
from openflows.auth.scope_strings import parse_scopes
from openflows.server import Server
from openflows.shared.clock import FakeClock
from openflows.store.identities import ensure_identity


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class AuthServer:
    server: Server
    base_url: str
    clock: FakeClock

    @property
    def db(self) -> Any:
        return self.server.db

    def person(self, username: str | None = None, *, email: str | None = None) -> uuid.UUID:
        """A new identity (as if signed in); its id."""
        name = username or f"person-{uuid.uuid4().hex[:8]}"

        def make(conn: Any) -> uuid.UUID:
            row = ensure_identity(
                conn, name, email=email or f"{name}@example.org", name=name.title(), now=self.clock.now()
            )
            return row.id

        return self.db.transact(make)

    def approve(
        self, authorize_url: str, identity_id: uuid.UUID, *, session_id: uuid.UUID | None = None
    ) -> str:
        """What the consent page's Allow does for an authorize URL built by globus-sdk: the code."""
        query = {key: values[-1] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        with self.db.read() as conn:
            request = authorization.check_request(conn, query, base_url=self.base_url)
        assert isinstance(request, authorization.AuthorizeRequest), request
        return self.db.transact(
            lambda conn: authorization.approve(
                conn,
                identity_id=identity_id,
                client_id=request.client_id,
                session_id=session_id,
                requested=request.requested,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                nonce=request.nonce,
                access_type=request.access_type,
                now=self.clock.now(),
            )
        )

    def approve_scopes(self, client_id: Any, identity_id: uuid.UUID, scope: str, **fields: Any) -> str:
        """A code for `scope`, without an authorize URL (confidential clients, no PKCE)."""
        return self.db.transact(
            lambda conn: authorization.approve(
                conn,
                identity_id=identity_id,
                client_id=uuid.UUID(str(client_id)),
                session_id=fields.get("session_id"),
                requested=parse_scopes(scope),
                redirect_uri=fields.get("redirect_uri", self.base_url + "v2/web/auth-code"),
                code_challenge=fields.get("code_challenge"),
                code_challenge_method=fields.get("code_challenge_method"),
                nonce=fields.get("nonce"),
                access_type=fields.get("access_type", "offline"),
                now=self.clock.now(),
            )
        )


def no_retries() -> Any:
    from globus_sdk.transport import RetryConfig

    return RetryConfig(max_retries=0)


def native(client_id: Any) -> globus_sdk.NativeAppAuthClient:
    return globus_sdk.NativeAppAuthClient(str(client_id), retry_config=no_retries())


def confidential(client_id: Any, secret: str) -> globus_sdk.ConfidentialAppAuthClient:
    return globus_sdk.ConfidentialAppAuthClient(str(client_id), secret, retry_config=no_retries())
