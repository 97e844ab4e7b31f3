"""Local collections: a collection id (the `endpoint` of a Transfer-shaped request) names a root directory,
and every path a provider touches must resolve inside it.

Path rules (`Collection.resolve`):
- `/`, `/~/`, `~/` and a relative path all start at the root (a collection has no path above its root);
- a `..` component, a NUL character, and a path whose real location (symlinks resolved with
  `os.path.realpath`) lies outside the root are refused with `PathRefused` (a 400 `BadActionRequest`);
- the resolved, real path is what providers then open. While copying or walking trees, providers open files
  with `O_NOFOLLOW` and re-check symlinks they meet (`Collection.check_inside`), so a symlink swapped in after
  the check is not followed out of the root.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

from ..store.collections import get_collection
from ..store.db import Database
from .base import BadActionRequest


class PathRefused(BadActionRequest):
    """The path is not inside its collection."""

    code = "PathRefused"


class UnknownCollection(BadActionRequest):
    """No local collection has this id."""

    code = "UnknownCollection"


@dataclasses.dataclass(frozen=True, slots=True)
class Collection:
    """A local collection: an id, a name and a real, absolute root directory."""

    id: uuid.UUID
    name: str
    root: Path

    def resolve(self, path: str) -> Path:
        """The real path inside the root that `path` names; raise `PathRefused` if it escapes."""
        if not isinstance(path, str):
            raise PathRefused(f"a path must be a string, not {type(path).__name__}")
        if "\x00" in path:
            raise PathRefused(f"the path {path!r} contains a NUL character")
        text = path.strip()
        if text in ("~", "/~"):
            text = ""
        for prefix in ("/~/", "~/", "/"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise PathRefused(f"the path {path!r} contains '..': paths must stay inside collection {self.id}")
        candidate = os.path.join(self.root, *parts) if parts else str(self.root)
        real = Path(os.path.realpath(candidate))
        self.check_inside(real, path)
        return real

    def check_inside(self, real: Path | str, shown: str | None = None) -> None:
        """Raise `PathRefused` unless the real path `real` is the root or inside it."""
        real_text = str(real)
        root = str(self.root)
        if real_text != root and not real_text.startswith(root.rstrip(os.sep) + os.sep):
            raise PathRefused(
                f"the path {shown if shown is not None else real_text!r} resolves outside collection "
                f"{self.id} (symbolic links may not point out of a collection)"
            )

    def display(self, real: Path | str) -> str:
        """The collection path (`/a/b`) of a real path inside the root."""
        rel = os.path.relpath(str(real), str(self.root))
        return "/" if rel == "." else "/" + rel.replace(os.sep, "/")


def load_collection(db: Database, collection_id: object, *, field: str = "endpoint") -> Collection:
    """The collection named by `collection_id`; raise `UnknownCollection` if there is none."""
    try:
        key = uuid.UUID(str(collection_id))
    except ValueError:
        raise UnknownCollection(f"{field} {collection_id!r} is not a collection id (a UUID)") from None
    with db.read() as conn:
        row = get_collection(conn, key)
    if row is None:
        raise UnknownCollection(
            f"{field} {key} is not a local collection (add it with `openflows collections add`)"
        )
    return Collection(row.id, row.name, Path(os.path.realpath(row.root)))
