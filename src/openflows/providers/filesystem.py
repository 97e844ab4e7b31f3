"""The Transfer-shaped file operations on local collections: `ls`, `stat` and `mkdir` (synchronous, as the
hosted ones are) and `delete` (asynchronous, like the hosted one: it works in the background runner).

Both input shapes are accepted: the current providers' (`https://transfer.actions.globus.org/{ls,stat,mkdir,
delete}`: `endpoint_id` or `endpoint`, `path`; delete: `endpoint`, `DATA: [{path}]`, `recursive`,
`ignore_missing`) and the legacy ones (`https://actions.globus.org/transfer/{ls,mkdir,delete}`: `endpoint_id`,
delete: `items: [path, ...]`, `recursive`). Outputs follow Transfer's documents: an ls `file_list`
(`DATA[]` entries with `name`, `type`, `is_folder`, `size`, `last_modified`, `permissions`; `path`,
`length`, `total`), a stat `file` entry, a `mkdir_result`, a delete `task`.

Every path is checked against the collection's owner and access rules for the acting caller
(providers/collections.py): ls and stat need read permission, mkdir and delete write permission. A refusal
at `/run` is a 403 `PermissionDenied`; one met while a delete works is a FAILED task (`PERMISSION_DENIED`).
Reading a directory lets the caller list all of it; a symbolic link in a listing whose target the caller
may not read is shown as an `invalid_symlink`, with nothing about its target.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import stat as stat_module
import uuid
from collections.abc import Callable
from typing import Any

from ..auth.scopes import LEGACY_PROVIDER_SCOPES, TRANSFER_API
from .base import BadActionRequest, Caller
from .beneath import LIST_FLAGS, Location, PathRefused, error_code, locate, open_child, remove_tree
from .collections import Collection, caller_groups, load_collection, state_caller
from .outcomes import Outcome, failure
from .runner import Job
from .stored import StoredProvider, iso, optional_bool, require_str

#: the scope shared by the current Transfer action providers
TRANSFER_AP_SCOPE = TRANSFER_API
#: most entries one ls answers with
MAX_LS_LIMIT = 100_000  # entries


def transfer_urls(operation: str) -> tuple[str, ...]:
    """The hosted URLs of a Transfer action provider operation, current and legacy hosts."""
    return (
        f"https://transfer.actions.globus.org/{operation}",
        f"https://actions.globus.org/transfer/{operation}",
        f"https://actions.automate.globus.org/transfer/{operation}",
    )


def _entry(name: str, kind: str, st: os.stat_result, *, size: int, link_target: str | None) -> dict[str, Any]:
    modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(microsecond=0)
    return {
        "DATA_TYPE": "file",
        "name": name,
        "type": kind,
        "is_folder": kind == "dir",
        "size": size,
        "last_modified": modified.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "permissions": format(stat_module.S_IMODE(st.st_mode), "04o"),
        "link_target": link_target,
        "user": None,
        "group": None,
    }


def file_entry(
    collection: Collection,
    root_fd: int,
    dir_fd: int,
    dir_parts: tuple[str, ...],
    name: str,
    *,
    readable: Callable[[tuple[str, ...]], bool],
    shown_name: str | None = None,
) -> dict[str, Any]:
    """Transfer's description of the entry `name` of the directory `dir_fd` (a `file` document, plus
    `is_folder`); raise FileNotFoundError if it is missing.

    A symbolic link whose target stays inside the collection, and which the caller may read (`readable`
    of the target's components), is described by its target (type, size, time, permissions) with
    `link_target` set to the target's collection path. Any other link (one that leads outside, dangles,
    loops, or leads where the caller may not read) is an `invalid_symlink` of size 0 with the link's own
    time and no target: nothing about what lies outside the collection, or outside the caller's reach, is
    shown."""
    shown = shown_name if shown_name is not None else name
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat_module.S_ISLNK(st.st_mode):
        kind = "dir" if stat_module.S_ISDIR(st.st_mode) else "file"
        return _entry(shown, kind, st, size=st.st_size, link_target=None)
    try:
        with locate(
            root_fd, str(collection.root), (name,), follow=True, start_fd=dir_fd, start_parts=dir_parts
        ) as loc:
            if not readable(loc.parts):
                return _entry(shown, "invalid_symlink", st, size=0, link_target=None)
            target = loc.lstat()
            target_parts = loc.parts
    except (PathRefused, OSError):
        return _entry(shown, "invalid_symlink", st, size=0, link_target=None)
    kind = "dir" if stat_module.S_ISDIR(target.st_mode) else "file"
    return _entry(shown, kind, target, size=target.st_size, link_target=collection.display(target_parts))


def _endpoint(body: dict[str, Any]) -> str:
    return require_str(body, "endpoint_id", "endpoint", what="endpoint_id (or endpoint)")


def _not_found(collection: Collection, shown: str) -> Outcome:
    return Outcome.failed(
        failure("NotFound", f"Path {shown!r} not found on collection {collection.id}", path=shown)
    )


class _FileOperation(StoredProvider):
    globus_auth_scope = TRANSFER_AP_SCOPE
    keywords = ("transfer", "files")
    #: whether the path may go through symbolic links that stay inside the collection (reads only)
    follow_links = True
    #: whether the operation writes (needs `rw`) rather than reads (`r` or `rw`)
    writes = False

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        collection = load_collection(self.db, _endpoint(body), field="endpoint_id")
        path = body.get("path", "/~/")
        # refuse what the caller may not do, and escapes, before anything happens
        collection.check(path, follow=self.follow_links, caller=caller, write=self.writes)
        return {"collection": str(collection.id), "path": path}

    def _collection(self, state: dict[str, Any]) -> Collection:
        return load_collection(self.db, state["collection"])


#: ls and stat failure codes of OS errors, by errno (anything else: ExternalError)
_OS_FAILURES = {
    errno.ENOENT: "NotFound",
    errno.ENOTDIR: "NotFound",  # a component above is a file: the path does not exist
    errno.EACCES: "PermissionDenied",
    errno.EPERM: "PermissionDenied",
}


def _refused(collection: Collection, shown: str) -> Outcome:
    """A failed read of a path that leads where the caller may not read (it changed since `/run`)."""
    description = f"Permission denied: you may not read {shown!r} on collection {collection.id}"
    return Outcome.failed(failure("PermissionDenied", description, path=shown))


def _os_failure(collection: Collection, shown: str, exc: OSError) -> Outcome:
    """A failed ls or stat for an OS error met on the way (a race, a permission)."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return _not_found(collection, shown)
    code = _OS_FAILURES.get(exc.errno or 0, "ExternalError")
    why = exc.strerror or str(exc)
    return Outcome.failed(failure(code, f"Path {shown!r} on collection {collection.id}: {why}", path=shown))


class LsProvider(_FileOperation):
    """List a directory of a local collection."""

    name = "ls"
    hosted_urls = transfer_urls("ls")
    legacy_scopes = LEGACY_PROVIDER_SCOPES["ls"]
    title = "List directory"
    description = "Lists a directory of a local collection, as Transfer's ls (DATA[] entries, path, length)."
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "endpoint_id": {"type": "string"},
            "endpoint": {"type": "string"},
            "path": {"type": "string"},
            "path_only": {"type": "boolean"},
            "show_hidden": {"type": "boolean"},
            "limit": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
        },
    }

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        collection = self._collection(state)
        shown = state["path"]
        parts = collection.parts(shown)
        path_only = optional_bool(body, "path_only")
        show_hidden = optional_bool(body, "show_hidden", True)
        limit = _int(body, "limit", MAX_LS_LIMIT)
        offset = _int(body, "offset", 0)

        def readable(target: tuple[str, ...]) -> bool:
            return collection.allows(caller, target)

        if not readable(parts):  # the rules changed since check_body
            return _refused(collection, shown)
        root_fd = collection.open_root()
        try:
            with collection.locate(root_fd, parts, follow=True) as loc:
                if not readable(loc.parts):
                    return _refused(collection, shown)
                if path_only:
                    return self._path_only(collection, root_fd, loc, limit, readable)
                if not stat_module.S_ISDIR(loc.lstat().st_mode):
                    return Outcome.failed(
                        failure(
                            "NotADirectory",
                            f"Path {shown!r} is not a directory on collection {collection.id}",
                        )
                    )
                fd = open_child(loc.dir_fd, loc.name, LIST_FLAGS, loc.parts)
                try:
                    with os.scandir(fd) as it:
                        names = sorted(e.name for e in it if show_hidden or not e.name.startswith("."))
                    entries = []
                    for name in names[offset : offset + limit]:
                        with contextlib.suppress(FileNotFoundError):  # removed since the listing
                            entries.append(
                                file_entry(collection, root_fd, fd, loc.parts, name, readable=readable)
                            )
                finally:
                    os.close(fd)
                return Outcome.succeeded(
                    _file_list(collection, loc.parts, entries, len(names), offset, limit)
                )
        except (FileNotFoundError, NotADirectoryError):  # a directory on the way is missing (or a file)
            if path_only:  # nothing there: an empty list, as for a missing final component
                return Outcome.succeeded(_file_list(collection, parts[:-1], [], 0, 0, limit))
            return _not_found(collection, shown)
        except OSError as exc:
            return _os_failure(collection, shown, exc)
        finally:
            os.close(root_fd)

    def _path_only(
        self,
        collection: Collection,
        root_fd: int,
        loc: Location,
        limit: int,
        readable: Callable[[tuple[str, ...]], bool],
    ) -> Outcome:
        """`path_only`: the path itself (nothing if it is missing), listed in its parent directory."""
        entries = []
        with contextlib.suppress(FileNotFoundError):
            name = "/" if not loc.parts else loc.name
            entries.append(
                file_entry(
                    collection,
                    root_fd,
                    loc.dir_fd,
                    loc.parts[:-1],
                    loc.name,
                    readable=readable,
                    shown_name=name,
                )
            )
        parent = loc.parts[:-1]
        return Outcome.succeeded(_file_list(collection, parent, entries, len(entries), 0, limit))


def _file_list(
    collection: Collection,
    directory: tuple[str, ...],
    entries: list[dict[str, Any]],
    total: int,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    shown = collection.display(directory)
    return {
        "DATA_TYPE": "file_list",
        "DATA": entries,
        "endpoint": str(collection.id),
        "path": shown if shown.endswith("/") else shown + "/",
        "absolute_path": shown if shown.endswith("/") else shown + "/",
        "length": len(entries),
        "total": total,
        "offset": offset,
        "limit": limit,
        "has_next_page": offset + len(entries) < total,
        "rename_supported": True,
        "symlink_supported": False,
    }


def _int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadActionRequest(f"{key} must be a non-negative integer")
    return min(value, MAX_LS_LIMIT)


class StatProvider(_FileOperation):
    """Describe one path of a local collection."""

    name = "stat"
    hosted_urls = transfer_urls("stat")
    title = "Stat"
    description = "Describes one file or directory of a local collection (Transfer's stat document)."
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {"endpoint_id": {"type": "string"}, "path": {"type": "string"}},
        "required": ["path"],
    }

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        collection = self._collection(state)
        shown = state["path"]
        parts = collection.parts(shown)
        if not collection.allows(caller, parts):  # the rules changed since check_body
            return _refused(collection, shown)
        root_fd = collection.open_root()
        try:
            with collection.locate(root_fd, parts, follow=True) as loc:
                if not collection.allows(caller, loc.parts):
                    return _refused(collection, shown)
                name = "/" if not loc.parts else loc.name
                entry = file_entry(
                    collection,
                    root_fd,
                    loc.dir_fd,
                    loc.parts[:-1],
                    loc.name,
                    readable=lambda target: collection.allows(caller, target),
                    shown_name=name,
                )
                return Outcome.succeeded({**entry, "path": collection.display(loc.parts)})
        except OSError as exc:
            return _os_failure(collection, shown, exc)
        finally:
            os.close(root_fd)


class MkdirProvider(_FileOperation):
    """Make a directory on a local collection."""

    name = "mkdir"
    hosted_urls = transfer_urls("mkdir")
    legacy_scopes = LEGACY_PROVIDER_SCOPES["mkdir"]
    title = "Make directory"
    description = "Creates a directory on a local collection (its parent must exist)."
    follow_links = False
    writes = True
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {"endpoint_id": {"type": "string"}, "path": {"type": "string"}},
        "required": ["path"],
    }

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        collection = self._collection(state)
        shown = state["path"]
        parts = collection.parts(shown)
        if not collection.allows(caller, parts, write=True):  # the rules changed since check_body
            raise collection.denied(parts, write=True)
        root_fd = collection.open_root()
        try:
            with collection.locate(root_fd, parts, follow=False) as loc:
                os.mkdir(loc.name, 0o755, dir_fd=loc.dir_fd)
        except FileExistsError:
            return Outcome.failed(
                failure("ExternalError.MkdirFailed.Exists", f"Path {shown!r} already exists", path=shown)
            )
        except FileNotFoundError:
            return Outcome.failed(
                failure("ExternalError.MkdirFailed.NotFound", f"The parent of {shown!r} does not exist")
            )
        except OSError as exc:
            return Outcome.failed(failure("ExternalError.MkdirFailed", f"{shown!r}: {exc.strerror}"))
        finally:
            os.close(root_fd)
        return Outcome.succeeded(
            {
                "DATA_TYPE": "mkdir_result",
                "code": "DirectoryCreated",
                "message": "The directory was created successfully",
                "path": collection.display(parts),
                "resource": f"/operation/endpoint/{collection.id}/mkdir",
            }
        )


class DeleteProvider(_FileOperation):
    """Delete files and directories of a local collection (in the background, as a Transfer delete task)."""

    name = "delete"
    hosted_urls = transfer_urls("delete")
    legacy_scopes = LEGACY_PROVIDER_SCOPES["delete"]
    title = "Delete"
    description = "Deletes paths of a local collection; directories need recursive=true."
    synchronous = False
    background = True
    follow_links = False
    writes = True
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "endpoint": {"type": "string"},
            "endpoint_id": {"type": "string"},
            "DATA": {"type": "array"},
            "items": {"type": "array"},
            "recursive": {"type": "boolean"},
            "ignore_missing": {"type": "boolean"},
            "label": {"type": "string"},
        },
    }

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        collection = load_collection(self.db, _endpoint(body), field="endpoint")
        paths: list[str] = []
        if "DATA" in body:
            data = body["DATA"]
            if not isinstance(data, list):
                raise BadActionRequest("DATA must be a list of {path} items")
            for item in data:
                if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                    raise BadActionRequest("each DATA item must be an object with a path")
                paths.append(item["path"])
        elif "items" in body:
            items = body["items"]
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
                raise BadActionRequest("items must be a list of paths")
            paths.extend(items)
        else:
            raise BadActionRequest("DATA (or items) is required: the paths to delete")
        if not paths:
            raise BadActionRequest("there is nothing to delete")
        for path in paths:
            if not collection.check(path, follow=False, caller=caller, write=True):
                raise PathRefused(f"the path {path!r} is the root of collection {collection.id}")
        return {
            "collection": str(collection.id),
            "paths": paths,
            "recursive": optional_bool(body, "recursive"),
            "ignore_missing": optional_bool(body, "ignore_missing"),
            "task_id": str(uuid.uuid4()),
            "caller_groups": caller_groups(caller),
        }

    def initial_details(self, body: dict[str, Any], state: dict[str, Any], now: dt.datetime) -> Any:
        return _delete_task(body, state, "ACTIVE", "Queued", request_time=iso(now), files_deleted=0)

    def work(self, job: Job) -> Outcome:
        state, body = job.state, job.body
        collection = self._collection(state)
        caller = state_caller(job.row["creator_id"], state)
        request_time = iso(job.row["start_time"])
        deleted = 0
        root_fd = collection.open_root()
        try:
            for shown in state["paths"]:
                job.progress(
                    _delete_task(
                        body, state, "ACTIVE", "OK", request_time=request_time, files_deleted=deleted
                    )
                )
                deleted += _delete_one(
                    collection, caller, root_fd, shown, state["recursive"], state["ignore_missing"]
                )
        except _DeleteFailed as exc:
            fatal = {"code": exc.code, "description": exc.description}
            return Outcome.failed(
                _delete_task(
                    body,
                    state,
                    "FAILED",
                    exc.code,
                    request_time=request_time,
                    files_deleted=deleted,
                    fatal_error=fatal,
                )
            )
        finally:
            os.close(root_fd)
        return Outcome.succeeded(
            _delete_task(
                body, state, "SUCCEEDED", None, request_time=request_time, files_deleted=deleted, done=True
            )
        )


class _DeleteFailed(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _delete_one(
    collection: Collection, caller: Caller, root_fd: int, shown: str, recursive: bool, ignore_missing: bool
) -> int:
    """Delete one path, never following a link (a link is removed, not its target), if `caller` may write
    it; return how many non-directories were removed; raise `_DeleteFailed`."""
    try:
        parts = collection.parts(shown)
        if not collection.allows(caller, parts, write=True):  # the rules changed since /run
            raise _DeleteFailed("PERMISSION_DENIED", collection.denied(parts, write=True).description)
        if not parts:
            raise _DeleteFailed("PATH_REFUSED", f"{shown!r} is the root of the collection")
        with collection.locate(root_fd, parts, follow=False) as loc:
            if not stat_module.S_ISDIR(loc.lstat().st_mode):
                os.unlink(loc.name, dir_fd=loc.dir_fd)
                return 1
        if not recursive:
            raise _DeleteFailed("IS_A_DIRECTORY", f"{shown!r} is a directory: set recursive to delete it")
        return remove_tree(root_fd, parts)
    except FileNotFoundError:
        if ignore_missing:
            return 0
        raise _DeleteFailed("FILE_NOT_FOUND", f"{shown!r} does not exist") from None
    except PathRefused as exc:
        raise _DeleteFailed("PATH_REFUSED", exc.description) from None
    except OSError as exc:
        code, why = error_code(exc)
        raise _DeleteFailed(code, f"{shown!r}: {why}") from None


def _delete_task(
    body: dict[str, Any],
    state: dict[str, Any],
    status: str,
    nice_status: str | None,
    *,
    request_time: str | None,
    files_deleted: int,
    fatal_error: dict[str, Any] | None = None,
    done: bool = False,
) -> dict[str, Any]:
    return {
        "DATA_TYPE": "task",
        "type": "DELETE",
        "task_id": state["task_id"],
        "status": status,
        "nice_status": nice_status,
        "label": body.get("label"),
        "endpoint_id": state["collection"],
        "source_endpoint_id": state["collection"],
        "destination_endpoint_id": None,
        "request_time": request_time,
        "completion_time": iso(dt.datetime.now(dt.UTC)) if (done or fatal_error) else None,
        "files_deleted": files_deleted,
        "recursive": state["recursive"],
        "ignore_missing": state["ignore_missing"],
        "fatal_error": fatal_error,
        "is_ok": fatal_error is None,
    }
