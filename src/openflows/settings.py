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

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        if self.database_url is None:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / DEFAULT_DATABASE_FILE}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `OPENFLOWS_*` variables in `environ` (default `os.environ`); `overrides` win.

        Variables: OPENFLOWS_HOME, OPENFLOWS_DATABASE_URL, OPENFLOWS_PUBLIC_URL,
        OPENFLOWS_EMULATE_GLOBUS_PROVIDERS, OPENFLOWS_MAX_RUN_STATE_BYTES, OPENFLOWS_MAX_REQUEST_BYTES,
        OPENFLOWS_POLL_INITIAL_SECONDS, OPENFLOWS_POLL_MAX_SECONDS, OPENFLOWS_LEASE_SECONDS,
        OPENFLOWS_WORKER_THREADS, OPENFLOWS_RUN_MAX_DURATION_DAYS, OPENFLOWS_LOG_LEVEL, OPENFLOWS_LOG_FORMAT,
        OPENFLOWS_RETENTION_DAYS, OPENFLOWS_METRICS_PORT. An empty variable counts as unset.
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
_INT_FIELDS |= {"retention_days", "metrics_port"}
_FLOAT_FIELDS = {"poll_initial_seconds", "poll_max_seconds", "lease_seconds"}


def _convert(field: str, name: str, raw: str) -> Any:
    if field == "home":
        return Path(raw).expanduser()
    if field == "emulate_globus_providers":
        return parse_bool(raw, name=name)
    try:
        if field in _INT_FIELDS:
            return int(raw)
        if field in _FLOAT_FIELDS:
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number (got {raw!r})") from None
    if field == "log_level":
        return raw.upper()
    if field == "log_format":
        if raw.lower() not in ("text", "json"):
            raise SettingsError(f"{name} must be text or json (got {raw!r})")
        return raw.lower()
    return raw
