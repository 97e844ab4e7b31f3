"""Service settings: one frozen dataclass, read from `OPENFLOWS_*` environment variables.

Nothing is built at import time: callers create a `Settings` and pass it down through constructors.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: default home directory (database, keys); `OPENFLOWS_HOME` overrides
DEFAULT_HOME = "~/.openflows"
#: file name of the default SQLite database inside the home directory
DEFAULT_DATABASE_FILE = "openflows.db"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingsError(ValueError):
    """An OPENFLOWS_* environment variable has a value that cannot be used."""


def parse_bool(value: str, *, name: str = "value") -> bool:
    """Parse true/false/1/0/yes/no/on/off (case-insensitive); raise `SettingsError` otherwise."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false (got {value!r})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of an OpenFlows process, with its default."""

    #: home directory for the default database and other local files
    home: Path = Path(DEFAULT_HOME).expanduser()
    #: SQLAlchemy URL; None means `sqlite:///<home>/openflows.db` (see `effective_database_url`)
    database_url: str | None = None
    #: the base URL the service advertises (None: derived from the listening host and port)
    public_url: str | None = None
    #: serve the Globus-hosted providers' URLs (https://actions.globus.org/...) with built-in emulations
    emulate_globus_providers: bool = True
    #: maximum size of a run's state document
    max_run_state_bytes: int = 256 * 1024  # bytes
    #: maximum size of an HTTP request body
    max_request_bytes: int = 1024 * 1024  # bytes
    #: a request whose request line and headers have not all arrived this long after the connection opened (or
    #: after the first byte of a later request on a kept-alive connection) gets a 408 and is closed
    header_timeout_seconds: float = 10.0  # seconds
    #: a request whose body has not all arrived this long after its headers gets a 408 and is closed
    body_timeout_seconds: float = 30.0  # seconds
    #: an idle kept-alive HTTP connection is closed after this long (keep it above a proxy's idle timeout)
    keep_alive_seconds: float = 5.0  # seconds
    #: first interval between two polls of an action's status
    poll_initial_seconds: float = 1.0  # seconds
    #: cap of the doubling poll interval
    poll_max_seconds: float = 30.0  # seconds
    #: how long a claimed work item stays leased to its worker before another may take it
    lease_seconds: float = 30.0  # seconds
    #: executor threads in one process
    worker_threads: int = 4  # threads
    #: runs still unfinished after this long are ENDED
    run_max_duration_days: int = 365  # days
    #: logging level name for the `openflows` loggers
    log_level: str = "INFO"
    #: log line format: "text" or "json" (one JSON object per line)
    log_format: str = "text"
    #: ended runs are deleted this long after they completed (0: never)
    retention_days: int = 90  # days
    #: port on which `openflows worker` serves GET /metrics (None: not served; the API serves it always)
    metrics_port: int | None = None
    #: the service's secret key(s), comma-separated, newest first (None: a key generated once in
    #: `home/secret-key`); it encrypts what is kept secret at rest (ID-token signing keys). Every process of
    #: one deployment must have the same value.
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    #: lifetime of the access tokens the Auth token endpoint issues (Globus Auth's: 48 hours)
    access_token_seconds: int = 48 * 3600  # seconds
    #: a refresh token unused for this long stops working (0: never)
    refresh_token_idle_days: int = 180  # days
    #: lifetime of an authorization code (single use)
    auth_code_seconds: int = 600  # seconds
    # --- sign-in (docs/auth.md "Signing people in") ---
    #: the upstream OpenID Connect provider's issuer URL (None: no upstream sign-in)
    oidc_issuer: str | None = None
    #: OpenFlows' client id at the upstream provider
    oidc_client_id: str | None = None
    #: OpenFlows' client secret at the upstream provider (None: a public client, PKCE only)
    oidc_client_secret: str | None = dataclasses.field(default=None, repr=False)
    #: scopes asked of the upstream provider
    oidc_scopes: str = "openid profile email"
    #: ID token claim that names the person's OpenFlows username (then `email`, then `sub`)
    oidc_username_claim: str = "preferred_username"
    #: offer the username + password form for local accounts (`openflows users add`)
    local_accounts: bool = True
    #: offer "Sign in as the local administrator" to browsers on the server's own machine (turn it off on a
    #: host other people can log in to: any local user could click it)
    local_admin_signin: bool = True
    #: how long a browser stays signed in at the authorize pages
    session_hours: float = 12.0  # hours
    #: failed sign-ins of one username within the window before it is refused for a while
    signin_max_failures: int = 5  # attempts
    #: failed sign-ins from one client address within the window before it is refused for a while
    signin_max_failures_per_address: int = 30  # attempts
    #: the sliding window of the two limits above
    signin_window_seconds: float = 900.0  # seconds
    # --- registered APIs (docs/registered-apis.md) ---
    #: a deleted registered API stays visible to its owners (DELETE_PENDING) this long, then is gone
    registered_api_deletion_days: float = 7.0  # days
    #: longest wait for a registered API's answer (a state's WaitTime may shorten it)
    registered_api_timeout_seconds: float = 60.0  # seconds
    #: largest registered API answer read; a larger one fails the state
    registered_api_max_response_bytes: int = 1024 * 1024  # bytes
    # --- Map and Parallel (docs/language.md) ---
    #: most iterations of one Map or Parallel state running at once: a `MaxConcurrency` of 0 (no limit) or
    #: above it runs this many
    map_max_concurrency: int = 1000  # iterations
    # --- timers (docs/timers.md) ---
    #: the shortest interval a recurring timer may have (the hosted service's limit is one minute)
    timers_min_interval_seconds: float = 60.0  # seconds
    # --- federation (docs/auth.md "Federation with Globus Auth") ---
    #: a Globus-Auth-compatible server OpenFlows is a resource server of (None: OpenFlows' own Auth only)
    auth_upstream: str | None = None
    #: OpenFlows' client id at the upstream Auth
    auth_upstream_client_id: str | None = None
    #: OpenFlows' client secret at the upstream Auth (never logged or shown)
    auth_upstream_client_secret: str | None = dataclasses.field(default=None, repr=False)
    #: the upstream's Groups API (None: https://groups.api.globus.org for Globus Auth, else the upstream)
    auth_upstream_groups: str | None = None
    #: an upstream token's introspection is reused this long at most (and never past the token's expiry)
    auth_upstream_cache_seconds: float = 30.0  # seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        if self.database_url is None:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / DEFAULT_DATABASE_FILE}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `OPENFLOWS_*` variables in `environ` (default `os.environ`); `overrides` win.

        Variables: OPENFLOWS_HOME, OPENFLOWS_DATABASE_URL, OPENFLOWS_PUBLIC_URL,
        OPENFLOWS_EMULATE_GLOBUS_PROVIDERS, OPENFLOWS_MAX_RUN_STATE_BYTES, OPENFLOWS_MAX_REQUEST_BYTES,
        OPENFLOWS_HEADER_TIMEOUT_SECONDS, OPENFLOWS_BODY_TIMEOUT_SECONDS, OPENFLOWS_KEEP_ALIVE_SECONDS,
        OPENFLOWS_POLL_INITIAL_SECONDS, OPENFLOWS_POLL_MAX_SECONDS, OPENFLOWS_LEASE_SECONDS,
        OPENFLOWS_WORKER_THREADS, OPENFLOWS_RUN_MAX_DURATION_DAYS, OPENFLOWS_LOG_LEVEL, OPENFLOWS_LOG_FORMAT,
        OPENFLOWS_RETENTION_DAYS, OPENFLOWS_METRICS_PORT, OPENFLOWS_SECRET_KEY,
        OPENFLOWS_ACCESS_TOKEN_SECONDS, OPENFLOWS_REFRESH_TOKEN_IDLE_DAYS, OPENFLOWS_AUTH_CODE_SECONDS;
        sign-in: OPENFLOWS_OIDC_ISSUER, OPENFLOWS_OIDC_CLIENT_ID, OPENFLOWS_OIDC_CLIENT_SECRET,
        OPENFLOWS_OIDC_SCOPES, OPENFLOWS_OIDC_USERNAME_CLAIM, OPENFLOWS_LOCAL_ACCOUNTS,
        OPENFLOWS_LOCAL_ADMIN_SIGNIN, OPENFLOWS_SESSION_HOURS, OPENFLOWS_SIGNIN_MAX_FAILURES,
        OPENFLOWS_SIGNIN_MAX_FAILURES_PER_ADDRESS, OPENFLOWS_SIGNIN_WINDOW_SECONDS; registered APIs:
        OPENFLOWS_REGISTERED_API_DELETION_DAYS, OPENFLOWS_REGISTERED_API_TIMEOUT_SECONDS,
        OPENFLOWS_REGISTERED_API_MAX_RESPONSE_BYTES; Map and Parallel: OPENFLOWS_MAP_MAX_CONCURRENCY; timers:
        OPENFLOWS_TIMERS_MIN_INTERVAL_SECONDS;
        federation: OPENFLOWS_AUTH_UPSTREAM, OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID,
        OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET, OPENFLOWS_AUTH_UPSTREAM_GROUPS,
        OPENFLOWS_AUTH_UPSTREAM_CACHE_SECONDS.
        An empty variable counts as unset.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = f"OPENFLOWS_{field.name.upper()}"
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[field.name] = _convert(field.name, name, raw.strip())
        values.update({key: value for key, value in overrides.items() if value is not None})
        unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed."""
        return dataclasses.replace(self, **changes)


_INT_FIELDS = {"max_run_state_bytes", "max_request_bytes", "worker_threads", "run_max_duration_days"}
_INT_FIELDS |= {"retention_days", "metrics_port", "signin_max_failures", "signin_max_failures_per_address"}
_INT_FIELDS |= {"access_token_seconds", "refresh_token_idle_days", "auth_code_seconds"}
_FLOAT_FIELDS = {"poll_initial_seconds", "poll_max_seconds", "lease_seconds", "session_hours"}
_FLOAT_FIELDS |= {"signin_window_seconds", "timers_min_interval_seconds", "auth_upstream_cache_seconds"}
_FLOAT_FIELDS |= {"header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"}
#: settings that must be a positive, finite number of seconds
_POSITIVE_FIELDS = {"header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"}
_POSITIVE_FIELDS |= {"auth_upstream_cache_seconds"}
_BOOL_FIELDS = {"emulate_globus_providers", "local_accounts", "local_admin_signin"}
_INT_FIELDS |= {"registered_api_max_response_bytes", "map_max_concurrency"}
#: settings that must be a whole number of at least 1
_AT_LEAST_ONE_FIELDS = {"map_max_concurrency"}
_FLOAT_FIELDS |= {"registered_api_deletion_days", "registered_api_timeout_seconds"}


def _convert(field: str, name: str, raw: str) -> Any:
    if field == "home":
        return Path(raw).expanduser()
    if field in _BOOL_FIELDS:
        return parse_bool(raw, name=name)
    try:
        if field in _INT_FIELDS:
            number = int(raw)
        if field in _FLOAT_FIELDS:
            value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number (got {raw!r})") from None
    if field in _INT_FIELDS:
        if field in _AT_LEAST_ONE_FIELDS and number < 1:
            raise SettingsError(f"{name} must be at least 1 (got {raw!r})")
        return number
    if field in _FLOAT_FIELDS:
        if field in _POSITIVE_FIELDS and not 0 < value < float("inf"):
            raise SettingsError(f"{name} must be a positive number of seconds (got {raw!r})")
        return value
    if field == "log_level":
        return raw.upper()
    if field == "log_format":
        if raw.lower() not in ("text", "json"):
            raise SettingsError(f"{name} must be text or json (got {raw!r})")
        return raw.lower()
    if field in ("oidc_issuer", "auth_upstream", "auth_upstream_groups") and not raw.startswith(
        ("https://", "http://")
    ):
        raise SettingsError(f"{name} must be an http(s) URL (got {raw!r})")
    return raw
