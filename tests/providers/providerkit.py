"""Helpers of the provider tests: callers, collections, and trees of files."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from openflows.providers.base import Caller, Provider
from openflows.providers.collections import Collection

ALICE = Caller("urn:globus:auth:identity:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
BOB = Caller("urn:globus:auth:identity:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")

MakeCollection = Callable[..., Collection]


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
