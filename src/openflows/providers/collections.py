"""Local collections: a collection id (the `endpoint` of a Transfer-shaped request) names a root directory,
and every path a provider touches must stay inside it.

Path rules (`Collection.parts`, then `Collection.locate`):
- `/`, `/~/`, `~/` and a relative path all start at the root (a collection has no path above its root);
- a `..` component, a NUL character and a path deeper than `beneath.MAX_DEPTH` components are refused with
  `PathRefused` (a 400 `BadActionRequest`);
- the path is then walked from a descriptor of the root, one component at a time, never letting the kernel
  follow a symbolic link (`beneath.py`). Reads (ls, stat, a transfer's source) follow links whose target stays
  inside the collection; writes (mkdir, delete, a transfer's destination) follow none, and refuse a path that
  goes through one.

Who may do what (`Collection.allows`, shared/collection_access.py): the owner everything, others what the
access rules grant them. A read needs the permission on the path as named *and* on where it leads (a link
to a place the caller may not read is refused), a write on the path (writes follow no link). A refusal names
only the path the caller gave, and is decided before the file system is looked at, so it tells nothing
about what the caller may not read (not even whether the path exists).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..shared.collection_access import Access
from ..store.collections import collection_access, get_collection
from ..store.db import Database
from .base import BadActionRequest, Caller, ForbiddenRequest
from .beneath import MAX_DEPTH, SEARCH_FLAGS, Location, PathRefused, locate, show

__all__ = ["Collection", "PathRefused", "PermissionDenied", "UnknownCollection", "load_collection"]


class PermissionDenied(ForbiddenRequest):
    """The caller may not read (or write) this path of the collection."""

    code = "PermissionDenied"


class UnknownCollection(BadActionRequest):
    """No local collection has this id."""

    code = "UnknownCollection"


@dataclasses.dataclass(frozen=True, slots=True)
class Collection:
    """A local collection: an id, a name, a real, absolute root directory, and who may use it."""

    id: uuid.UUID
    name: str
    root: Path
    access: Access = Access(owner=None)

    def parts(self, path: str) -> tuple[str, ...]:
        """The components below the root that `path` names (lexically); raise `PathRefused` for `..`, a NUL
        character or more than MAX_DEPTH components."""
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
        parts = tuple(part for part in text.split("/") if part not in ("", "."))
        if ".." in parts:
            raise PathRefused(f"the path {path!r} contains '..': paths must stay inside collection {self.id}")
        if len(parts) > MAX_DEPTH:
            raise PathRefused(
                f"the path {path[:40]!r}... is {len(parts)} levels deep: at most {MAX_DEPTH} are allowed"
            )
        return parts

    def open_root(self) -> int:
        """A descriptor of the root directory (the caller closes it); PathRefused if it is gone."""
        try:
            return os.open(self.root, SEARCH_FLAGS)
        except NotADirectoryError:
            raise PathRefused(f"the root of collection {self.id} is not a directory") from None
        except FileNotFoundError:
            raise PathRefused(f"the root of collection {self.id} does not exist") from None

    def locate(self, root_fd: int, parts: Sequence[str], *, follow: bool) -> Location:
        """Where `parts` leads below the root open as `root_fd` (see `beneath.locate`): with `follow`, links
        that stay inside are followed; without, a link in a directory component is refused."""
        return locate(root_fd, str(self.root), parts, follow=follow)

    def allows(self, caller: Caller, parts: Sequence[str], *, write: bool = False) -> bool:
        """Whether `caller` may read (with `write`: write) the path `parts` (components below the root)."""
        return self.access.allows(caller.principals, parts, write=write)

    def denied(self, parts: Sequence[str], *, write: bool) -> PermissionDenied:
        """The refusal of `parts` (the path as the caller named it)."""
        verb = "write to" if write else "read"
        return PermissionDenied(
            f"Permission denied: you may not {verb} {self.display(parts)!r} on collection {self.id}"
        )

    def require(self, caller: Caller, parts: Sequence[str], *, write: bool = False) -> None:
        """Raise `PermissionDenied` unless `caller` may read (with `write`: write) `parts`."""
        if not self.allows(caller, parts, write=write):
            raise self.denied(parts, write=write)

    def check(self, path: str, *, follow: bool, caller: Caller, write: bool = False) -> tuple[str, ...]:
        """Refuse `path` now if it cannot be used (see `locate`) or `caller` may not read it (with `write`:
        write it); return its components. A missing path is fine: the operation decides what that means.

        The permission on the path as named is checked first, before anything on disk is looked at; with
        `follow`, the place the path leads to must be readable too."""
        parts = self.parts(path)
        self.require(caller, parts, write=write)
        root_fd = self.open_root()
        try:
            with self.locate(root_fd, parts, follow=follow) as loc:
                if loc.parts != parts and not self.allows(caller, loc.parts, write=write):
                    raise self.denied(parts, write=write)
        except OSError:
            pass  # a missing or unreadable directory: reported by the operation itself
        finally:
            os.close(root_fd)
        return parts

    def display(self, parts: Sequence[str]) -> str:
        """The collection path (`/a/b`) of components below the root."""
        return show(parts)


def caller_groups(caller: Caller) -> list[str]:
    """The caller's groups, as kept in a background action's state for its work (`state_caller`)."""
    return list(caller.groups)


def state_caller(creator_id: str, state: dict[str, Any]) -> Caller:
    """Who a background action acts for: its creator, with the groups it had when the action started."""
    groups = state.get("caller_groups") or []
    return Caller(identity=creator_id, groups=tuple(str(group) for group in groups))


def load_collection(db: Database, collection_id: object, *, field: str = "endpoint") -> Collection:
    """The collection named by `collection_id`; raise `UnknownCollection` if there is none."""
    try:
        key = uuid.UUID(str(collection_id))
    except ValueError:
        raise UnknownCollection(f"{field} {collection_id!r} is not a collection id (a UUID)") from None
    with db.read() as conn:
        row = get_collection(conn, key)
        access = None if row is None else collection_access(conn, row)
    if row is None or access is None:
        raise UnknownCollection(
            f"{field} {key} is not a local collection (add it with `openflows collections add`)"
        )
    return Collection(row.id, row.name, Path(os.path.realpath(row.root)), access)
