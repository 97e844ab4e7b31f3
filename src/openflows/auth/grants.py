"""The grants of `POST /v2/oauth2/token`, each a function `(conn, context, client, form) -> answer |
GrantError`.

Errors are returned, not raised, so that what a refusal must still write commits with it (a code presented a
second time revokes the tokens it was exchanged for). The client has already been authenticated by the caller
(`authenticate_client`): HTTP Basic or `client_id` + `client_secret` for confidential clients, `client_id`
alone for public ones.

- `authorization_code`: the code must be unused, unexpired, issued to this client for this exact redirect URI;
  when the authorization request carried a PKCE challenge, `code_verifier` must match it (S256). Public
  clients always have a challenge (`authorization.check_request` requires it); confidential clients such as
  the globus CLI's template instances send none. `access_type=offline` gives refresh tokens; `openid` an ID
  token.
- `refresh_token`: a refresh token of this client, neither revoked nor unused for too long; answers exactly
  one resource server and echoes the refresh token (see `auth.issuing`).
- `client_credentials`: tokens of the client's own identity for the requested (known) scopes.
- `urn:globus:auth:grant_type:dependent_token`: a resource server trades a user's token for one of its scopes
  for tokens of the dependent scopes the user consented to (all of them, or those named in `scope`); a JSON
  array, one document per resource server, refresh tokens with `access_type=offline`. A named scope without
  consent gives Globus Auth's `dependent_consent_required` error. Tokens obtained under the person's consents
  rest on those consents, not on the token presented: they outlive it (a run lasts longer than the access
  token that started it; `globus logout` must not stop it) and are revoked with the consent. Tokens obtained
  with a client's own token (no consent) are revoked with it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from ..store import auth_consents as consent_store
from ..store import auth_tokens as token_store
from . import catalog, clients, issuing, scope_registry
from .authorization import CODE_VERIFIER_RE
from .keys import SigningKeys
from .scope_strings import ScopeParseError, ScopeRequirement, parse_scopes
from .tokens import hash_token

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
DEPENDENT_TOKEN = "urn:globus:auth:grant_type:dependent_token"


@dataclasses.dataclass(frozen=True)
class GrantError:
    """A refused token request, in Globus Auth's terms (`error` is the OAuth error code)."""

    status: int
    error: str
    description: str
    #: the `detail` of the sub-error (globus-cli shows "please log in again" when it is "invalid_grant")
    detail: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: the refusal revoked tokens (a replayed code): caches of authenticated tokens must be dropped
    revoked: bool = False

    def document(self) -> dict[str, Any]:
        sub = {
            "status": str(self.status),
            "code": self.error.upper(),
            "detail": self.detail or self.description,
        }
        sub.update(self.extra)
        return {"error": self.error, "error_description": self.description, "errors": [sub]}


def invalid_grant(description: str) -> GrantError:
    return GrantError(401, "invalid_grant", description, detail="invalid_grant")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GrantContext:
    lifetimes: issuing.Lifetimes
    keys: SigningKeys
    #: the `iss` of ID tokens (the service's base URL)
    issuer: str
    now: dt.datetime


def authenticate_client(
    conn: sa.Connection, basic: tuple[str, str] | None, form: Mapping[str, str]
) -> Any | GrantError:
    """The client making a token request: Basic credentials, form credentials, or a public client's id."""
    credentials = basic or (
        (form["client_id"], form["client_secret"])
        if form.get("client_id") and form.get("client_secret")
        else None
    )
    if credentials is not None:
        client = clients.authenticate(conn, *credentials)
        if client is None:
            return GrantError(401, "invalid_client", "Unknown client or wrong secret.")
        return client
    client = clients.get_active(conn, form.get("client_id") or "")
    if client is None:
        return GrantError(401, "invalid_client", "The client must authenticate (HTTP Basic) or name itself.")
    if not client.public_client:
        return GrantError(401, "invalid_client", "A confidential client must authenticate with its secret.")
    return client


def group_by_server(conn: sa.Connection, roots: list[str]) -> dict[str, list[str]] | GrantError:
    """The scopes by the resource server that owns each (one token per resource server); an unknown scope is
    `invalid_scope`."""
    known = scope_registry.resolve(conn, roots)
    unknown = [text for text in roots if text not in known]
    if unknown:
        return GrantError(400, "invalid_scope", f"Unknown scope: {unknown[0]}")
    grouped: dict[str, list[str]] = {}
    for text in roots:
        grouped.setdefault(known[text].resource_server, []).append(text)
    return grouped


def _refreshable(conn: sa.Connection, grouped: Mapping[str, list[str]]) -> set[str]:
    """Resource servers all of whose requested scopes allow refresh tokens."""
    known = scope_registry.resolve(conn, [text for scopes in grouped.values() for text in scopes])
    return {
        server
        for server, scopes in grouped.items()
        if all(known[text].allows_refresh_token for text in scopes)
    }


def _id_token(
    conn: sa.Connection,
    context: GrantContext,
    issued: list[issuing.Issued],
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    session_id: uuid.UUID | None,
    nonce: str | None,
) -> str | None:
    auth = next((item for item in issued if item.resource_server == catalog.AUTH_RESOURCE_SERVER), None)
    if auth is None or catalog.OPENID not in auth.scopes:
        return None
    return issuing.id_token(
        conn,
        context.keys,
        issuer=context.issuer,
        identity_id=identity_id,
        client_id=client_id,
        scopes=auth.scopes,
        access_token=auth.access_token,
        session_id=session_id,
        nonce=nonce,
        lifetimes=context.lifetimes,
        now=context.now,
    )


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding equals the challenge."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return secrets.compare_digest(computed, challenge)


# --- authorization_code -----------------------------------------------------------------------------------


def authorization_code(
    conn: sa.Connection, context: GrantContext, client: Any, form: Mapping[str, str]
) -> dict[str, Any] | GrantError:
    now = context.now
    code_hash = hash_token(form.get("code") or "")
    code = token_store.get_code(conn, code_hash)
    if code is None or code.client_id != client.id:
        return invalid_grant("The authorization code is unknown.")
    if code.used_at is not None:
        return _replayed(conn, code, now=now)
    if (
        code.expires_at <= now or code.created_at + context.lifetimes.code <= now
    ):  # the setting may be shorter
        return invalid_grant("The authorization code has expired.")
    if form.get("redirect_uri") != code.redirect_uri:
        return invalid_grant("redirect_uri does not match the authorization request.")
    verifier = form.get("code_verifier")
    if code.code_challenge is not None:
        if (
            not verifier
            or not CODE_VERIFIER_RE.match(verifier)
            or not pkce_matches(verifier, code.code_challenge)
        ):
            return invalid_grant("code_verifier does not match the code_challenge.")
    elif client.public_client:
        return invalid_grant("A public client must use PKCE.")
    if not token_store.claim_code(conn, code_hash, now=now):  # a concurrent exchange won
        return _replayed(conn, code, now=now)
    requested = parse_scopes(code.scope)
    roots = [tree.scope_string for tree in requested]
    grouped = group_by_server(conn, roots)
    if isinstance(grouped, GrantError):
        return grouped
    refresh = _refreshable(conn, grouped) if code.access_type == "offline" else set()
    consent_ids = _consents_by_server(conn, list(code.consent_ids or []))
    issued = issuing.issue(
        conn,
        identity_id=code.identity_id,
        client_id=client.id,
        by_server=grouped,
        refresh_servers=refresh,
        lifetimes=context.lifetimes,
        now=now,
        session_id=code.session_id,
        consent_ids=consent_ids,
    )
    token_store.set_code_tokens(conn, code_hash, [token_id for item in issued for token_id in item.token_ids])
    consent_store.touch_consents(conn, code.consent_ids or [], now=now, approved=False)
    id_token = _id_token(
        conn,
        context,
        issued,
        identity_id=code.identity_id,
        client_id=client.id,
        session_id=code.session_id,
        nonce=code.nonce,
    )
    return issuing.token_response(issued, id_token=id_token)


def _replayed(conn: sa.Connection, code: Any, *, now: dt.datetime) -> GrantError:
    """A code presented again: whoever holds it may be an attacker, so what it gave is revoked."""
    code = token_store.get_code(conn, code.code_hash) or code  # read again: a concurrent exchange committed
    issued = [uuid.UUID(text) for text in code.issued_token_ids or []]
    token_store.revoke_cascade(conn, issued, now=now)
    refusal = invalid_grant("The authorization code was already used; the tokens it gave are revoked.")
    return dataclasses.replace(refusal, revoked=True)


def _consents_by_server(conn: sa.Connection, consent_ids: list[int]) -> dict[str, list[int]]:
    rows = consent_store.get_consents(conn, consent_ids)
    known = scope_registry.resolve(conn, [row.scope_string for row in rows])
    grouped: dict[str, list[int]] = {}
    for row in rows:
        if row.scope_string in known:
            grouped.setdefault(known[row.scope_string].resource_server, []).append(int(row.id))
    return grouped


# --- refresh_token ----------------------------------------------------------------------------------------


def refresh_token(
    conn: sa.Connection, context: GrantContext, client: Any, form: Mapping[str, str]
) -> dict[str, Any] | GrantError:
    now = context.now
    presented = form.get("refresh_token") or ""
    row = issuing.find(conn, presented)
    if row is None or row.kind != issuing.REFRESH or row.client_id != client.id:
        return invalid_grant("The refresh token is unknown.")
    if not issuing.is_active(row, lifetimes=context.lifetimes, now=now):
        return invalid_grant("The refresh token was revoked or has expired.")
    token_store.touch(conn, row.id, now=now)
    [issued] = issuing.issue(
        conn,
        identity_id=row.identity_id,
        client_id=client.id,
        by_server={row.resource_server: list(row.scopes)},
        lifetimes=context.lifetimes,
        now=now,
        parent_id=row.id,
        session_id=row.session_id,
        consent_ids={row.resource_server: list(row.consent_ids or [])},
    )
    issued = dataclasses.replace(issued, refresh_token=presented)
    id_token = _id_token(
        conn,
        context,
        [issued],
        identity_id=row.identity_id,
        client_id=client.id,
        session_id=row.session_id,
        nonce=None,
    )
    return issuing.token_response([issued], id_token=id_token)


# --- client_credentials -----------------------------------------------------------------------------------


def client_credentials(
    conn: sa.Connection, context: GrantContext, client: Any, form: Mapping[str, str]
) -> dict[str, Any] | GrantError:
    if client.public_client:
        return GrantError(400, "unauthorized_client", "A public client cannot use client credentials.")
    try:
        roots = [tree.scope_string for tree in parse_scopes(form.get("scope") or "")]
    except ScopeParseError as exc:
        return GrantError(400, "invalid_scope", f"The scope string is not valid: {exc}")
    if not roots:
        return GrantError(400, "invalid_scope", "No scope requested.")
    grouped = group_by_server(conn, roots)
    if isinstance(grouped, GrantError):
        return grouped
    issued = issuing.issue(
        conn,
        identity_id=client.identity_id,
        client_id=client.id,
        by_server=grouped,
        lifetimes=context.lifetimes,
        now=context.now,
        description=f"oauth client {client.id}",
    )
    return issuing.token_response(issued)


# --- dependent_token --------------------------------------------------------------------------------------


def dependent_token(
    conn: sa.Connection, context: GrantContext, client: Any, form: Mapping[str, str]
) -> list[dict[str, Any]] | GrantError:
    now = context.now
    if client.public_client:
        return GrantError(400, "unauthorized_client", "A public client cannot get dependent tokens.")
    row = issuing.find(conn, form.get("token") or "")
    if (
        row is None
        or row.kind != issuing.ACCESS
        or not issuing.is_active(row, lifetimes=context.lifetimes, now=now)
    ):
        return invalid_grant("The token is not active.")
    if not _owned_by(conn, row, client.id):
        return GrantError(
            403, "unauthorized_client", "The token was not issued for a scope of this client.", detail=None
        )
    available = available_dependents(conn, row, client.id)
    try:
        wanted = [tree.scope_string for tree in parse_scopes(form.get("scope") or "")]
    except ScopeParseError as exc:
        return GrantError(400, "invalid_scope", f"The scope string is not valid: {exc}")
    if wanted:
        missing = [text for text in wanted if text not in available]
        if missing:
            return _consent_required(missing)
        available = {text: available[text] for text in wanted}
    grouped = group_by_server(conn, list(available))
    if isinstance(grouped, GrantError):
        return grouped
    refresh = _refreshable(conn, grouped) if form.get("access_type") == "offline" else set()
    consents = {
        server: [consent_id for text in scopes for consent_id in available[text]]
        for server, scopes in grouped.items()
    }
    issued = issuing.issue(
        conn,
        identity_id=row.identity_id,
        client_id=client.id,
        by_server=grouped,
        refresh_servers=refresh,
        lifetimes=context.lifetimes,
        now=now,
        parent_id=None if row.consent_ids else row.id,  # consent-based tokens hang off the consent
        session_id=row.session_id,
        consent_ids={server: ids for server, ids in consents.items() if ids},
    )
    return [item.document() for item in issued]


def _owned_by(conn: sa.Connection, row: Any, client_id: uuid.UUID) -> bool:
    """Whether every scope of the token belongs to the client (it is that client's resource server)."""
    known = scope_registry.resolve(conn, row.scopes)
    return bool(row.scopes) and all(text in known and known[text].owner == client_id for text in row.scopes)


def available_dependents(conn: sa.Connection, row: Any, client_id: uuid.UUID) -> dict[str, list[int]]:
    """Dependent scope string -> the consents (of `client_id`) that allow it. A token resting on consents
    offers what the person consented to under its scopes; one without (client credentials) offers the
    registered dependent scopes of its scopes, which a client consents to by asking."""
    if row.consent_ids:
        nodes = consent_store.list_consents(conn, row.identity_id)
        roots = {int(consent_id) for consent_id in row.consent_ids}
        found: dict[str, list[int]] = {}
        for node in nodes:
            if node.parent_id in roots and node.client_id == client_id and node.status == "approved":
                found.setdefault(node.scope_string, []).append(int(node.id))
        return found
    expanded: list[ScopeRequirement] = [
        scope_registry.expand(conn, ScopeRequirement(text)) for text in row.scopes
    ]
    return {dep.scope_string: [] for tree in expanded for dep in tree.dependencies}


def _consent_required(missing: list[str]) -> GrantError:
    """Globus Auth's answer when a named dependent scope was not consented to (globus-sdk turns it into a GARE
    with `required_scopes`)."""
    return GrantError(
        403,
        "dependent_consent_required",
        "User must approve your client using scopes. See 'unapproved_scopes'.",
        detail=f"User hasn't approved the following scopes: {' '.join(missing)}",
        extra={"id": str(uuid.uuid4()), "title": "Dependent consent required", "unapproved_scopes": missing},
    )


GRANTS: dict[str, Callable[..., Any]] = {
    AUTHORIZATION_CODE: authorization_code,
    REFRESH_TOKEN: refresh_token,
    CLIENT_CREDENTIALS: client_credentials,
    DEPENDENT_TOKEN: dependent_token,
}
