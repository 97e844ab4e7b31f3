"""Named database operations on local collections (`collections` table) and registered compute functions
(`compute_functions` table): what the administrator manages with `openflows collections|functions ...`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa

from .schema import collections, compute_functions


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionRow:
    id: uuid.UUID
    name: str
    root: Path
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionRow:
    id: uuid.UUID
    target: str
    created_at: dt.datetime


def add_collection(
    conn: sa.Connection, *, collection_id: uuid.UUID, name: str, root: Path, now: dt.datetime
) -> CollectionRow:
    """Insert or replace the collection `collection_id` (root: an absolute, resolved directory)."""
    conn.execute(sa.delete(collections).where(collections.c.id == collection_id))
    conn.execute(sa.insert(collections).values(id=collection_id, name=name, root=str(root), created_at=now))
    return CollectionRow(collection_id, name, root, now)


def get_collection(conn: sa.Connection, collection_id: uuid.UUID) -> CollectionRow | None:
    row = conn.execute(sa.select(collections).where(collections.c.id == collection_id)).one_or_none()
    return None if row is None else CollectionRow(row.id, row.name, Path(row.root), row.created_at)


def list_collections(conn: sa.Connection) -> list[CollectionRow]:
    rows = conn.execute(sa.select(collections).order_by(collections.c.name, collections.c.id))
    return [CollectionRow(row.id, row.name, Path(row.root), row.created_at) for row in rows]


def remove_collection(conn: sa.Connection, collection_id: uuid.UUID) -> bool:
    return bool(conn.execute(sa.delete(collections).where(collections.c.id == collection_id)).rowcount)


def register_function(
    conn: sa.Connection, *, function_id: uuid.UUID, target: str, now: dt.datetime
) -> FunctionRow:
    """Insert or replace the compute function `function_id` (`module:callable`)."""
    conn.execute(sa.delete(compute_functions).where(compute_functions.c.id == function_id))
    conn.execute(sa.insert(compute_functions).values(id=function_id, target=target, created_at=now))
    return FunctionRow(function_id, target, now)


def get_function(conn: sa.Connection, function_id: uuid.UUID) -> FunctionRow | None:
    row = conn.execute(
        sa.select(compute_functions).where(compute_functions.c.id == function_id)
    ).one_or_none()
    return None if row is None else FunctionRow(row.id, row.target, row.created_at)


def list_functions(conn: sa.Connection) -> list[FunctionRow]:
    rows = conn.execute(sa.select(compute_functions).order_by(compute_functions.c.target))
    return [FunctionRow(row.id, row.target, row.created_at) for row in rows]


def remove_function(conn: sa.Connection, function_id: uuid.UUID) -> bool:
    return bool(
        conn.execute(sa.delete(compute_functions).where(compute_functions.c.id == function_id)).rowcount
    )
