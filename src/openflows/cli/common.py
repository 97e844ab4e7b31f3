"""Helpers shared by the `openflows` commands: settings, the migrated database, JSON output, one-line errors.

Heavy modules (SQLAlchemy, the store) are imported inside the functions: `openflows --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from ..settings import Settings, SettingsError

if TYPE_CHECKING:
    from ..store.db import Database


class CLIError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the OPENFLOWS_* environment variables, with `overrides` (None values ignored) on top."""
    return Settings.from_env(**overrides)


@contextmanager
def open_database(settings: Settings, *, migrate: bool = True) -> Iterator[Database]:
    """The settings' database, created or migrated to the current schema first (unless `migrate` is
    False).
    """
    from ..store.db import Database
    from ..store.migrate import upgrade

    assert settings.database_url is not None
    db = Database(settings.database_url)
    try:
        if migrate:
            upgrade(db)
        yield db
    finally:
        db.dispose()


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(value: Any) -> None:
    """Print `value` as one line of JSON on stdout (UUIDs and datetimes as strings)."""
    typer.echo(json.dumps(value, default=_json_default, separators=(",", ":"), sort_keys=False))


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `Error: message` on stderr and exit with `code`."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn the errors a user can act on (settings, database, CLIError) into one line on stderr and exit
    1.
    """
    from ..store.errors import StoreError

    try:
        yield
    except (CLIError, SettingsError, StoreError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
