"""OAuth clients: registration (the developer API's confidential and native clients, native-app instances of a
template, the legacy `openflows clients create`), credentials, authentication and redirect-URI matching.

- A client registered through the developer API or as an instance is also an identity with the same id,
  `<id>@clients.auth.globus.org` (what the client-credentials grant acts as). A legacy client (`openflows
  clients create --username NAME`) acts as the identity it was made for.
- Secrets are random (256 bits) and stored only as sha256 hashes; several credentials per client may exist.
- Redirect URIs match exactly. A public (native) client, and an instance of a public template such as the
  globus CLI's, may also use a loopback URI on any port (`http://localhost:PORT/...`,
  `http://127.0.0.1:PORT`), as Globus Auth allows; built-in clients and their instances may use
  `<base>v2/web/auth-code`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..store import auth_clients as store
from ..store.identities import ensure_client_identity
from . import catalog
from .tokens import hash_token

PUBLIC_CLIENT_TYPE = "public_installed_client"
CONFIDENTIAL_DEFAULT_TYPE = "hybrid_confidential_client_resource_server"
CLIENT_TYPES = frozenset(
    {
        "client_identity",
        "confidential_client",
        "globus_connect_server",
        PUBLIC_CLIENT_TYPE,
        CONFIDENTIAL_DEFAULT_TYPE,
        "resource_server",
    }
)
PUBLIC_GRANT_TYPES = ["authorization_code", "refresh_token"]
CONFIDENTIAL_GRANT_TYPES = [
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:globus:auth:grant_type:dependent_token",
]
#: the credential created with a native-app instance (its name in Globus Auth's answer)
INSTANCE_CREDENTIAL_NAME = "Auto-created at client creation"
_LOOPBACK_HOSTS = frozenset({"localhost"})


class ClientError(ValueError):
    """A registration request that cannot be honoured; `code` is Globus Auth's error code."""

    def __init__(self, message: str, *, code: str = "INVALID_PARAMETERS", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def generate_secret() -> str:
    """A new client secret (256 random bits)."""
    return secrets.token_urlsafe(32)


def _add_credential(conn: sa.Connection, client_id: uuid.UUID, name: str, now: dt.datetime) -> dict[str, Any]:
    secret = generate_secret()
    credential_id = uuid.uuid4()
    store.insert_credential(
        conn,
        credential_id=credential_id,
        client_id=client_id,
        name=name,
        secret_hash=hash_token(secret),
        now=now,
    )
    return {
        "id": str(credential_id),
        "name": name,
        "client": str(client_id),
        "created": now.isoformat(timespec="microseconds"),
        "secret": secret,
    }


def credential_document(row: Any) -> dict[str, Any]:
    """A stored credential (its secret is never shown again)."""
    return {
        "id": str(row.id),
        "name": row.name,
        "client": str(row.client_id),
        "created": row.created_at.isoformat(timespec="microseconds"),
        "secret": None,
    }


# --- registration -----------------------------------------------------------------------------------------


def create_legacy_client(
    conn: sa.Connection, *, identity_id: uuid.UUID, now: dt.datetime, description: str | None = None
) -> tuple[str, str]:
    """A confidential client acting as an existing identity (`openflows clients create`): `(id, secret)`."""
    client_id = uuid.uuid4()
    store.insert_client(
        conn,
        id=client_id,
        identity_id=identity_id,
        description=description,
        name=description,
        created_at=now,
        client_type="confidential_client",
    )
    return str(client_id), _add_credential(conn, client_id, "default", now)["secret"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """What the developer API's `create_client` / `update_client` send."""

    name: str
    public_client: bool
    client_type: str
    redirect_uris: tuple[str, ...] = ()
    visibility: str = "private"
    project_id: uuid.UUID | None = None
    parent_client_id: uuid.UUID | None = None


def spec_from_request(body: dict[str, Any], *, project_id: uuid.UUID | None) -> ClientSpec:
    """Validate a `{"client": {...}}` body of `create_client` (exactly one of public_client / client_type)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ClientError("'name' is required")
    public = body.get("public_client")
    client_type = body.get("client_type")
    if (public is None) == (client_type is None):
        raise ClientError("exactly one of 'public_client' and 'client_type' is required")
    if client_type is not None:
        if client_type not in CLIENT_TYPES:
            raise ClientError(f"unknown client_type {client_type!r}")
        public = client_type == PUBLIC_CLIENT_TYPE
    elif not isinstance(public, bool):
        raise ClientError("'public_client' must be a boolean")
    else:
        client_type = PUBLIC_CLIENT_TYPE if public else CONFIDENTIAL_DEFAULT_TYPE
    return ClientSpec(
        name=name.strip(),
        public_client=bool(public),
        client_type=client_type,
        redirect_uris=_redirect_uris(body.get("redirect_uris")),
        visibility=_visibility(body.get("visibility")),
        project_id=project_id,
    )


def _redirect_uris(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClientError("'redirect_uris' must be a list of URLs")
    for uri in value:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ClientError(f"redirect URI {uri!r} is not an absolute http(s) URL without a fragment")
    return tuple(dict.fromkeys(value))


def _visibility(value: Any) -> str:
    if value is None:
        return "private"
    if value not in ("public", "private"):
        raise ClientError("'visibility' must be public or private")
    return str(value)


def create_client(conn: sa.Connection, spec: ClientSpec, *, now: dt.datetime) -> uuid.UUID:
    """Register a client (and its identity); return its id. A confidential client gets no secret here: the
    developer API creates credentials separately (`create_client_credential`)."""
    client_id = uuid.uuid4()
    ensure_client_identity(conn, client_id, name=spec.name, now=now)
    store.insert_client(
        conn,
        id=client_id,
        identity_id=client_id,
        name=spec.name,
        created_at=now,
        public_client=spec.public_client,
        client_type=spec.client_type,
        redirect_uris=list(spec.redirect_uris),
        visibility=spec.visibility,
        project_id=spec.project_id,
        parent_client_id=spec.parent_client_id,
    )
    return client_id


def create_instance(
    conn: sa.Connection, *, template_id: uuid.UUID, name: str, now: dt.datetime
) -> tuple[uuid.UUID, dict[str, Any]]:
    """A confidential instance of a template client, made without authentication (`globus login`'s first
    step); return its id and its credential (with the secret)."""
    template = store.get_client(conn, template_id)
    if template is None or template_id not in catalog.TEMPLATE_CLIENT_IDS:
        raise ClientError("template_id is not a client template", code="NOT_FOUND", status=404)
    if not name.strip():
        raise ClientError("'name' is required")
    client_id = uuid.uuid4()
    ensure_client_identity(conn, client_id, name=name.strip(), now=now)
    store.insert_client(
        conn,
        id=client_id,
        identity_id=client_id,
        name=name.strip(),
        created_at=now,
        public_client=False,
        client_type="confidential_client",
        redirect_uris=list(template.redirect_uris or []),
        visibility="private",
        parent_client_id=template_id,
        builtin=False,
    )
    return client_id, _add_credential(conn, client_id, INSTANCE_CREDENTIAL_NAME, now)


def create_credential(conn: sa.Connection, client_id: uuid.UUID, name: str, *, now: dt.datetime) -> dict:
    """A new secret for a client (shown once, in the answer)."""
    row = store.get_client(conn, client_id)
    if row is None or row.public_client:
        raise ClientError("a public client has no credentials" if row else "no such client", status=400)
    return _add_credential(conn, client_id, name, now)


# --- authentication -----------------------------------------------------------------------------------------


def authenticate(conn: sa.Connection, client_id: str, secret: str) -> sa.Row[Any] | None:
    """The client row when the id and a secret of it match and it is not revoked, else None."""
    row = get_active(conn, client_id)
    if row is None or row.public_client:
        return None
    presented = hash_token(secret)
    stored = [credential.secret_hash for credential in store.list_credentials(conn, row.id)]
    # compare with every credential (no early exit: the time does not tell which one matched)
    matched = [secrets.compare_digest(hashed, presented) for hashed in stored]
    return row if any(matched) else None


def revoke_client(conn: sa.Connection, client_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Revoke a client: it gets no new tokens (tokens already issued keep working until they expire)."""
    row = store.get_client(conn, client_id)
    if row is None or row.revoked_at is not None or row.builtin:
        return False
    store.update_client(conn, client_id, revoked_at=now)
    return True


def get_active(conn: sa.Connection, client_id: str | uuid.UUID) -> sa.Row[Any] | None:
    """The unrevoked client with this id (None for a malformed id)."""
    try:
        key = client_id if isinstance(client_id, uuid.UUID) else uuid.UUID(str(client_id))
    except ValueError:
        return None
    row = store.get_client(conn, key)
    return row if row is not None and row.revoked_at is None else None


# --- redirect URIs ----------------------------------------------------------------------------------------


def is_loopback(uri: str) -> bool:
    """An `http://` URI on the local host (`localhost`, 127.0.0.0/8, ::1), any port, no fragment."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.fragment or parts.username or parts.password:
        return False
    host = parts.hostname or ""
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_allowed(
    conn: sa.Connection, client: Any, redirect_uri: str, *, base_url: str | None = None
) -> bool:
    """Whether `redirect_uri` may receive this client's codes (see the module docstring)."""
    if redirect_uri in (client.redirect_uris or []):
        return True
    template = store.get_client(conn, client.parent_client_id) if client.parent_client_id else None
    native = client.public_client or (template is not None and template.public_client)
    if native and is_loopback(redirect_uri):
        return True
    builtin = client.builtin or (template is not None and template.builtin)
    if builtin and base_url:
        allowed = (
            catalog.AUTH_CODE_PAGE if client.id != catalog.DASHBOARD_CLIENT_ID else catalog.DASHBOARD_CALLBACK
        )
        return redirect_uri == base_url.rstrip("/") + "/" + allowed
    return False


# --- documents ----------------------------------------------------------------------------------------------


def client_document(client: Any, scope_ids: list[str] | None = None) -> dict[str, Any]:
    """A client as the developer API shows it."""
    return {
        "id": str(client.id),
        "name": client.name or client.description or str(client.id),
        "project": str(client.project_id) if client.project_id else None,
        "public_client": bool(client.public_client),
        "client_type": client.client_type
        or (PUBLIC_CLIENT_TYPE if client.public_client else "confidential_client"),
        "visibility": client.visibility or "private",
        "redirect_uris": list(client.redirect_uris or []),
        "grant_types": list(PUBLIC_GRANT_TYPES if client.public_client else CONFIDENTIAL_GRANT_TYPES),
        "scopes": scope_ids or [],
        "fqdns": [],
        "links": {"privacy_policy": None, "terms_and_conditions": None},
        "required_idp": None,
        "preselect_idp": None,
        "parent_client": str(client.parent_client_id) if client.parent_client_id else None,
        "prompt_for_named_grant": False,
        "userinfo_from_effective_identity": True,
    }
