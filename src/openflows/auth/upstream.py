"""Sign-in through the site's upstream OpenID Connect provider (Keycloak, CILogon, Google, Globus Auth...),
with Authlib as the OIDC client: discovery, authorization code with PKCE (S256), `state` and `nonce`, and the
ID token's signature and claims (`iss`, `aud`, `exp`, `iat`, `nonce`, `azp`, `at_hash`) verified against the
provider's JWKS. No JOSE is written here.

`UpstreamProvider.begin` returns the URL to send the browser to and the secrets the callback needs
(`PendingLogin`, kept by the caller in a short-lived HttpOnly cookie); `finish` checks the callback and
returns the person (`UpstreamPerson`). Both make network calls: never call them inside a database
transaction. `link_identity` then maps (issuer, sub) to an OpenFlows identity, for good: the identity URN is
the same at every sign-in and after restarts (`identity_links`).

Usernames: the configured claim (`preferred_username` by default), else `email`, else `sub`. An upstream
person never takes over an existing identity whose username happens to be the same (a local account, the
local administrator, another provider's person): the new identity gets `<name>@<issuer host>`, then a
numbered variant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from authlib.integrations.base_client import BaseApp, FrameworkIntegration, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

from ..store import auth_accounts as store
from ..store.identities import get_identity

#: timeout of each call to the upstream provider
HTTP_TIMEOUT = 10.0  # seconds
#: how long discovery metadata and the JWKS are reused before being fetched again
METADATA_TTL = 3600.0  # seconds
#: clock skew tolerated on the ID token's `exp`/`iat`
ID_TOKEN_LEEWAY = 120  # seconds
#: how many numbered usernames are tried when a name is taken
MAX_USERNAME_TRIES = 100


class UpstreamError(Exception):
    """The upstream sign-in failed; `code` is for programs, the message (no secrets) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    issuer: str
    client_id: str
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"

    @classmethod
    def from_settings(cls, settings: Any) -> UpstreamConfig | None:
        """The configuration in `settings`, or None when no upstream provider is configured."""
        if not settings.oidc_issuer and not settings.oidc_client_id:
            return None
        if not settings.oidc_issuer or not settings.oidc_client_id:
            from ..settings import SettingsError

            raise SettingsError("OPENFLOWS_OIDC_ISSUER and OPENFLOWS_OIDC_CLIENT_ID must be set together")
        scopes = (
            settings.oidc_scopes
            if "openid" in settings.oidc_scopes.split()
            else f"openid {settings.oidc_scopes}"
        )
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret or None,
            scopes=scopes,
            username_claim=settings.oidc_username_claim,
        )

    @property
    def display_name(self) -> str:
        return urlsplit(self.issuer).hostname or self.issuer


@dataclasses.dataclass(frozen=True)
class PendingLogin:
    """What `begin` hands to the callback: never shown to anyone but the browser that started it."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclasses.dataclass(frozen=True)
class UpstreamPerson:
    issuer: str
    subject: str
    username: str
    name: str | None
    email: str | None


class _App(OAuth2Mixin, OpenIDMixin, BaseApp):
    """Authlib's framework-neutral OpenID Connect client on a `requests` session."""

    client_cls = OAuth2Session


class UpstreamProvider:
    """The configured upstream provider. Thread-safe; metadata and keys are cached for `metadata_ttl`."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        metadata_ttl: float = METADATA_TTL,
        monotonic: Callable[[], float] = time.monotonic,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """`metadata` (the discovery document, with the key set under `jwks`) replaces discovery: for tests
        of the ID-token checks, which need no network."""
        self.config = config
        self._fixed_metadata = dict(metadata) if metadata is not None else None
        self.metadata_ttl = metadata_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._app: _App | None = None
        self._app_made_at = 0.0

    def _client(self) -> _App:
        with self._lock:
            if self._app is None or self._monotonic() - self._app_made_at > self.metadata_ttl:
                discovery = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                self._app = _App(
                    FrameworkIntegration("openflows-upstream"),
                    client_id=self.config.client_id,
                    client_secret=self.config.client_secret,
                    server_metadata_url=None if self._fixed_metadata is not None else discovery,
                    **(self._fixed_metadata or {}),
                    client_kwargs={
                        "scope": self.config.scopes,
                        "code_challenge_method": "S256",
                        "default_timeout": HTTP_TIMEOUT,
                        # a public client (no secret) sends its id in the form; else HTTP Basic
                        "token_endpoint_auth_method": (
                            "client_secret_basic" if self.config.client_secret else "none"
                        ),
                    },
                )
                self._app_made_at = self._monotonic()
            return self._app

    def _metadata(self, app: _App) -> Mapping[str, Any]:
        try:
            metadata = app.load_server_metadata()
        except Exception as exc:  # network, HTTP status, not JSON
            self._forget()
            raise UpstreamError(
                "UPSTREAM_UNREACHABLE", f"The identity provider {self.config.display_name} cannot be reached"
            ) from exc
        if str(metadata.get("issuer", "")).rstrip("/") != self.config.issuer.rstrip("/"):
            self._forget()
            raise UpstreamError(
                "UPSTREAM_MISCONFIGURED",
                "The identity provider's discovery document names another issuer than OPENFLOWS_OIDC_ISSUER",
            )
        return metadata

    def _forget(self) -> None:
        with self._lock:
            self._app = None

    def begin(self, redirect_uri: str) -> PendingLogin:
        """The authorization URL (with PKCE S256, state and nonce) for a browser to visit."""
        app = self._client()
        self._metadata(app)
        created = app.create_authorization_url(redirect_uri=redirect_uri)
        return PendingLogin(
            url=created["url"],
            state=created["state"],
            nonce=created["nonce"],
            code_verifier=created["code_verifier"],
        )

    def finish(
        self, params: Mapping[str, str], pending: PendingLogin | None, *, redirect_uri: str
    ) -> UpstreamPerson:
        """Check the callback's `state`, exchange the code (with the PKCE verifier), verify the ID token."""
        if pending is None:
            raise UpstreamError(
                "NO_PENDING_SIGN_IN", "This sign-in was not started here, or it took too long"
            )
        if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
            raise UpstreamError(
                "STATE_MISMATCH", "The identity provider's answer does not match this sign-in"
            )
        if params.get("error"):
            raise UpstreamError(
                "UPSTREAM_REFUSED", f"The identity provider refused the sign-in ({params['error'][:64]})"
            )
        code = params.get("code", "")
        if not code:
            raise UpstreamError("NO_CODE", "The identity provider sent no authorization code")
        app = self._client()
        self._metadata(app)
        try:
            token = app.fetch_access_token(
                redirect_uri=redirect_uri, code=code, code_verifier=pending.code_verifier
            )
        except Exception as exc:
            raise UpstreamError(
                "TOKEN_EXCHANGE_FAILED", "The identity provider did not accept the code"
            ) from exc
        return self.verify(token, nonce=pending.nonce)

    def verify(self, token: Mapping[str, Any], *, nonce: str) -> UpstreamPerson:
        """The person named by the token response's ID token, once its signature (the provider's JWKS) and
        claims (issuer, audience = our client id, expiry, issue time, nonce, azp, at_hash) are checked."""
        if "id_token" not in token:
            raise UpstreamError("NO_ID_TOKEN", "The identity provider sent no ID token")
        app = self._client()
        metadata = self._metadata(app)
        options = {
            "iss": {"essential": True, "values": [metadata["issuer"]]},
            "aud": {"essential": True, "values": [self.config.client_id]},
            "sub": {"essential": True},
        }
        try:
            claims = app.parse_id_token(
                dict(token), nonce=nonce, claims_options=options, leeway=ID_TOKEN_LEEWAY
            )
        except Exception as exc:  # a bad signature, an unknown key, a wrong nonce, audience, issuer or time
            raise UpstreamError(
                "INVALID_ID_TOKEN", f"The identity provider's ID token is not valid ({type(exc).__name__})"
            ) from exc
        return self.person(claims)

    def person(self, claims: Mapping[str, Any]) -> UpstreamPerson:
        subject = str(claims["sub"])
        username = ""
        for claim in (self.config.username_claim, "email"):
            value = claims.get(claim)
            if isinstance(value, str) and value.strip():
                username = value.strip()
                break
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        return UpstreamPerson(
            issuer=self.config.issuer.rstrip("/"),
            subject=subject,
            username=username or f"{subject}@{self.config.display_name}",
            name=name,
            email=email,
        )


def _candidates(person: UpstreamPerson) -> list[str]:
    base = person.username[:200]
    host = urlsplit(person.issuer).hostname or "upstream"
    qualified = base if base.endswith("@" + host) else f"{base}@{host}"
    names = [base, qualified]
    names += [f"{qualified}#{n}" for n in range(2, MAX_USERNAME_TRIES)]
    return list(dict.fromkeys(names))


def link_identity(conn: sa.Connection, person: UpstreamPerson, *, now: dt.datetime) -> Any:
    """The identity row of the upstream person: the linked one (name and email refreshed), else a new one."""
    link = store.get_identity_link(conn, person.issuer, person.subject)
    if link is not None:
        store.touch_identity_link(conn, person.issuer, person.subject, now=now)
        store.update_identity_profile(conn, link.identity_id, name=person.name, email=person.email)
        return get_identity(conn, link.identity_id)
    for username in _candidates(person):
        identity = store.insert_identity(
            conn, username=username, name=person.name, email=person.email, now=now
        )
        if identity is not None:
            store.insert_identity_link(
                conn, issuer=person.issuer, subject=person.subject, identity_id=identity.id, now=now
            )
            return identity
    raise UpstreamError("USERNAME_UNAVAILABLE", f"No free username for {person.username!r}")
