"""File system access beneath a collection root that no symbolic link can redirect.

`O_NOFOLLOW` on a full path only guards its last component: a directory higher up that is swapped for a
symlink between a check and a use is still followed by the kernel. So every path here is walked one component
at a time from an open directory descriptor: `openat(dir_fd, name, O_NOFOLLOW | O_DIRECTORY)` for each
directory, `O_NOFOLLOW` for the final file, and `mkdirat`, `unlinkat`, `renameat` and
`fstatat(AT_SYMLINK_NOFOLLOW)` relative to the parent's descriptor. The kernel never follows a link for us, in
any component; a directory that became a symlink is refused (`PathRefused`), never entered.

Symbolic links are followed only where a caller asks for it (reads), and then by `locate`, not by the kernel:
an absolute target must lie under the root's real path, a relative one is walked from the link's directory,
`..` may not climb above the root, and at most MAX_SYMLINKS links are expanded for one path.

Nothing here recurses: trees are walked with explicit stacks, and a path deeper than MAX_DEPTH components is
refused, so depth costs a little memory, never Python stack (or a `RecursionError`). A tree walk holds one or
two descriptors at a time (each directory is reopened from the root), whatever the depth.

What this cannot prevent: a directory that someone *moves* (renames) out of the collection while an operation
holds it open is still that directory. Moving it needs write access to its new parent, so this reaches no
place the mover could not write to already.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat as stat_module
from collections.abc import Sequence

from .base import BadActionRequest

#: deepest path (components below the root) any operation accepts
MAX_DEPTH = 1000  # components
#: symbolic links expanded while resolving one path for a read (the kernel's own limit is 40)
MAX_SYMLINKS = 40  # links

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
#: a directory only walked through: O_PATH needs no read permission (search is enough), like a path lookup
SEARCH_FLAGS = (getattr(os, "O_PATH", 0) or os.O_RDONLY) | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
#: a directory to list (scandir needs a readable descriptor)
LIST_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
#: a file to read: O_NONBLOCK so that a FIFO planted in a tree cannot block the open
READ_FLAGS = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)


class PathRefused(BadActionRequest):
    """The path is not inside its collection, goes through a symbolic link where none may be followed, or is
    too deep."""

    code = "PathRefused"


def show(parts: Sequence[str]) -> str:
    """The collection path (`/a/b`) of components below the root."""
    return "/" + "/".join(parts)


def check_depth(parts: Sequence[str]) -> None:
    """Raise `PathRefused` if `parts` is deeper than MAX_DEPTH."""
    if len(parts) > MAX_DEPTH:
        raise PathRefused(
            f"the path {show(parts[:3])}/... is {len(parts)} levels deep: at most {MAX_DEPTH} are allowed"
        )


def is_link(dir_fd: int, name: str) -> bool:
    """Whether `name` in `dir_fd` is a symbolic link (False if it is missing)."""
    try:
        return stat_module.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _link_refused(parts: Sequence[str]) -> PathRefused:
    return PathRefused(
        f"{show(parts)!r} is a symbolic link: links are not followed here (write to the real directory)"
    )


def open_child(dir_fd: int, name: str, flags: int, parts: Sequence[str], *, create: bool = False) -> int:
    """Open the directory `name` in `dir_fd` without following a link (`parts`: its path, for messages);
    with `create`, make it first if it is missing."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP) and is_link(dir_fd, name):
            raise _link_refused(parts) from None
        raise
    # the umask applies, as with mkdir -p; made meanwhile by someone else: open it, still not following a link
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o777, dir_fd=dir_fd)
    return open_child(dir_fd, name, flags, parts)


def open_dir(root_fd: int, parts: Sequence[str], *, listing: bool = False, create: bool = False) -> int:
    """A new descriptor of the directory `parts` below `root_fd`, no link followed in any component
    (`PathRefused`); `listing` opens it readable (for scandir), `create` makes missing directories."""
    check_depth(parts)
    last = len(parts) - 1
    cur, owned = root_fd, False
    try:
        for i, name in enumerate(parts):
            flags = LIST_FLAGS if listing and i == last else SEARCH_FLAGS
            fd = open_child(cur, name, flags, parts[: i + 1], create=create)
            if owned:
                os.close(cur)
            cur, owned = fd, True
        if not owned:
            cur, owned = os.open(".", LIST_FLAGS if listing else SEARCH_FLAGS, dir_fd=root_fd), True
        return cur
    except BaseException:
        if owned:
            os.close(cur)
        raise


@dataclasses.dataclass(slots=True)
class Location:
    """Where a path leads: a descriptor of its parent directory (owned: `close` it), the final name in it
    (`.` for the root itself) and the real components below the root (`()` for the root)."""

    dir_fd: int
    name: str
    parts: tuple[str, ...]

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lstat(self) -> os.stat_result:
        """The final component's status, not following a link."""
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)


def _target_parts(root_path: str, target: str) -> list[str] | None:
    """The components below the root of an absolute link target, or None if it is not under the root."""
    root = root_path.rstrip("/")
    if target == root:
        return []
    if not target.startswith(root + "/"):
        return None
    return target[len(root) + 1 :].split("/")


def locate(
    root_fd: int,
    root_path: str,
    parts: Sequence[str],
    *,
    follow: bool,
    start_fd: int | None = None,
    start_parts: tuple[str, ...] = (),
) -> Location:
    """Resolve `parts` below the root. Without `follow` (writes), no link is followed: one in a directory
    component is refused and the final component is taken as it is. With `follow` (reads), links whose
    targets stay below the root are followed, by this function, in every component; one that leads outside,
    or climbs above the root, is refused. A missing final component is returned as it is; a missing
    directory raises FileNotFoundError. `start_fd`/`start_parts` start the walk in a directory below the
    root instead of the root (to resolve a link met in a listing)."""
    check_depth(parts)
    if not follow:
        if not parts:
            return Location(os.open(".", SEARCH_FLAGS, dir_fd=root_fd), ".", ())
        return Location(open_dir(root_fd, parts[:-1]), parts[-1], tuple(parts))
    canon = list(start_parts)
    cur, owned = (root_fd, False) if start_fd is None else (start_fd, False)
    todo = list(reversed(parts))
    links = 0
    link = ""  # the last link expanded, named in messages

    def move_to(fd: int) -> None:
        nonlocal cur, owned
        if owned:
            os.close(cur)
        cur, owned = fd, True

    try:
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not canon:
                    raise PathRefused(
                        f"{link!r} is a symbolic link that leads above the root of the collection"
                    )
                canon.pop()
                move_to(open_dir(root_fd, canon))
                continue
            if todo:  # a directory to walk through
                try:
                    fd = os.open(name, SEARCH_FLAGS, dir_fd=cur)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP) or not is_link(cur, name):
                        raise
                else:
                    move_to(fd)
                    canon.append(name)
                    check_depth(canon)
                    continue
            else:  # the final component
                try:
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is None or not stat_module.S_ISLNK(st.st_mode):
                    dir_fd = cur if owned else os.open(".", SEARCH_FLAGS, dir_fd=cur)
                    owned = False  # handed over to the Location
                    return Location(dir_fd, name, (*canon, name))
            # `name` is a symbolic link: expand it
            links += 1
            link = show([*canon, name])
            if links > MAX_SYMLINKS:
                raise PathRefused(f"{link!r}: too many levels of symbolic links")
            target = os.readlink(name, dir_fd=cur)
            if target.startswith("/"):
                below = _target_parts(root_path, target)
                if below is None:
                    raise PathRefused(f"{link!r} is a symbolic link that points outside the collection")
                canon = []
                if owned:
                    os.close(cur)
                cur, owned = root_fd, False
                todo.extend(reversed(below))
            else:
                todo.extend(reversed(target.split("/")))
        # the path ended on a directory reached through `..` or a link: name it from its parent
        if not canon:
            return Location(os.open(".", SEARCH_FLAGS, dir_fd=root_fd), ".", ())
        return Location(open_dir(root_fd, canon[:-1]), canon[-1], tuple(canon))
    finally:
        if owned:
            os.close(cur)


def remove_tree(root_fd: int, parts: tuple[str, ...]) -> int:
    """Delete the directory `parts` below `root_fd` and everything in it, never following a link (a link is
    removed, not its target); return how many non-directories were removed. Iterative, post-order."""
    removed = 0
    stack: list[tuple[tuple[str, ...], bool]] = [(parts, False)]
    while stack:
        directory, emptied = stack.pop()
        if emptied:
            parent = open_dir(root_fd, directory[:-1])
            try:
                os.rmdir(directory[-1], dir_fd=parent)
            finally:
                os.close(parent)
            continue
        stack.append((directory, True))
        fd = open_dir(root_fd, directory, listing=True)
        try:
            with os.scandir(fd) as it:
                entries = list(it)
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    child = (*directory, entry.name)
                    check_depth(child)
                    stack.append((child, False))
                else:
                    os.unlink(entry.name, dir_fd=fd)
                    removed += 1
        finally:
            os.close(fd)
    return removed


_ERROR_CODES = {
    errno.ENOENT: "FILE_NOT_FOUND",
    errno.EACCES: "PERMISSION_DENIED",
    errno.EPERM: "PERMISSION_DENIED",
    errno.ENOSPC: "NO_SPACE_LEFT",
    errno.EISDIR: "IS_A_DIRECTORY",
    errno.ENOTDIR: "NOT_A_DIRECTORY",
    errno.ENOTEMPTY: "DIRECTORY_NOT_EMPTY",
    errno.ELOOP: "PATH_REFUSED",
}


def error_code(exc: OSError) -> tuple[str, str]:
    """A Transfer-style code (`FILE_NOT_FOUND`, `PERMISSION_DENIED`, ...) and the reason of an OS error."""
    return _ERROR_CODES.get(exc.errno or 0, "OS_ERROR"), exc.strerror or str(exc)
