"""Errors of the store layer; `store.db` translates driver errors into these once, keeping `__cause__`.

Each class's docstring is its default message, so most errors need no text of their own.
"""

from __future__ import annotations


class StoreError(Exception):
    """The database failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])

    @property
    def message(self) -> str:
        """The message for people."""
        return str(self.args[0])


class Busy(StoreError):
    """The database is busy (locked, serialization failure or deadlock); the transaction may be retried."""


class Unavailable(StoreError):
    """The database cannot be reached; check the database URL and that the server is running."""


class Conflict(StoreError):
    """The change conflicts with data already in the database."""

    def __init__(self, message: str | None = None, *, constraint_name: str | None = None) -> None:
        super().__init__(message)
        #: name of the violated constraint (schema naming convention, e.g. "uq_identities_username"), if known
        self.constraint_name = constraint_name


class UniqueViolation(Conflict):
    """A row with the same unique key already exists."""


class ForeignKeyViolation(Conflict):
    """The row refers to a row that does not exist, or is still referred to."""


class InvalidValue(StoreError):
    """The database refused a value as invalid data (e.g. text holding a NUL character or an unpaired
    surrogate); retrying the same value cannot help."""


class NotFound(StoreError):
    """The row does not exist."""


class ConcurrentUpdate(StoreError):
    """The row changed since it was read (optimistic `version` check failed); reload and retry."""


class MigrationError(StoreError):
    """The database schema could not be brought up to date."""
