"""How the transfer provider copies: plan every directory and file of the items, then copy the files with a
small thread pool, every path walked beneath its collection root with directory descriptors (`beneath.py`).

Planning (`plan_item`) walks each source tree iteratively. Symbolic links met in a source tree are followed
when their target stays inside the source collection (each directory is copied once, so a link loop ends);
one that leads outside fails the task with `PATH_REFUSED`. Destination paths never go through a link.

Copying (`copy_tree`): files are grouped by directory pair (at most BATCH_FILES per batch); a batch opens its
source and destination directories from the roots, one component at a time with `O_NOFOLLOW | O_DIRECTORY`,
then for each file opens the source with `O_NOFOLLOW` relative to the source directory, writes a temporary
`.part` file (`O_EXCL | O_NOFOLLOW`) relative to the destination directory and renames it over the final
name with `renameat` on the same descriptor. A directory swapped for a symlink during the transfer is
therefore refused when the next batch opens it, never written or read through; a reader never sees a
half-written file.

Permissions: every item's source must be readable by the caller (as named and where it leads) and its
destination writable (`PERMISSION_DENIED`). A tree below a readable source is readable and one below a
writable destination writable (rules cover whole subtrees), so only the symbolic links met while planning
are checked again: one leading where the caller may not read fails the task. Only directories the caller
may write are created: a missing one above them (the parent of a file item, a parent of a rule's path)
fails the task.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import itertools
import os
import re
import stat as stat_module
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from .base import Caller
from .beneath import READ_FLAGS, PathRefused, check_depth, error_code, locate, open_dir, remove_tree, show
from .collections import Collection
from .runner import ActionCanceled

#: threads copying the files of one transfer
DEFAULT_COPY_THREADS = 4  # threads
#: bytes moved per copy_file_range / read call
CHUNK_BYTES = 8 * 1024 * 1024  # bytes
#: bytes read at once to compute a checksum
HASH_CHUNK_BYTES = 1024 * 1024  # bytes
#: files handed to a copy thread at once (fewer hand-offs and directory opens for trees of small files)
BATCH_FILES = 64  # files

_HAS_COPY_FILE_RANGE = hasattr(os, "copy_file_range")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC

Parts = tuple[str, ...]


class TransferFailed(Exception):
    """One file or directory could not be transferred: a Transfer-style code and a description."""

    def __init__(self, code: str, description: str, path: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.path = path


@dataclasses.dataclass(frozen=True, slots=True)
class FileCopy:
    """One planned file copy: the real directory (components below its root) and name of each side, and the
    collection path of each, shown in messages."""

    source_dir: Parts
    source_name: str
    destination_dir: Parts
    destination_name: str
    shown_source: str
    shown_destination: str


@dataclasses.dataclass
class Plan:
    """Every destination directory to make (parents first), every file to copy, and the destinations to
    prune afterwards."""

    directories: list[Parts] = dataclasses.field(default_factory=list)
    files: list[FileCopy] = dataclasses.field(default_factory=list)
    #: (destination directory, the names the source has there) for delete_destination_extra
    prune: list[tuple[Parts, set[str]]] = dataclasses.field(default_factory=list)
    _planned: set[Parts] = dataclasses.field(default_factory=set)

    def add_directory(self, directory: Parts) -> None:
        if directory not in self._planned:
            self._planned.add(directory)
            self.directories.append(directory)


@dataclasses.dataclass
class Progress:
    files: int = 0
    directories: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    bytes_checksummed: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    sync_level: int | None = None
    verify_checksum: bool = False
    delete_destination_extra: bool = False
    preserve_timestamp: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Roots:
    """Both collections and a descriptor of each root, open for the whole transfer, and who it is for."""

    source: Collection
    destination: Collection
    source_fd: int
    destination_fd: int
    caller: Caller

    def may_read(self, parts: Parts) -> bool:
        return self.source.allows(self.caller, parts)

    def may_write(self, parts: Parts) -> bool:
        return self.destination.allows(self.caller, parts, write=True)


def _denied(shown: str, *, write: bool) -> TransferFailed:
    verb = "write to" if write else "read"
    return TransferFailed("PERMISSION_DENIED", f"Permission denied: you may not {verb} {shown!r}", shown)


# -- planning ------------------------------------------------------------------------------------------------


def plan_item(
    roots: Roots, source_path: str, destination_path: str, recursive: bool, plan: Plan, *, prune: bool = False
) -> None:
    """Add one transfer item to `plan`; raise `TransferFailed` for a missing source or a wrong `recursive`,
    `PathRefused` for a path that leaves its collection (or goes through a link on the destination)."""
    source, destination = roots.source, roots.destination
    dst = destination.parts(destination_path)
    named = source.parts(source_path)
    if not roots.may_read(named):
        raise _denied(source.display(named), write=False)
    if not roots.may_write(dst):
        raise _denied(destination.display(dst), write=True)
    with source.locate(roots.source_fd, named, follow=True) as loc:
        if not roots.may_read(loc.parts):  # a link to a place the caller may not read
            raise _denied(source.display(named), write=False)
        try:
            st = loc.lstat()
        except FileNotFoundError:
            raise TransferFailed(
                "FILE_NOT_FOUND", f"{source_path!r} does not exist on collection {source.id}", source_path
            ) from None
        src = loc.parts
    if stat_module.S_ISDIR(st.st_mode):
        if not recursive:
            raise TransferFailed(
                "IS_A_DIRECTORY", f"{source_path!r} is a directory: set recursive to transfer it", source_path
            )
        _plan_tree(roots, src, dst, plan, prune=prune)
        return
    if destination_path.endswith("/") or _is_directory(roots, dst):
        dst_dir, dst_name = dst, src[-1]  # into a directory: keep the file's name
    else:
        dst_dir, dst_name = dst[:-1], dst[-1]
    plan.add_directory(dst_dir)
    plan.files.append(
        FileCopy(src[:-1], src[-1], dst_dir, dst_name, show(src), destination.display((*dst_dir, dst_name)))
    )


def _is_directory(roots: Roots, parts: Parts) -> bool:
    """Whether the destination `parts` is a directory (not a link to one)."""
    try:
        with roots.destination.locate(roots.destination_fd, parts, follow=False) as loc:
            return stat_module.S_ISDIR(loc.lstat().st_mode)
    except FileNotFoundError:
        return False


def _plan_tree(roots: Roots, src: Parts, dst: Parts, plan: Plan, *, prune: bool) -> None:
    """Plan the tree of the source directory `src` into `dst`, depth first with an explicit stack."""
    seen: set[tuple[int, int]] = set()
    stack = [(src, dst)]
    while stack:
        src_dir, dst_dir = stack.pop()
        check_depth(dst_dir)
        fd = open_dir(roots.source_fd, src_dir, listing=True)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in seen:  # met again through a link (a loop, or a second name)
                continue
            seen.add((st.st_dev, st.st_ino))
            plan.add_directory(dst_dir)
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
            subdirectories = []
            for entry in entries:
                child_src, is_dir = _source_entry(roots, fd, src_dir, entry)
                child_dst = (*dst_dir, entry.name)
                if is_dir:
                    subdirectories.append((child_src, child_dst))
                else:
                    plan.files.append(
                        FileCopy(
                            child_src[:-1],
                            child_src[-1],
                            dst_dir,
                            entry.name,
                            show((*src_dir, entry.name)),
                            show(child_dst),
                        )
                    )
            stack.extend(reversed(subdirectories))
            if prune:
                plan.prune.append((dst_dir, {entry.name for entry in entries}))
        finally:
            os.close(fd)


def _source_entry(roots: Roots, fd: int, directory: Parts, entry: os.DirEntry[str]) -> tuple[Parts, bool]:
    """The real path of a source entry and whether it is a directory; a link is followed if it stays in."""
    if not entry.is_symlink():
        return (*directory, entry.name), entry.is_dir(follow_symlinks=False)
    source = roots.source
    with locate(
        roots.source_fd, str(source.root), (entry.name,), follow=True, start_fd=fd, start_parts=directory
    ) as loc:
        if not roots.may_read(loc.parts):
            shown = show((*directory, entry.name))
            raise TransferFailed(
                "PERMISSION_DENIED",
                f"{shown!r} is a symbolic link to a place you may not read",
                shown,
            )
        try:
            st = loc.lstat()
        except FileNotFoundError:
            shown = show((*directory, entry.name))
            raise TransferFailed(
                "FILE_NOT_FOUND",
                f"{shown!r} is a symbolic link to nothing (its target does not exist)",
                shown,
            ) from None
        return loc.parts, stat_module.S_ISDIR(st.st_mode)


# -- copying -------------------------------------------------------------------------------------------------

_temp_names = itertools.count()
_PID = os.getpid()


def file_digest(dir_fd: int, name: str, algorithm: str = "sha256") -> str:
    """The hex digest of the regular file `name` in `dir_fd` (a link is refused, not followed)."""
    digest = hashlib.new(algorithm)
    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            raise TransferFailed("NOT_A_FILE", "is not a regular file")
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_fd(fd_in: int, fd_out: int, size: int) -> None:
    copied = 0
    if _HAS_COPY_FILE_RANGE:
        try:
            while True:
                n = os.copy_file_range(fd_in, fd_out, max(size - copied, CHUNK_BYTES))
                if n == 0:
                    return
                copied += n
                if copied >= size:  # the size fstat saw when the copy began
                    return
        except OSError as exc:
            if copied or exc.errno not in (
                errno.EXDEV,
                errno.ENOSYS,
                errno.EINVAL,
                errno.EOPNOTSUPP,
                errno.EPERM,
            ):
                raise
    while True:
        chunk = os.read(fd_in, CHUNK_BYTES)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            written = os.write(fd_out, view)
            view = view[written:]


def copy_file(src_dir: int, src_name: str, dst_dir: int, dst_name: str, *, keep_time: bool = False) -> int:
    """Copy the file `src_name` of the directory `src_dir` to `dst_name` in `dst_dir` atomically (a temporary
    name in `dst_dir`, then a rename); return the bytes copied. Nothing is opened through a link: the source
    with O_NOFOLLOW, the temporary file with O_EXCL | O_NOFOLLOW; a link at `dst_name` is replaced.
    `keep_time` gives the copy the source's access and modification times."""
    fd_in = os.open(src_name, READ_FLAGS, dir_fd=src_dir)
    try:
        st = os.fstat(fd_in)
        if not stat_module.S_ISREG(st.st_mode):
            raise TransferFailed("NOT_A_FILE", "is not a regular file")
        tmp = f".{dst_name}.{_PID}-{next(_temp_names)}.part"
        mode = stat_module.S_IMODE(st.st_mode) | 0o600
        try:
            fd_out = os.open(tmp, _WRITE_FLAGS, mode, dir_fd=dst_dir)
        except FileExistsError:  # a leftover of a process with the same pid: pick a random name
            tmp = f".{dst_name}.{uuid.uuid4().hex}.part"
            fd_out = os.open(tmp, _WRITE_FLAGS, mode, dir_fd=dst_dir)
        try:
            try:
                _copy_fd(fd_in, fd_out, st.st_size)
                if keep_time:
                    os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd_out)
            os.replace(tmp, dst_name, src_dir_fd=dst_dir, dst_dir_fd=dst_dir)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dst_dir)
            raise
        return st.st_size
    finally:
        os.close(fd_in)


def _skip(copy: FileCopy, level: int, src_dir: int, dst_dir: int) -> bool:
    """Whether `sync_level` says the destination is already up to date."""
    try:
        dst = os.stat(copy.destination_name, dir_fd=dst_dir, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat_module.S_ISREG(dst.st_mode):
        return False
    if level <= 0:
        return True
    src = os.stat(copy.source_name, dir_fd=src_dir, follow_symlinks=False)
    if level == 1:
        return src.st_size == dst.st_size
    if level == 2:
        return src.st_size == dst.st_size and int(dst.st_mtime) >= int(src.st_mtime)
    return src.st_size == dst.st_size and file_digest(src_dir, copy.source_name) == file_digest(
        dst_dir, copy.destination_name
    )


def _copy_one(copy: FileCopy, options: Options, src_dir: int, dst_dir: int) -> tuple[int, bool, int]:
    """Copy one planned file: (bytes copied, skipped, bytes checksummed); raise `TransferFailed`."""
    try:
        if options.sync_level is not None and _skip(copy, options.sync_level, src_dir, dst_dir):
            return 0, True, 0
        keep_time = options.preserve_timestamp or options.sync_level is not None
        size = copy_file(src_dir, copy.source_name, dst_dir, copy.destination_name, keep_time=keep_time)
        checked = 0
        if options.verify_checksum:
            if file_digest(src_dir, copy.source_name) != file_digest(dst_dir, copy.destination_name):
                raise TransferFailed(
                    "CHECKSUM_MISMATCH",
                    f"the checksum of {copy.shown_destination!r} differs from {copy.shown_source!r}",
                    copy.shown_destination,
                )
            checked = size
        return size, False, checked
    except TransferFailed as exc:
        if exc.path is None:
            raise TransferFailed(
                exc.code, f"{copy.shown_source!r} {exc.description}", copy.shown_source
            ) from None
        raise
    except OSError as exc:
        code, why = error_code(exc)
        if code == "IS_A_DIRECTORY":
            why = f"the destination {copy.shown_destination!r} is a directory"
        elif code == "PATH_REFUSED":
            why = "a symbolic link took its place (links are not followed)"
        raise TransferFailed(
            code, f"copying {copy.shown_source!r} to {copy.shown_destination!r}: {why}", copy.shown_source
        ) from None


def _open_directory(collection: Collection, root_fd: int, parts: Parts, **kwargs: bool) -> int:
    """`open_dir` with its failures as `TransferFailed` naming the directory."""
    shown = collection.display(parts)
    try:
        return open_dir(root_fd, parts, **kwargs)
    except PathRefused as exc:
        raise TransferFailed("PATH_REFUSED", exc.description, shown) from None
    except NotADirectoryError:
        raise TransferFailed(
            "NOT_A_DIRECTORY", f"{shown!r} (or a directory above it) exists and is not a directory", shown
        ) from None
    except OSError as exc:
        code, why = error_code(exc)
        raise TransferFailed(code, f"{shown!r}: {why}", shown) from None


def _copy_batch(
    roots: Roots, copies: list[FileCopy], options: Options, should_stop: Callable[[], bool]
) -> list[tuple[int, bool, int]]:
    """Copy files that share their source and destination directories, each opened once for the batch."""
    first = copies[0]
    src_dir = _open_directory(roots.source, roots.source_fd, first.source_dir)
    try:
        dst_dir = _open_directory(roots.destination, roots.destination_fd, first.destination_dir)
        try:
            results = []
            for copy in copies:
                if should_stop():
                    raise ActionCanceled("stopped")
                results.append(_copy_one(copy, options, src_dir, dst_dir))
            return results
        finally:
            os.close(dst_dir)
    finally:
        os.close(src_dir)


def copy_tree(
    source: Collection,
    destination: Collection,
    items: list[dict[str, Any]],
    options: Options,
    *,
    caller: Caller,
    threads: int = DEFAULT_COPY_THREADS,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    clean_partials: bool = False,
) -> Progress:
    """Transfer `items` ([{source_path, destination_path, recursive}]) between two collections for
    `caller`; return the counters. Raise `TransferFailed` (with the path and the reason) at the first
    failure, `PERMISSION_DENIED` for a path the caller may not read or write. `should_stop` is asked before
    each file.

    `clean_partials` (a transfer resumed after a crash) first removes the temporary `.part` files a killed
    process left in the destination directories."""
    source_fd = source.open_root()
    try:
        destination_fd = destination.open_root()
        try:
            roots = Roots(source, destination, source_fd, destination_fd, caller)
            return _copy_tree(roots, items, options, threads, on_progress, should_stop, clean_partials)
        finally:
            os.close(destination_fd)
    finally:
        os.close(source_fd)


def _copy_tree(
    roots: Roots,
    items: list[dict[str, Any]],
    options: Options,
    threads: int,
    on_progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool],
    clean_partials: bool,
) -> Progress:
    plan = Plan()
    for item in items:
        try:
            plan_item(
                roots,
                item["source_path"],
                item["destination_path"],
                bool(item.get("recursive")),
                plan,
                prune=options.delete_destination_extra,
            )
        except PathRefused as exc:
            raise TransferFailed("PATH_REFUSED", exc.description, item["source_path"]) from None
        except OSError as exc:
            code, why = error_code(exc)
            raise TransferFailed(code, f"{item['source_path']!r}: {why}", item["source_path"]) from None
    progress = Progress(files=len(plan.files), directories=len(plan.directories))
    if on_progress:
        on_progress(progress)
    existing: set[Parts] = set()  # directories above a writable part, seen to exist
    for directory in plan.directories:
        writable = _require_parents(roots, directory, existing)
        try:
            fd = _open_directory(
                roots.destination,
                roots.destination_fd,
                directory,
                create=writable,
                listing=clean_partials and writable,
            )
        except TransferFailed:
            if writable:
                raise
            raise _denied(roots.destination.display(directory), write=True) from None
        try:
            if clean_partials and writable:
                _remove_partials(fd)
        finally:
            os.close(fd)

    def account(results: list[tuple[int, bool, int]]) -> None:
        for size, skipped, checked in results:
            if skipped:
                progress.files_skipped += 1
            else:
                progress.files_transferred += 1
                progress.bytes_transferred += size
            progress.bytes_checksummed += checked

    batches = _batches(plan.files)
    if threads <= 1 or len(batches) <= 1:
        for copies in batches:
            account(_copy_batch(roots, copies, options, should_stop))
            if on_progress:
                on_progress(progress)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openflows-copy") as pool:
            pending: set[Future[list[tuple[int, bool, int]]]] = set()
            queue = iter(batches)
            exhausted = False
            try:
                while True:
                    while not exhausted and len(pending) < threads * 4:
                        copies = next(queue, None)
                        if copies is None:
                            exhausted = True
                            break
                        pending.add(pool.submit(_copy_batch, roots, copies, options, should_stop))
                    if not pending:
                        break
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                    for future in done:
                        account(future.result())
                    if on_progress:
                        on_progress(progress)
            finally:
                for future in pending:
                    future.cancel()
    for directory, names in plan.prune:
        _prune(roots, directory, names)
    return progress


def _require_parents(roots: Roots, directory: Parts, existing: set[Parts]) -> bool:
    """Whether the caller may write the destination `directory`. If so, and a directory above it is not
    the caller's to write, that one must exist already (only directories the caller may write are
    created); raise `PERMISSION_DENIED` if it does not."""
    if roots.may_write(()):
        return True
    first = next((i for i in range(1, len(directory) + 1) if roots.may_write(directory[:i])), None)
    if first is None:
        return False
    parent = directory[: first - 1]
    if parent not in existing:
        try:
            os.close(_open_directory(roots.destination, roots.destination_fd, parent))
        except TransferFailed:
            raise _denied(roots.destination.display(directory), write=True) from None
        existing.add(parent)
    return True


def _batches(files: list[FileCopy]) -> list[list[FileCopy]]:
    """Consecutive files with the same source and destination directories, at most BATCH_FILES a batch."""
    batches: list[list[FileCopy]] = []
    current: list[FileCopy] = []
    for copy in files:
        if current and (
            len(current) >= BATCH_FILES
            or copy.source_dir != current[0].source_dir
            or copy.destination_dir != current[0].destination_dir
        ):
            batches.append(current)
            current = []
        current.append(copy)
    if current:
        batches.append(current)
    return batches


_PARTIAL = re.compile(r"^\..+\.([0-9]+-[0-9]+|[0-9a-f]{32})\.part$")


def _remove_partials(dir_fd: int) -> None:
    """Remove the temporary files `copy_file` names (`.<name>.<pid>-<n>.part`) from one directory."""
    with os.scandir(dir_fd) as it:
        stale = [
            entry.name for entry in it if _PARTIAL.match(entry.name) and entry.is_file(follow_symlinks=False)
        ]
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


def _prune(roots: Roots, directory: Parts, keep: set[str]) -> None:
    """delete_destination_extra: remove what the source does not have from one destination directory."""
    fd = _open_directory(roots.destination, roots.destination_fd, directory, listing=True)
    try:
        with os.scandir(fd) as it:
            extra = [
                (entry.name, entry.is_dir(follow_symlinks=False)) for entry in it if entry.name not in keep
            ]
        for name, is_dir in extra:
            try:
                if is_dir:
                    remove_tree(roots.destination_fd, (*directory, name))
                else:
                    os.unlink(name, dir_fd=fd)
            except PathRefused as exc:
                raise TransferFailed("PATH_REFUSED", exc.description, show((*directory, name))) from None
            except OSError as exc:
                code, why = error_code(exc)
                shown = show((*directory, name))
                raise TransferFailed(code, f"removing {shown!r}: {why}", shown) from None
    finally:
        os.close(fd)
