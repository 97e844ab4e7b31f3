"""Federation: OpenFlows as a resource server of an upstream Globus-Auth-compatible server (the real Globus
Auth at https://auth.globus.org, or another OpenFlows). docs/auth.md "Federation with Globus Auth".

OpenFlows is registered at the upstream as a confidential client (`OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID`,
`..._SECRET`); its scopes there belong to that client, in Globus Auth's form
`https://auth.globus.org/scopes/<client id>/<suffix>`:
- the Flows service scopes under their hosted suffixes (`all`, `manage_flows`, `view_flows`, `run`,
  `run_status`, `run_manage`, `web_input_view`, `web_input_respond`), each with Groups'
  `view_my_groups_and_memberships` as a dependent scope (so OpenFlows can learn its callers' groups);
- one scope per flow, `flow_<flow id with underscores>_user`, whose dependent scopes are the flow's
  (its Action states' providers' scopes, as registered at the upstream).

`UpstreamScopes` translates between those strings and the local ones the rest of OpenFlows checks
(`auth.scopes`), so a principal made from an upstream token holds e.g. `scopes.RUN`. `UpstreamAuth` is the
HTTP client of the upstream: the client-credentials, dependent-token and refresh-token grants, introspection,
revocation, the developer API's scopes and Groups' `my_groups`. Every call is a network call: never inside a
database transaction. The client secret and token values never appear in a `repr`, a log line or an error.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..settings import Settings, SettingsError
from . import catalog
from . import scopes as flows_scopes

#: timeout of each call to the upstream
HTTP_TIMEOUT = 10.0  # seconds
#: the real Globus Auth and its Groups API
GLOBUS_AUTH_URL = "https://auth.globus.org"
GLOBUS_GROUPS_URL = "https://groups.api.globus.org"
#: a client-credentials token is replaced this long before it expires
TOKEN_MARGIN = 60.0  # seconds
#: the scope prefix of every Globus Auth scope string of a client
SCOPE_URL_PREFIX = "https://auth.globus.org/scopes/"

_FLOW_SUFFIX_RE = re.compile(r"^flow_(?P<underscored>[0-9a-f]{8}(?:_[0-9a-f]{4}){3}_[0-9a-f]{12})_user$")


class FederationError(SettingsError):
    """The upstream is misconfigured or unreachable; the message is one line, without secrets."""


class UpstreamRefused(Exception):
    """The upstream answered a grant with an error (`status`, `error` code; no token values)."""

    def __init__(self, status: int, error: str, unapproved: Sequence[str] = ()) -> None:
        super().__init__(f"the upstream refused ({status} {error})")
        self.status = status
        self.error = error
        self.unapproved = tuple(unapproved)


@dataclasses.dataclass(frozen=True)
class FederationConfig:
    """Where the upstream is and who OpenFlows is there."""

    upstream: str
    client_id: uuid.UUID
    client_secret: str = dataclasses.field(repr=False)
    groups_url: str
    cache_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FederationConfig | None:
        """The configuration, None when no upstream is set; `FederationError` (one line) when it is set but
        incomplete."""
        if not settings.auth_upstream:
            return None
        upstream = settings.auth_upstream.rstrip("/")
        if not settings.auth_upstream_client_id or not settings.auth_upstream_client_secret:
            raise FederationError(
                "OPENFLOWS_AUTH_UPSTREAM is set: OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID and "
                "OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET must be set too (OpenFlows' client at the upstream)"
            )
        try:
            client_id = uuid.UUID(settings.auth_upstream_client_id)
        except ValueError:
            raise FederationError(
                f"OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID must be a client id (a UUID), got "
                f"{settings.auth_upstream_client_id!r}"
            ) from None
        groups = settings.auth_upstream_groups or (
            GLOBUS_GROUPS_URL
            if urlsplit(upstream).hostname == urlsplit(GLOBUS_AUTH_URL).hostname
            else upstream
        )
        return cls(
            upstream=upstream,
            client_id=client_id,
            client_secret=settings.auth_upstream_client_secret,
            groups_url=groups.rstrip("/"),
            cache_seconds=settings.auth_upstream_cache_seconds,
        )


class UpstreamScopes:
    """OpenFlows' scope strings at the upstream, and back."""

    def __init__(self, client_id: uuid.UUID) -> None:
        self.client_id = client_id
        self.prefix = f"{SCOPE_URL_PREFIX}{client_id}/"
        #: upstream suffix -> local service scope
        self._service = {
            local.removeprefix(flows_scopes.SCOPE_PREFIX): local for local in flows_scopes.ALL_SCOPES
        }

    @property
    def service_suffixes(self) -> list[str]:
        return sorted(self._service)

    def service(self, local: str) -> str:
        """The upstream string of a Flows service scope (`scopes.RUN` -> `.../<client>/run`)."""
        return self.prefix + local.removeprefix(flows_scopes.SCOPE_PREFIX)

    @staticmethod
    def flow_suffix(flow_id: uuid.UUID | str) -> str:
        return f"flow_{str(flow_id).replace('-', '_')}_user"

    def flow(self, flow_id: uuid.UUID | str) -> str:
        """The upstream string of a flow's scope."""
        return self.prefix + self.flow_suffix(flow_id)

    def to_local(self, scope_strings: Iterable[str]) -> frozenset[str]:
        """The local scopes an upstream token's scopes grant (others are kept as they are)."""
        found = set()
        for text in scope_strings:
            if not text.startswith(self.prefix):
                found.add(text)
                continue
            suffix = text[len(self.prefix) :]
            match = _FLOW_SUFFIX_RE.match(suffix)
            if suffix in self._service:
                found.add(self._service[suffix])
            elif match is not None:
                found.add(flows_scopes.flow_scope(uuid.UUID(match.group("underscored").replace("_", "-"))))
            else:
                found.add(text)
        return frozenset(found)


def _expires_in(document: Mapping[str, Any]) -> float:
    try:
        return float(document.get("expires_in") or 0)
    except (TypeError, ValueError):
        return 0.0


class UpstreamAuth:
    """The upstream's HTTP API, as OpenFlows' client (see the module docstring)."""

    def __init__(
        self,
        config: FederationConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._http = httpx.Client(timeout=HTTP_TIMEOUT, transport=transport)
        self._clock = clock
        self._lock = threading.Lock()
        #: scope string -> (access token, deadline on `clock`)
        self._client_tokens: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"UpstreamAuth({self.config.upstream!r}, client_id={str(self.config.client_id)!r})"

    def close(self) -> None:
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise FederationError(
                f"the upstream Auth at {self.config.upstream} cannot be reached ({type(exc).__name__})"
            ) from None

    def _basic(self) -> tuple[str, str]:
        return (str(self.config.client_id), self.config.client_secret)

    def _token_endpoint(self, form: dict[str, str]) -> Any:
        """POST /v2/oauth2/token as OpenFlows' client; the JSON answer, or `UpstreamRefused`."""
        response = self._request(
            "POST", f"{self.config.upstream}/v2/oauth2/token", data=form, auth=self._basic()
        )
        return self._json(response)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.status_code >= 400:
            error = "error"
            unapproved: list[str] = []
            if isinstance(document, dict):
                error = str(document.get("error") or document.get("code") or error)
                unapproved = [str(item) for item in document.get("unapproved_scopes") or []]
                errors = document.get("errors")
                if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                    error = str(errors[0].get("code") or error)
                    unapproved = unapproved or [str(s) for s in errors[0].get("unapproved_scopes") or []]
            raise UpstreamRefused(response.status_code, error, unapproved)
        return document

    # -- grants --------------------------------------------------------------------------------------------

    def client_token(self, scope: str) -> str:
        """An access token of OpenFlows' own client for `scope` (client credentials; cached)."""
        with self._lock:
            cached = self._client_tokens.get(scope)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        document = self._token_endpoint({"grant_type": "client_credentials", "scope": scope})
        token = self._find(document, scope)
        if token is None:
            raise UpstreamRefused(200, "no_token")
        deadline = self._clock() + max(0.0, _expires_in(token) - TOKEN_MARGIN)
        with self._lock:
            self._client_tokens[scope] = (str(token["access_token"]), deadline)
        return str(token["access_token"])

    @staticmethod
    def _find(document: Any, scope: str) -> Mapping[str, Any] | None:
        """The token for `scope` in a token answer (`other_tokens` included)."""
        if not isinstance(document, dict):
            return None
        candidates = [document, *(document.get("other_tokens") or [])]
        for item in candidates:
            if isinstance(item, dict) and scope in str(item.get("scope", "")).split():
                return item
        return None

    def dependent_tokens(
        self, token: str, scopes: Sequence[str] | None, *, offline: bool
    ) -> list[Mapping[str, Any]]:
        """The dependent-token grant for a token of one of OpenFlows' scopes: one token answer per resource
        server (`UpstreamRefused` when the upstream says no, e.g. `dependent_consent_required`)."""
        form = {"grant_type": "urn:globus:auth:grant_type:dependent_token", "token": token}
        if scopes:
            form["scope"] = " ".join(scopes)
        if offline:
            form["access_type"] = "offline"
        document = self._token_endpoint(form)
        if isinstance(document, list):  # Globus Auth's answer: a list
            return [item for item in document if isinstance(item, dict)]
        if isinstance(document, dict):  # an OAuth-style answer with `other_tokens`
            return [
                document,
                *(item for item in document.get("other_tokens") or [] if isinstance(item, dict)),
            ]
        return []

    def refresh(self, refresh_token: str) -> Mapping[str, Any] | None:
        """A new access token from a refresh token issued to OpenFlows (None: it no longer works)."""
        try:
            document = self._token_endpoint({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except UpstreamRefused as exc:
            if exc.status in (400, 401, 403):
                return None
            raise
        return document if isinstance(document, dict) and document.get("access_token") else None

    def revoke(self, token: str) -> None:
        self._request(
            "POST",
            f"{self.config.upstream}/v2/oauth2/token/revoke",
            data={"token": token},
            auth=self._basic(),
        )

    def introspect(self, token: str) -> Mapping[str, Any]:
        """RFC 7662 introspection with Globus Auth's `identity_set` (inactive: `{"active": False}`)."""
        response = self._request(
            "POST",
            f"{self.config.upstream}/v2/oauth2/token/introspect",
            data={"token": token, "include": "identity_set"},
            auth=self._basic(),
        )
        document = self._json(response)
        return document if isinstance(document, dict) else {"active": False}

    # -- developer API: scopes -----------------------------------------------------------------------------

    def _developer(self, method: str, path: str, **kwargs: Any) -> Any:
        bearer = self.client_token(catalog.MANAGE_PROJECTS)
        response = self._request(
            method,
            f"{self.config.upstream}{path}",
            headers={"Authorization": f"Bearer {bearer}"},
            **kwargs,
        )
        return self._json(response)

    def find_scopes(self, scope_strings: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The upstream's scope documents by scope string (those it knows)."""
        if not scope_strings:
            return {}
        document = self._developer("GET", "/v2/api/scopes", params={"scope_strings": ",".join(scope_strings)})
        return {
            str(item["scope_string"]): item
            for item in (document or {}).get("scopes", [])
            if isinstance(item, dict) and "scope_string" in item
        }

    def create_scope(
        self, *, suffix: str, name: str, description: str, dependent_ids: Sequence[str]
    ) -> Mapping[str, Any]:
        body = {
            "scope": {
                "name": name,
                "description": description,
                "scope_suffix": suffix,
                "dependent_scopes": [_dependent(scope_id) for scope_id in dependent_ids],
                "advertised": False,
                "allows_refresh_token": True,
            }
        }
        document = self._developer("POST", f"/v2/api/clients/{self.config.client_id}/scopes", json=body)
        scope = document.get("scope") or (document.get("scopes") or [{}])[0]
        return scope

    def set_dependents(self, scope_id: str, dependent_ids: Sequence[str]) -> None:
        body = {"scope": {"dependent_scopes": [_dependent(scope_id) for scope_id in dependent_ids]}}
        self._developer("PUT", f"/v2/api/scopes/{scope_id}", json=body)

    # -- Groups --------------------------------------------------------------------------------------------

    def my_groups(self, groups_token: str) -> list[str]:
        """The ids of the groups the token's identity is a member of."""
        response = self._request(
            "GET",
            f"{self.config.groups_url}/v2/groups/my_groups",
            headers={"Authorization": f"Bearer {groups_token}"},
        )
        document = self._json(response)
        return [str(item["id"]) for item in document or [] if isinstance(item, dict) and item.get("id")]

    # -- start-up ------------------------------------------------------------------------------------------

    def verify(self) -> None:
        """Raise `FederationError` (one line) unless the upstream answers and accepts OpenFlows' client."""
        try:
            self.client_token(catalog.MANAGE_PROJECTS)
        except UpstreamRefused as exc:
            raise FederationError(
                f"the upstream Auth at {self.config.upstream} refused OpenFlows' client "
                f"{self.config.client_id} ({exc.status} {exc.error}): check "
                "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID and OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET"
            ) from None


def _dependent(scope_id: str) -> dict[str, Any]:
    return {"scope": str(scope_id), "optional": False, "requires_refresh_token": True}
