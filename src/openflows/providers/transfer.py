"""The built-in `transfer` provider: copies files between local collections in the background, with the
inputs and the task document of the hosted Transfer action providers.

Inputs (both shapes):
- current (`https://transfer.actions.globus.org/transfer`): `source_endpoint`, `destination_endpoint`,
  `DATA: [{source_path, destination_path, recursive}]`, `label`, `sync_level`, `verify_checksum`,
  `delete_destination_extra`, `preserve_timestamp`;
- legacy (`https://actions.globus.org/transfer/transfer`): `source_endpoint_id`, `destination_endpoint_id`,
  `transfer_items: [{source_path, destination_path, recursive}]`, and the same options.

How it copies (`copy_tree`): the items are planned first (every file and directory, symlinks resolved and
checked to stay inside the source collection), then files are copied by a small thread pool. Each file is
written to a temporary name in its destination directory (`O_EXCL | O_NOFOLLOW`) and renamed over the
destination, so a reader never sees a half-written file. `sync_level` skips files that are already there
(0: exists, 1: same size, 2: destination not older, 3: same checksum); `verify_checksum` re-reads both
sides after the copy and compares SHA-256 digests; `delete_destination_extra` removes what the source does
not have under a recursive item. A failure stops the task: the action is FAILED and `details.fatal_error`
names the path and the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import itertools
import os
import re
import shutil
import stat as stat_module
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from .base import BadActionRequest, Caller
from .collections import Collection, PathRefused, load_collection
from .filesystem import TRANSFER_AP_SCOPE, transfer_urls
from .runner import ActionCanceled, Job
from .stored import Outcome, StoredProvider, iso, optional_bool

#: threads copying the files of one transfer
DEFAULT_COPY_THREADS = 4  # threads
#: bytes moved per copy_file_range / read call
CHUNK_BYTES = 8 * 1024 * 1024  # bytes
#: files above this size are copied with sendfile/copy_file_range loops; below, one call usually suffices
HASH_CHUNK_BYTES = 1024 * 1024  # bytes

#: files handed to a copy thread at once (fewer hand-offs for trees of small files)
BATCH_FILES = 64  # files

_HAS_COPY_FILE_RANGE = hasattr(os, "copy_file_range")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class TransferFailed(Exception):
    """One file or directory could not be transferred: a Transfer-style code and a description."""

    def __init__(self, code: str, description: str, path: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.path = path


@dataclasses.dataclass(frozen=True, slots=True)
class FileCopy:
    """One planned file copy: real source and destination paths (strings: this is the hot loop), and the
    collection path of each, shown in messages."""

    source: str
    destination: str
    shown_source: str
    shown_destination: str


@dataclasses.dataclass
class Plan:
    """Every directory to create and file to copy, and the destinations to prune afterwards."""

    directories: list[str] = dataclasses.field(default_factory=list)
    files: list[FileCopy] = dataclasses.field(default_factory=list)
    #: (destination directory, the names the source has there) for delete_destination_extra
    prune: list[tuple[str, set[str]]] = dataclasses.field(default_factory=list)


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


# -- planning ------------------------------------------------------------------------------------------------


def plan_item(
    source: Collection,
    destination: Collection,
    source_path: str,
    destination_path: str,
    recursive: bool,
    plan: Plan,
    *,
    prune: bool = False,
) -> None:
    """Add one transfer item to `plan`; raise `TransferFailed` for a missing source or a wrong `recursive`."""
    src = source.resolve(source_path)
    dst = destination.resolve(destination_path)
    if not os.path.exists(src):
        raise TransferFailed(
            "FILE_NOT_FOUND", f"{source_path!r} does not exist on collection {source.id}", source_path
        )
    if src.is_dir():
        if not recursive:
            raise TransferFailed(
                "IS_A_DIRECTORY", f"{source_path!r} is a directory: set recursive to transfer it", source_path
            )
        _plan_tree(
            source,
            str(src),
            source.display(src),
            str(dst),
            destination.display(dst),
            plan,
            prune=prune,
            seen=set(),
        )
    else:
        if destination_path.endswith("/") or dst.is_dir():
            dst = dst / src.name  # into a directory: keep the file's name
        plan.files.append(FileCopy(str(src), str(dst), source.display(src), destination.display(dst)))


def _join(shown: str, name: str) -> str:
    return f"{shown.rstrip('/')}/{name}"


def _plan_tree(
    source: Collection,
    src: str,
    shown_src: str,
    dst: str,
    shown_dst: str,
    plan: Plan,
    *,
    prune: bool,
    seen: set[tuple[int, int]],
) -> None:
    st = os.stat(src)
    key = (st.st_dev, st.st_ino)
    if key in seen:  # a symlink loop inside the collection
        return
    seen.add(key)
    plan.directories.append(dst)
    names: set[str] = set()
    files = plan.files
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        names.add(name)
        child = entry.path
        shown_child = _join(shown_src, name)
        if entry.is_symlink():
            child = os.path.realpath(child)
            source.check_inside(child, shown_child)
            is_dir = os.path.isdir(child)
        else:
            is_dir = entry.is_dir(follow_symlinks=False)
        if is_dir:
            _plan_tree(
                source,
                child,
                shown_child,
                f"{dst}/{name}",
                _join(shown_dst, name),
                plan,
                prune=prune,
                seen=seen,
            )
        else:
            files.append(FileCopy(child, f"{dst}/{name}", shown_child, _join(shown_dst, name)))
    if prune:
        plan.prune.append((dst, names))


# -- copying -------------------------------------------------------------------------------------------------

_temp_names = itertools.count()
_PID = os.getpid()


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file (opened without following a final symlink)."""
    digest = hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
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


def copy_file(src: str | Path, dst: str | Path) -> int:
    """Copy `src` to `dst` atomically (a temporary name in dst's directory, then a rename); return the bytes
    copied. The source is opened with O_NOFOLLOW, the temporary file with O_EXCL | O_NOFOLLOW."""
    src, dst = str(src), str(dst)
    fd_in = os.open(src, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    try:
        st = os.fstat(fd_in)
        if not stat_module.S_ISREG(st.st_mode):
            raise TransferFailed("NOT_A_FILE", "is not a regular file")
        head, _, name = dst.rpartition("/")
        tmp = f"{head}/.{name}.{_PID}-{next(_temp_names)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        mode = stat_module.S_IMODE(st.st_mode) | 0o600
        try:
            fd_out = os.open(tmp, flags, mode)
        except FileExistsError:  # a leftover of a process with the same pid: pick a random name
            tmp = f"{head}/.{name}.{uuid.uuid4().hex}.part"
            fd_out = os.open(tmp, flags, mode)
        try:
            try:
                _copy_fd(fd_in, fd_out, st.st_size)
            finally:
                os.close(fd_out)
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return st.st_size
    finally:
        os.close(fd_in)


def _skip(copy: FileCopy, level: int) -> bool:
    """Whether `sync_level` says the destination is already up to date."""
    try:
        dst = os.stat(copy.destination)
    except FileNotFoundError:
        return False
    if not stat_module.S_ISREG(dst.st_mode):
        return False
    if level <= 0:
        return True
    src = os.stat(copy.source)
    if level == 1:
        return src.st_size == dst.st_size
    if level == 2:
        return src.st_size == dst.st_size and int(dst.st_mtime) >= int(src.st_mtime)
    return src.st_size == dst.st_size and file_digest(copy.source) == file_digest(copy.destination)


def _reason(exc: OSError) -> tuple[str, str]:
    codes = {
        errno.ENOENT: "FILE_NOT_FOUND",
        errno.EACCES: "PERMISSION_DENIED",
        errno.EPERM: "PERMISSION_DENIED",
        errno.ENOSPC: "NO_SPACE_LEFT",
        errno.EISDIR: "IS_A_DIRECTORY",
        errno.ENOTDIR: "NOT_A_DIRECTORY",
        errno.ELOOP: "SYMLINK_REFUSED",
    }
    return codes.get(exc.errno or 0, "OS_ERROR"), exc.strerror or str(exc)


def _copy_one(copy: FileCopy, options: Options) -> tuple[int, bool, int]:
    """Copy one planned file: (bytes copied, skipped, bytes checksummed); raise `TransferFailed`."""
    try:
        if options.sync_level is not None and _skip(copy, options.sync_level):
            return 0, True, 0
        size = copy_file(copy.source, copy.destination)
        if options.preserve_timestamp or options.sync_level is not None:
            st = os.stat(copy.source)
            os.utime(copy.destination, ns=(st.st_atime_ns, st.st_mtime_ns))
        checked = 0
        if options.verify_checksum:
            if file_digest(copy.source) != file_digest(copy.destination):
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
        code, why = _reason(exc)
        if code == "IS_A_DIRECTORY":
            why = f"the destination {copy.shown_destination!r} is a directory"
        raise TransferFailed(
            code, f"copying {copy.shown_source!r} to {copy.shown_destination!r}: {why}", copy.shown_source
        ) from None


def copy_tree(
    source: Collection,
    destination: Collection,
    items: list[dict[str, Any]],
    options: Options,
    *,
    threads: int = DEFAULT_COPY_THREADS,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    clean_partials: bool = False,
) -> Progress:
    """Transfer `items` ([{source_path, destination_path, recursive}]) between two collections; return the
    counters. Raise `TransferFailed` (with the path and the reason) at the first failure.

    `clean_partials` (a transfer resumed after a crash) first removes the temporary `.part` files a killed
    process left in the destination directories."""
    plan = Plan()
    for item in items:
        try:
            plan_item(
                source,
                destination,
                item["source_path"],
                item["destination_path"],
                bool(item.get("recursive")),
                plan,
                prune=options.delete_destination_extra,
            )
        except PathRefused as exc:
            raise TransferFailed("PATH_REFUSED", exc.description, item["source_path"]) from None
        except OSError as exc:
            code, why = _reason(exc)
            raise TransferFailed(code, f"{item['source_path']!r}: {why}", item["source_path"]) from None
    progress = Progress(files=len(plan.files), directories=len(plan.directories))
    if on_progress:
        on_progress(progress)
    checked_dirs: set[str] = set()
    for directory in plan.directories:
        _make_directory(destination, directory, checked_dirs)
    for copy in plan.files:
        parent = copy.destination.rpartition("/")[0]
        if parent not in checked_dirs:
            _make_directory(destination, parent, checked_dirs)
    if clean_partials:
        for directory in checked_dirs:
            _remove_partials(directory)

    def batch(copies: list[FileCopy]) -> list[tuple[int, bool, int]]:
        results = []
        for copy in copies:
            if should_stop():
                raise ActionCanceled("stopped")
            results.append(_copy_one(copy, options))
        return results

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
            account(batch(copies))
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
                        pending.add(pool.submit(batch, copies))
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
        _prune(directory, names)
    return progress


def _batches(files: list[FileCopy]) -> list[list[FileCopy]]:
    """Files grouped for the pool: about BATCH_BYTES or BATCH_FILES per group (a big file alone)."""
    batches: list[list[FileCopy]] = []
    current: list[FileCopy] = []
    for copy in files:
        current.append(copy)
        if len(current) >= BATCH_FILES:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def _make_directory(destination: Collection, directory: str, checked: set[str]) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise TransferFailed(
            "NOT_A_DIRECTORY",
            f"the destination {destination.display(directory)!r} exists and is not a directory",
            destination.display(directory),
        ) from None
    except OSError as exc:
        code, why = _reason(exc)
        raise TransferFailed(code, f"{destination.display(directory)!r}: {why}") from None
    try:
        destination.check_inside(os.path.realpath(directory), destination.display(directory))
    except PathRefused as exc:
        raise TransferFailed("PATH_REFUSED", exc.description, destination.display(directory)) from None
    checked.add(directory)


_PARTIAL = re.compile(r"^\..+\.([0-9]+-[0-9]+|[0-9a-f]{32})\.part$")


def _remove_partials(directory: str) -> None:
    """Remove the temporary files `copy_file` names (`.<name>.<pid>-<n>.part`) from one directory."""
    with os.scandir(directory) as it:
        stale = [
            entry.path for entry in it if _PARTIAL.match(entry.name) and entry.is_file(follow_symlinks=False)
        ]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _prune(directory: str, keep: set[str]) -> None:
    with os.scandir(directory) as it:
        extra = [entry for entry in it if entry.name not in keep]
    for entry in extra:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


# -- the provider --------------------------------------------------------------------------------------------


class TransferProvider(StoredProvider):
    """Transfer files between local collections (Transfer task semantics)."""

    name = "transfer"
    hosted_urls = transfer_urls("transfer")
    title = "Transfer"
    subtitle = "Copy files between local collections"
    description = (
        "Copies files and directories between local collections in the background, atomically per file, "
        "with Transfer's options (sync_level, verify_checksum, delete_destination_extra)."
    )
    keywords = ("transfer", "copy", "files")
    globus_auth_scope = TRANSFER_AP_SCOPE
    synchronous = False
    background = True
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "source_endpoint": {"type": "string"},
            "destination_endpoint": {"type": "string"},
            "DATA": {"type": "array"},
            "source_endpoint_id": {"type": "string"},
            "destination_endpoint_id": {"type": "string"},
            "transfer_items": {"type": "array"},
            "label": {"type": "string"},
            "sync_level": {"type": ["integer", "string"]},
            "verify_checksum": {"type": "boolean"},
            "delete_destination_extra": {"type": "boolean"},
            "preserve_timestamp": {"type": "boolean"},
        },
    }

    def __init__(self, *args: Any, copy_threads: int = DEFAULT_COPY_THREADS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.copy_threads = copy_threads

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        source_id = body.get("source_endpoint", body.get("source_endpoint_id"))
        destination_id = body.get("destination_endpoint", body.get("destination_endpoint_id"))
        if source_id is None or destination_id is None:
            raise BadActionRequest(
                "source_endpoint and destination_endpoint (or source_endpoint_id and "
                "destination_endpoint_id) are required"
            )
        source = load_collection(self.db, source_id, field="source_endpoint")
        destination = load_collection(self.db, destination_id, field="destination_endpoint")
        raw = body.get("DATA", body.get("transfer_items"))
        if not isinstance(raw, list) or not raw:
            raise BadActionRequest("DATA (or transfer_items) must be a non-empty list of transfer items")
        items = []
        for item in raw:
            if not isinstance(item, dict):
                raise BadActionRequest("each transfer item must be an object")
            src, dst = item.get("source_path"), item.get("destination_path")
            if not isinstance(src, str) or not isinstance(dst, str):
                raise BadActionRequest("each transfer item needs source_path and destination_path strings")
            recursive = item.get("recursive", False)
            if recursive is None:
                recursive = False
            if not isinstance(recursive, bool):
                raise BadActionRequest("recursive must be true or false")
            source.resolve(src)
            destination.resolve(dst)
            items.append({"source_path": src, "destination_path": dst, "recursive": recursive})
        return {
            "source": str(source.id),
            "destination": str(destination.id),
            "items": items,
            "sync_level": _sync_level(body.get("sync_level")),
            "verify_checksum": optional_bool(body, "verify_checksum"),
            "delete_destination_extra": optional_bool(body, "delete_destination_extra"),
            "preserve_timestamp": optional_bool(body, "preserve_timestamp"),
            "task_id": str(uuid.uuid4()),
        }

    def initial_details(self, body: dict[str, Any], state: dict[str, Any], now: dt.datetime) -> Any:
        return task_document(body, state, "ACTIVE", "Queued", Progress(), request_time=iso(now))

    def work(self, job: Job) -> Outcome:
        body, state = job.body, job.state
        request_time = iso(job.row["start_time"])
        started = time.monotonic()
        options = Options(
            sync_level=state.get("sync_level"),
            verify_checksum=bool(state.get("verify_checksum")),
            delete_destination_extra=bool(state.get("delete_destination_extra")),
            preserve_timestamp=bool(state.get("preserve_timestamp")),
        )
        last = Progress()

        def report(progress: Progress) -> None:
            nonlocal last
            last = progress
            job.progress(
                task_document(
                    body, state, "ACTIVE", "OK", progress, request_time=request_time, started=started
                )
            )

        try:
            source = load_collection(self.db, state["source"], field="source_endpoint")
            destination = load_collection(self.db, state["destination"], field="destination_endpoint")
            progress = copy_tree(
                source,
                destination,
                state["items"],
                options,
                threads=self.copy_threads,
                on_progress=report,
                should_stop=job.canceled.is_set,
                clean_partials=job.recovered,
            )
        except TransferFailed as exc:
            fatal = {"code": exc.code, "description": exc.description, "path": exc.path}
            doc = task_document(
                body, state, "FAILED", exc.code, last, request_time=request_time, started=started, fatal=fatal
            )
            return Outcome.failed(doc)
        except BadActionRequest as exc:  # the collection was removed meanwhile
            fatal = {"code": exc.code, "description": exc.description, "path": None}
            doc = task_document(
                body, state, "FAILED", exc.code, last, request_time=request_time, started=started, fatal=fatal
            )
            return Outcome.failed(doc)
        doc = task_document(
            body, state, "SUCCEEDED", None, progress, request_time=request_time, started=started, done=True
        )
        return Outcome.succeeded(doc)


def _sync_level(value: Any) -> int | None:
    if value is None:
        return None
    names = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise BadActionRequest("sync_level must be 0, 1, 2 or 3 (exists, size, mtime, checksum)")
    return value


def task_document(
    body: dict[str, Any],
    state: dict[str, Any],
    status: str,
    nice_status: str | None,
    progress: Progress,
    *,
    request_time: str | None,
    started: float | None = None,
    fatal: dict[str, Any] | None = None,
    done: bool = False,
) -> dict[str, Any]:
    """Transfer's task document for this transfer (the fields flows read from `details`)."""
    elapsed = max(time.monotonic() - started, 1e-6) if started is not None else None
    finished = done or fatal is not None
    succeeded = progress.files_transferred + progress.files_skipped + (progress.directories if done else 0)
    total = progress.files + progress.directories
    return {
        "DATA_TYPE": "task",
        "type": "TRANSFER",
        "task_id": state["task_id"],
        "status": status,
        "nice_status": nice_status,
        "label": body.get("label"),
        "source_endpoint_id": state["source"],
        "destination_endpoint_id": state["destination"],
        "source_endpoint_display_name": None,
        "destination_endpoint_display_name": None,
        "request_time": request_time,
        "completion_time": iso(dt.datetime.now(dt.UTC)) if finished else None,
        "deadline": None,
        "sync_level": state.get("sync_level"),
        "verify_checksum": bool(state.get("verify_checksum")),
        "delete_destination_extra": bool(state.get("delete_destination_extra")),
        "preserve_timestamp": bool(state.get("preserve_timestamp")),
        "encrypt_data": False,
        "files": progress.files,
        "directories": progress.directories,
        "files_transferred": progress.files_transferred,
        "files_skipped": progress.files_skipped,
        "bytes_transferred": progress.bytes_transferred,
        "bytes_checksummed": progress.bytes_checksummed,
        "effective_bytes_per_second": int(progress.bytes_transferred / elapsed) if elapsed else 0,
        "subtasks_total": total,
        "subtasks_succeeded": succeeded,
        "subtasks_pending": 0 if finished else max(total - succeeded, 0),
        "subtasks_failed": 1 if fatal else 0,
        "subtasks_canceled": 0,
        "subtasks_expired": 0,
        "subtasks_retrying": 0,
        "subtasks_skipped_errors": 0,
        "is_ok": fatal is None,
        "fatal_error": fatal,
        "faults": 1 if fatal else 0,
        "canceled_by_admin": None,
        "canceled_by_admin_message": None,
        "is_paused": False,
    }
