"""Helpers of the provider tests: callers, collections, and trees of files."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from openflows.providers.base import Caller, Provider
from openflows.providers.collections import Collection
from openflows.store.schema import identities

ALICE = Caller("urn:globus:auth:identity:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
BOB = Caller("urn:globus:auth:identity:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")

MakeCollection = Callable[..., Collection]
#: `bodies(name, n)`: a valid action body for the built-in provider `name` (conftest's `bodies` fixture)
Bodies = Callable[[str, int], dict[str, Any]]
#: the function the compute bodies call (a test registers it as `operator:add`)
FUNCTION_ID = "5b3e2a4c-0000-4000-8000-00000000c0de"


def add_identity(conn: sa.Connection, username: str, caller: Caller, *, now: dt.datetime) -> uuid.UUID:
    """Store the identity `username` with the id of `caller` (ALICE, BOB), so that a token made for it acts
    as that caller (and owns what that caller owns)."""
    identity_id = uuid.UUID(caller.identity.rsplit(":", 1)[1])
    conn.execute(sa.insert(identities).values(id=identity_id, username=username, created_at=now))
    return identity_id


def write_tree(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def run_action(provider: Provider, body: dict, caller: Caller = ALICE, request_id: str | None = None) -> dict:
    doc, created = provider.run({"request_id": request_id or uuid.uuid4().hex, "body": body}, caller)
    assert created
    return doc
