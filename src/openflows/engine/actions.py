"""The Action Provider client of the engine (spec/flows-language.md §7, §11): start, poll, cancel, release and
resume actions, in-process for the built-in providers and over HTTP (httpx) for everything else.

Every call returns a `CallResult` that says what happened in terms the executor can act on:
- `ok`: the provider answered with an action status document;
- `rejected`: the provider refused (4xx) — for `/run` this becomes `ActionUnableToRun` with the provider's
error
  body `{"code", "description", ...}`;
- `transient`: the provider could not be reached or failed (5xx, timeout) — the executor retries later.

Who calls: the executor gives every call the bearer token of the state's identity (the run's user's
delegated token for that provider's scope, the flow's own, or a role's from `_tokens`; issue 14), and, only
where no token system is configured (engine tests, tools), a trusted `Caller`.
- **Built-in providers** are called in process, but authenticate the token exactly as their HTTP routes do
  (`authenticate`, then `providers.base.caller_for_principal`): they act as the token's identity, and a call
  without a valid token, or with one lacking the provider's scope, is refused (`rejected`).

External providers (over HTTP):
- **Credentials.** The administrator maps URL prefixes to static bearer tokens (`credentials`, from
  `OPENFLOWS_PROVIDER_TOKENS`). A token is sent only to URLs with the same scheme, host and port as its prefix
  and a path under the prefix's path; otherwise the state's token is sent, if there is one. Redirects are
  never followed, so no token is replayed to another host.
- **Introspection.** `describe(action_url)` fetches `GET {action_url}/` once and caches it
  (`INTROSPECTION_TTL_SECONDS`). A provider that says `synchronous: true` answers `/run` with a terminal
  status, so the engine never polls it; if it nevertheless answers ACTIVE, it is polled like any other.
- **Retries.** A network error or a 5xx/429 on `/run` is retried within the call (`INLINE_RETRIES` times, the
  same request with the same `request_id`, after the provider's `Retry-After` when it gives one of at most
  `MAX_INLINE_RETRY_AFTER_SECONDS`, else `INLINE_RETRY_SECONDS`); if it still fails the executor retries later
  (again with the same `request_id`). A 4xx on `/run` is `rejected` (ActionUnableToRun with the provider's
  body). A `Retry-After` on a status answer becomes the `next_change_at` hint, so the next poll comes then.

Never call this inside a database transaction (DESIGN invariant 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..language.storable import escape
from ..providers.base import (
    Caller,
    Provider,
    ProviderError,
    ProviderRegistry,
    caller_for_principal,
    normalize_url,
)
from ..shared.clock import Clock, SystemClock
from ..store import errors as store_errors

log = logging.getLogger(__name__)

#: timeout of one HTTP call to an action provider
HTTP_TIMEOUT_SECONDS = 30.0  # seconds
#: longest error text kept from a provider's response
MAX_ERROR_TEXT = 2000  # characters

#: how long a provider's introspection document is reused
INTROSPECTION_TTL_SECONDS = 300.0  # seconds
#: extra tries of a failing `/run` within one call (the executor retries further, later)
INLINE_RETRIES = 2  # tries
#: pause before an inline retry when the provider gave no Retry-After
INLINE_RETRY_SECONDS = 0.5  # seconds
#: longest Retry-After waited for within a call (longer ones are left to the executor's back-off)
MAX_INLINE_RETRY_AFTER_SECONDS = 5.0  # seconds

Outcome = Literal["ok", "rejected", "transient"]


@dataclasses.dataclass(frozen=True, slots=True)
class CallResult:
    """The answer of one call to an action provider."""

    outcome: Outcome
    #: the action status document (outcome "ok")
    status: dict[str, Any] | None = None
    #: the normalised error body `{"code", "description", ...}` (outcomes "rejected" and "transient")
    error: dict[str, Any] | None = None
    #: HTTP status (None for network failures)
    http_status: int | None = None
    #: a built-in provider's hint: when the action will next change by itself (for an external provider:
    #: now + its Retry-After)
    next_change_at: dt.datetime | None = None
    #: the provider's Retry-After, in seconds, when it sent one
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class ActionClient:
    """Calls action providers: built-ins through the registry, others over HTTP."""

    def __init__(
        self,
        registry: ProviderRegistry,
        *,
        http: httpx.Client | None = None,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        credentials: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        authenticate: Callable[[str | None], Any] | None = None,
    ) -> None:
        self.registry = registry
        #: bearer token -> principal (`auth.tokens.Authenticator.authenticate`), for the built-in providers
        self._authenticate = authenticate
        self._http = http
        self._owns_http = http is None
        self._timeout = timeout
        self._credentials = _parse_credentials(credentials or {})
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._descriptions: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._descriptions_lock = threading.Lock()

    @property
    def credentials(self) -> list[tuple[str, str, str, str]]:
        """The administrator's static tokens, parsed: (scheme, netloc, path prefix, token)."""
        return list(self._credentials)

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()
            self._http = None

    def is_builtin(self, action_url: str) -> bool:
        return self.registry.resolve(action_url) is not None

    # -- operations ----------------------------------------------------------------------------------------

    def start(
        self, action_url: str, request: dict[str, Any], *, caller: Caller | None, token: str | None
    ) -> CallResult:
        """`POST {action_url}/run` with the action request (`request_id`, `body`, ...)."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return self._builtin(provider, caller, token, lambda who: provider.run(request, who)[0])
        result = self._call("POST", action_url, "run", token=token, json_body=request)
        for _ in range(INLINE_RETRIES):
            if result.outcome != "transient":
                break
            wait = INLINE_RETRY_SECONDS if result.retry_after is None else result.retry_after
            if wait > MAX_INLINE_RETRY_AFTER_SECONDS:
                break  # the executor retries later, with the same request_id
            self._sleep(wait)
            result = self._call("POST", action_url, "run", token=token, json_body=request)
        return result

    def describe(self, action_url: str, *, token: str | None = None) -> dict[str, Any] | None:
        """The provider's introspection document (`GET {action_url}/`), cached; None if unavailable."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return provider.introspect()
        key = normalize_url(action_url)
        now = time.monotonic()
        with self._descriptions_lock:
            cached = self._descriptions.get(key)
        if cached is not None and now - cached[0] < INTROSPECTION_TTL_SECONDS:
            return cached[1]
        url = action_url.rstrip("/") + "/"
        document: dict[str, Any] | None = None
        try:
            response = self._client().get(url, headers=self._headers(url, token))
            body = _json_or_none(response)
            if response.is_success and isinstance(body, dict):
                document = body
        except httpx.HTTPError:
            document = None
        with self._descriptions_lock:
            self._descriptions[key] = (now, document)
        return document

    def is_synchronous(self, action_url: str, *, token: str | None = None) -> bool:
        """Whether the provider says every `/run` answers with a terminal status."""
        description = self.describe(action_url, token=token)
        return bool(description and description.get("synchronous") is True)

    def status(
        self, action_url: str, action_id: str, *, caller: Caller | None, token: str | None
    ) -> CallResult:
        """`GET {action_url}/{action_id}/status`."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return self._builtin(provider, caller, token, lambda who: provider.status(action_id, who))
        return self._call("GET", action_url, f"{action_id}/status", token=token)

    def cancel(
        self, action_url: str, action_id: str, *, caller: Caller | None, token: str | None
    ) -> CallResult:
        """`POST {action_url}/{action_id}/cancel` (advisory)."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return self._builtin(provider, caller, token, lambda who: provider.cancel(action_id, who))
        return self._call("POST", action_url, f"{action_id}/cancel", token=token)

    def release(
        self, action_url: str, action_id: str, *, caller: Caller | None, token: str | None
    ) -> CallResult:
        """`POST {action_url}/{action_id}/release`."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return self._builtin(provider, caller, token, lambda who: provider.release(action_id, who))
        return self._call("POST", action_url, f"{action_id}/release", token=token)

    def builtin_caller(
        self, action_url: str, *, caller: Caller | None, token: str | None
    ) -> tuple[Provider, Caller] | None:
        """The built-in provider of `action_url` and who a call with these credentials acts as there (the
        token's identity, checked as `release` would), for a release in the engine's own transaction
        (`Provider.release_in`); None for another provider or when the token is refused."""
        provider = self.registry.resolve(action_url)
        if provider is None:
            return None
        try:
            return provider, self._caller(provider, caller, token)
        except Exception:  # refused, or the token store is unavailable: the release item will try later
            return None

    def resume(
        self, action_url: str, action_id: str, *, caller: Caller | None, token: str | None
    ) -> CallResult:
        """`POST {action_url}/{action_id}/resume` (optional in the interface)."""
        provider = self.registry.resolve(action_url)
        if provider is not None:
            return self._builtin(provider, caller, token, lambda who: provider.resume(action_id, who))
        return self._call("POST", action_url, f"{action_id}/resume", token=token)

    # -- transports ----------------------------------------------------------------------------------------

    def _caller(self, provider: Provider, caller: Caller | None, token: str | None) -> Caller:
        """Who calls a built-in provider: the token's identity (checked as over HTTP), else the trusted
        `caller` the executor gave (no token system configured); raises `ProviderError`."""
        if token is not None and self._authenticate is not None:
            return caller_for_principal(self._authenticate(token), provider)
        return caller_for_principal(None, provider) if caller is None else caller

    def _builtin(
        self, provider: Provider, caller: Caller | None, token: str | None, call: Callable[[Caller], Any]
    ) -> CallResult:
        try:
            doc = call(self._caller(provider, caller, token))
        except ProviderError as exc:
            outcome: Outcome = "transient" if exc.status_code >= 500 else "rejected"
            return CallResult(outcome, error=exc.body(), http_status=exc.status_code)
        except store_errors.InvalidValue as exc:  # the same request would be refused again: no retry
            return CallResult(
                "rejected", error={"code": "ActionProviderError", "description": escape(str(exc))}
            )
        except Exception as exc:  # a bug in a built-in provider, or its database is unavailable: retry later
            log.exception(
                "built-in provider %s failed",
                provider.name,
                extra={"action": "provider_error", "provider": provider.name},
            )
            return CallResult(
                "transient",
                error={
                    "code": "ActionProviderError",
                    "description": f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT],
                },
            )
        hint = None
        if doc.get("status") in ("ACTIVE", "INACTIVE"):
            try:
                hint = provider.next_change_at(str(doc.get("action_id", "")))
            except Exception:  # the hint is an optimisation only
                hint = None
        return CallResult("ok", status=doc, http_status=200, next_change_at=hint)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self._timeout, follow_redirects=False)
        return self._http

    def _call(
        self, method: str, action_url: str, path: str, *, token: str | None, json_body: Any = None
    ) -> CallResult:
        url = f"{action_url.rstrip('/')}/{path}"
        headers = self._headers(url, token)
        try:
            response = self._client().request(method, url, headers=headers, json=json_body)
        except httpx.HTTPError as exc:
            return CallResult(
                "transient",
                error={
                    "code": "ActionProviderUnreachable",
                    "description": f"The action provider at {action_url} could not be reached: "
                    f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT],
                },
            )
        body = _json_or_none(response)
        retry_after = _retry_after(response)
        if response.is_success:
            if isinstance(body, dict) and isinstance(body.get("status"), str):
                hint = None
                if retry_after is not None and body.get("status") in ("ACTIVE", "INACTIVE"):
                    hint = self._clock.now() + dt.timedelta(seconds=retry_after)
                return CallResult(
                    "ok",
                    status=body,
                    http_status=response.status_code,
                    next_change_at=hint,
                    retry_after=retry_after,
                )
            return CallResult(
                "rejected",
                error={
                    "code": "InvalidActionStatus",
                    "description": f"The action provider at {action_url} answered {method} {path} without an "
                    f"action status document: {response.text[:500]!r}",
                },
                http_status=response.status_code,
            )
        error = _normalise_error(body, response, action_url)
        outcome: Outcome = (
            "transient" if response.status_code >= 500 or response.status_code == 429 else "rejected"
        )
        return CallResult(outcome, error=error, http_status=response.status_code, retry_after=retry_after)

    def _headers(self, url: str, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        credential = credential_for(self._credentials, url)
        if credential is not None:
            headers["Authorization"] = f"Bearer {credential}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return headers


_Credential = tuple[str, str, str, str]  # (scheme, netloc, path prefix, token)


def _origin(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, f"{host}:{port}", parts.path or "/"


def _parse_credentials(credentials: Mapping[str, str]) -> list[_Credential]:
    parsed = []
    for prefix, token in credentials.items():
        scheme, netloc, path = _origin(prefix)
        if scheme not in ("http", "https") or not netloc.split(":")[0]:
            continue
        parsed.append((scheme, netloc, path.rstrip("/") + "/", token))
    # the longest (most specific) prefix first
    parsed.sort(key=lambda c: len(c[2]), reverse=True)
    return parsed


def credential_for(credentials: list[_Credential], url: str) -> str | None:
    """The administrator's token for `url`: the most specific prefix with the same scheme, host and port
    whose path contains the URL's path (on a `/` boundary); None when no prefix matches."""
    scheme, netloc, path = _origin(url)
    path = path.rstrip("/") + "/"
    for c_scheme, c_netloc, c_path, token in credentials:
        if scheme == c_scheme and netloc == c_netloc and path.startswith(c_path):
            return token
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), if any."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def _normalise_error(body: Any, response: httpx.Response, action_url: str) -> dict[str, Any]:
    """The provider's error body if it has the APT shape, else `{"code", "description"}` built from the
    response."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        error = dict(body)
        error.setdefault("description", body.get("detail") or body.get("message") or "")
        error.setdefault("status_code", response.status_code)
        return error
    if isinstance(body, dict) and isinstance(
        body.get("error"), dict
    ):  # a Flows error document (a flow as an AP)
        inner = body["error"]
        return {
            "code": str(inner.get("code", f"HTTP{response.status_code}")),
            "description": inner.get("detail")
            if isinstance(inner.get("detail"), str)
            else json.dumps(inner)[:500],
            "status_code": response.status_code,
        }
    return {
        "code": f"HTTP{response.status_code}",
        "description": f"The action provider at {action_url} answered {response.status_code}: "
        f"{response.text[:MAX_ERROR_TEXT]}",
        "status_code": response.status_code,
    }
