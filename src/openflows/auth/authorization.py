"""What the authorize endpoint and the consent page need (no HTTP here): check a request, describe what it
asks for, tell whether the person already consented, and — when they allow it — record the consents and make
the authorization code the token endpoint exchanges.

- `check_request(conn, params)`: the client exists, the redirect URI is one of its own (exactly; native
  clients: any loopback port), `response_type=code`, the scope string parses and names only scopes that exist,
  PKCE is S256 and present for public clients, the `session_required_*` and `access_type` parameters are
  well-formed. Errors about the client or the redirect URI must be shown to the person (never redirected: the
  URI is not trusted); the others may be sent to the redirect URI (`AuthorizeError.redirect_url()`).
- `describe(conn, requested)`: names and descriptions of the requested scopes and the dependent scopes consent
  to them includes (registered ones too), as a tree.
- `already_consented(...)`: the person's consents already cover the request (dependent scopes included).
- `approve(...)`: record the consents (the requested trees with every registered dependent scope, recursively)
  and return a new single-use authorization code, valid for `lifetime` (10 minutes by default).
- `revoke_consent(...)`: a person takes a consent back: it and every consent below it are deleted, and every
  token resting on one of them is revoked (the app's tokens and the dependent tokens a run holds alike).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from ..settings import parse_bool
from ..store import auth_consents as consent_store
from ..store import auth_tokens as token_store
from . import clients, scope_registry
from .consents import ConsentNode, covers_all, plan_consents, subtree
from .scope_strings import ScopeParseError, ScopeRequirement, format_scopes, parse_scopes
from .tokens import hash_token

#: default lifetime of an authorization code
CODE_LIFETIME = dt.timedelta(minutes=10)
#: PKCE (RFC 7636): S256 challenges are 43 base64url characters; verifiers 43-128 unreserved characters
CODE_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
CODE_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
#: longest `state` and `nonce` accepted
MAX_STATE_LENGTH = 2048  # characters
MAX_NONCE_LENGTH = 256  # characters
ACCESS_TYPES = frozenset({"online", "offline"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthorizeRequest:
    """A valid authorization request."""

    client_id: uuid.UUID
    client_name: str
    public_client: bool
    redirect_uri: str
    requested: tuple[ScopeRequirement, ...]
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    access_type: str = "online"
    prompt: str | None = None
    session_required_identities: tuple[str, ...] = ()
    session_required_single_domain: tuple[str, ...] = ()
    session_required_policies: tuple[str, ...] = ()
    session_required_mfa: bool | None = None
    session_message: str | None = None
    prefill_named_grant: str | None = None

    @property
    def scope(self) -> str:
        """The requested scope string, in canonical form."""
        return format_scopes(self.requested)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthorizeError:
    """A refused authorization request. `redirect_uri` is set when the error may be sent there."""

    error: str
    description: str
    redirect_uri: str | None = None
    state: str | None = None

    @property
    def redirectable(self) -> bool:
        return self.redirect_uri is not None

    def redirect_url(self) -> str:
        """`redirect_uri?error=...&error_description=...&state=...` (only when `redirectable`)."""
        assert self.redirect_uri is not None
        query = {"error": self.error, "error_description": self.description}
        if self.state is not None:
            query["state"] = self.state
        return add_query(self.redirect_uri, query)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScopeDescription:
    """One scope of a request, for the consent page."""

    scope_string: str
    name: str
    description: str
    resource_server: str
    optional: bool = False
    dependencies: tuple[ScopeDescription, ...] = ()


def add_query(uri: str, params: Mapping[str, str]) -> str:
    """`uri` with `params` added to its query string."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def check_request(
    conn: sa.Connection, params: Mapping[str, str], *, base_url: str | None = None
) -> AuthorizeRequest | AuthorizeError:
    """Validate the query of `GET /v2/oauth2/authorize` (see the module docstring). `base_url` (the service's
    public URL) lets built-in clients use `<base>v2/web/auth-code` when the configured URL differs."""
    client = clients.get_active(conn, params.get("client_id") or "")
    if client is None:
        return AuthorizeError(error="invalid_request", description="Unknown client_id.")
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri:
        return AuthorizeError(error="invalid_request", description="redirect_uri is required.")
    if not clients.redirect_uri_allowed(conn, client, redirect_uri, base_url=base_url):
        return AuthorizeError(
            error="invalid_request", description="redirect_uri is not registered for this client."
        )
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        return AuthorizeError(error="invalid_request", description="state is too long.")

    def refuse(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error=error, description=description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") != "code":
        return refuse("unsupported_response_type", "response_type must be code.")
    try:
        requested = parse_scopes(params.get("scope") or "")
    except ScopeParseError as exc:
        return refuse("invalid_scope", f"The scope string is not valid: {exc}")
    if not requested:
        return refuse("invalid_scope", "scope is required.")
    strings = scope_registry.scope_strings_in(requested)
    known = scope_registry.resolve(conn, strings)
    unknown = [text for text in strings if text not in known]
    if unknown:
        return refuse("invalid_scope", f"Unknown scope: {unknown[0]}")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if challenge is not None:
        if method != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256.")
        if not CODE_CHALLENGE_RE.match(challenge):
            return refuse("invalid_request", "code_challenge is not a base64url SHA-256 digest.")
    elif method is not None:
        return refuse("invalid_request", "code_challenge_method without code_challenge.")
    elif client.public_client:
        return refuse("invalid_request", "A public client must use PKCE (code_challenge, S256).")
    access_type = params.get("access_type") or "online"
    if access_type not in ACCESS_TYPES:
        return refuse("invalid_request", "access_type must be online or offline.")
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        return refuse("invalid_request", "nonce is too long.")
    mfa_text = params.get("session_required_mfa")
    try:
        mfa = parse_bool(mfa_text, name="session_required_mfa") if mfa_text else None
    except ValueError as exc:
        return refuse("invalid_request", str(exc))
    return AuthorizeRequest(
        client_id=client.id,
        client_name=client.name or client.description or str(client.id),
        public_client=bool(client.public_client),
        redirect_uri=redirect_uri,
        requested=requested,
        state=state,
        code_challenge=challenge,
        code_challenge_method=method,
        nonce=nonce,
        access_type=access_type,
        prompt=params.get("prompt") or None,
        session_required_identities=_list(params.get("session_required_identities")),
        session_required_single_domain=_list(params.get("session_required_single_domain")),
        session_required_policies=_list(params.get("session_required_policies")),
        session_required_mfa=mfa,
        session_message=params.get("session_message") or None,
        prefill_named_grant=params.get("prefill_named_grant") or None,
    )


def describe(conn: sa.Connection, requested: Sequence[ScopeRequirement]) -> list[ScopeDescription]:
    """The requested scopes with every dependent scope consent includes, for the consent page."""
    expanded = [scope_registry.expand(conn, tree) for tree in requested]
    known = scope_registry.resolve(conn, scope_registry.scope_strings_in(expanded))

    def build(node: ScopeRequirement) -> ScopeDescription:
        info = known.get(node.scope_string)
        return ScopeDescription(
            scope_string=node.scope_string,
            name=info.name if info else node.scope_string,
            description=info.description if info else "",
            resource_server=info.resource_server if info else "",
            optional=node.optional,
            dependencies=tuple(build(dep) for dep in node.dependencies),
        )

    return [build(tree) for tree in expanded]


def consent_nodes(conn: sa.Connection, identity_id: uuid.UUID) -> list[ConsentNode]:
    """The person's consent forest, for `auth.consents`."""
    return [
        ConsentNode(row.id, row.client_id, row.scope_string, row.parent_id)
        for row in consent_store.list_consents(conn, identity_id)
        if row.status == "approved"
    ]


def already_consented(
    conn: sa.Connection, identity_id: uuid.UUID, client_id: uuid.UUID, requested: Sequence[ScopeRequirement]
) -> bool:
    """Whether the person's consents cover the request for this client, dependent scopes included."""
    expanded = [scope_registry.expand(conn, tree) for tree in requested]
    return covers_all(consent_nodes(conn, identity_id), client_id, expanded)


def record_consents(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    requested: Sequence[ScopeRequirement],
    now: dt.datetime,
) -> list[int]:
    """Record the consents approving `requested` (expanded); return the ids of the root consents."""
    expanded = [scope_registry.expand(conn, tree) for tree in requested]
    known = scope_registry.resolve(conn, scope_registry.scope_strings_in(expanded))
    missing = [text for text in scope_registry.scope_strings_in(expanded) if text not in known]
    if missing:
        raise ValueError(f"unknown scope {missing[0]!r}")
    scope_registry.ensure_stored(conn, known.values(), now=now)

    def owner_of(text: str) -> uuid.UUID | None:
        return known[text].owner

    roots: list[int] = []
    for tree in expanded:
        rows: dict[tuple[str, ...], Any] = {}
        for planned in plan_consents(tree, client_id, owner_of):
            parent = rows.get(planned.path[:-1]) if len(planned.path) > 1 else None
            if len(planned.path) > 1 and parent is None:
                continue  # the parent could not be recorded
            scope_id = known[planned.scope_string].id
            keys = {"identity_id": identity_id, "client_id": planned.client_id, "scope_id": scope_id}
            row = consent_store.find_consent(
                conn, **keys, parent_id=parent.id if parent is not None else None
            )
            if row is None:
                allows_refresh = known[planned.scope_string].allows_refresh_token
                consent_store.insert_consent(
                    conn, **keys, parent=parent, allows_refresh=allows_refresh, now=now
                )
                row = consent_store.find_consent(
                    conn, **keys, parent_id=parent.id if parent is not None else None
                )
            else:
                consent_store.touch_consents(conn, [row.id], now=now, approved=True)
            rows[planned.path] = row
        roots.append(int(rows[(tree.scope_string,)].id))
    return roots


def approve(
    conn: sa.Connection,
    *,
    identity_id: uuid.UUID,
    client_id: uuid.UUID,
    session_id: uuid.UUID | None,
    requested: Sequence[ScopeRequirement],
    redirect_uri: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    nonce: str | None,
    access_type: str | None,
    now: dt.datetime,
    lifetime: dt.timedelta = CODE_LIFETIME,
) -> str:
    """Record the person's consents and return a new authorization code (only its hash is stored)."""
    client = clients.get_active(conn, client_id)
    if client is None:
        raise ValueError("unknown client")
    consent_ids = record_consents(
        conn, identity_id=identity_id, client_id=client.id, requested=requested, now=now
    )
    code = secrets.token_urlsafe(32)
    token_store.insert_code(
        conn,
        code_hash=hash_token(code),
        client_id=client.id,
        identity_id=identity_id,
        session_id=session_id,
        redirect_uri=redirect_uri,
        scope=format_scopes(requested),
        consent_ids=consent_ids,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        nonce=nonce,
        access_type=access_type or "online",
        created_at=now,
        expires_at=now + lifetime,
    )
    return code


@dataclasses.dataclass(frozen=True)
class RevokedConsent:
    """What `revoke_consent` removed."""

    consent_ids: tuple[int, ...]
    tokens_revoked: int


def revoke_consent(
    conn: sa.Connection, *, identity_id: uuid.UUID, consent_id: int, now: dt.datetime
) -> RevokedConsent | None:
    """Take back a consent of the person: delete it and every consent below it, and revoke the tokens that
    rest on any of them (transitively: what was issued from those tokens too). None if the person has no such
    consent."""
    rows = consent_store.list_consents(conn, identity_id)
    if all(int(row.id) != consent_id for row in rows):
        return None
    nodes = [ConsentNode(int(row.id), row.client_id, row.scope_string, row.parent_id) for row in rows]
    doomed = set(subtree(nodes, consent_id))
    consent_store.delete_consents(conn, doomed)
    resting = [
        token_id
        for token_id, consent_ids in token_store.active_tokens_on_consents(conn, identity_id)
        if doomed.intersection(consent_ids)
    ]
    revoked = token_store.revoke_cascade(conn, resting, now=now)
    return RevokedConsent(tuple(sorted(doomed)), revoked)
