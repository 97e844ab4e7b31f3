"""The Transfer-shaped file operations on local collections: `ls`, `stat` and `mkdir` (synchronous, as the
hosted ones are) and `delete` (asynchronous, like the hosted one: it works in the background runner).

Both input shapes are accepted: the current providers' (`https://transfer.actions.globus.org/{ls,stat,mkdir,
delete}`: `endpoint_id` or `endpoint`, `path`; delete: `endpoint`, `DATA: [{path}]`, `recursive`,
`ignore_missing`) and the legacy ones (`https://actions.globus.org/transfer/{ls,mkdir,delete}`: `endpoint_id`,
delete: `items: [path, ...]`, `recursive`). Outputs follow Transfer's documents: an ls `file_list`
(`DATA[]` entries with `name`, `type`, `is_folder`, `size`, `last_modified`, `permissions`; `path`,
`length`, `total`), a stat `file` entry, a `mkdir_result`, a delete `task`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat as stat_module
import uuid
from pathlib import Path
from typing import Any

from .base import BadActionRequest, Caller
from .collections import Collection, PathRefused, load_collection
from .runner import Job
from .stored import Outcome, StoredProvider, failure, iso, optional_bool, require_str

#: the scope shared by the current Transfer action providers
TRANSFER_AP_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
#: most entries one ls answers with
MAX_LS_LIMIT = 100_000  # entries


def transfer_urls(operation: str) -> tuple[str, ...]:
    """The hosted URLs of a Transfer action provider operation, current and legacy hosts."""
    return (
        f"https://transfer.actions.globus.org/{operation}",
        f"https://actions.globus.org/transfer/{operation}",
        f"https://actions.automate.globus.org/transfer/{operation}",
    )


def file_entry(path: Path, *, name: str | None = None, st: os.stat_result | None = None) -> dict[str, Any]:
    """Transfer's description of one file or directory (a `file` document, plus `is_folder`)."""
    st = st or os.lstat(path)
    if stat_module.S_ISLNK(st.st_mode):
        try:
            target_st = os.stat(path)
        except OSError:
            target_st = st
        kind = "dir" if stat_module.S_ISDIR(target_st.st_mode) else "file"
        link_target: str | None = os.readlink(path)
        st_shown = target_st
    else:
        kind = "dir" if stat_module.S_ISDIR(st.st_mode) else "file"
        link_target = None
        st_shown = st
    modified = dt.datetime.fromtimestamp(st_shown.st_mtime, dt.UTC).replace(microsecond=0)
    return {
        "DATA_TYPE": "file",
        "name": name if name is not None else path.name,
        "type": kind,
        "is_folder": kind == "dir",
        "size": st_shown.st_size,
        "last_modified": modified.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "permissions": format(stat_module.S_IMODE(st_shown.st_mode), "04o"),
        "link_target": link_target,
        "user": None,
        "group": None,
    }


def _endpoint(body: dict[str, Any]) -> str:
    return require_str(body, "endpoint_id", "endpoint", what="endpoint_id (or endpoint)")


def _not_found(collection: Collection, shown: str) -> Outcome:
    return Outcome.failed(
        failure("NotFound", f"Path {shown!r} not found on collection {collection.id}", path=shown)
    )


class _FileOperation(StoredProvider):
    globus_auth_scope = TRANSFER_AP_SCOPE
    keywords = ("transfer", "files")

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        collection = load_collection(self.db, _endpoint(body), field="endpoint_id")
        path = body.get("path", "/~/")
        collection.resolve(path)  # refuse escapes before anything happens
        return {"collection": str(collection.id), "path": path}

    def _collection(self, state: dict[str, Any]) -> Collection:
        return load_collection(self.db, state["collection"])


class LsProvider(_FileOperation):
    """List a directory of a local collection."""

    name = "ls"
    hosted_urls = transfer_urls("ls")
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
        real = collection.resolve(shown)
        path_only = optional_bool(body, "path_only")
        show_hidden = optional_bool(body, "show_hidden", True)
        limit = _int(body, "limit", MAX_LS_LIMIT)
        offset = _int(body, "offset", 0)
        if path_only:
            parent = real.parent if real != collection.root else real
            entries = []
            if os.path.lexists(real):
                name = "/" if real == collection.root else real.name
                entries.append(file_entry(real, name=name))
            return Outcome.succeeded(_file_list(collection, parent, entries, len(entries), 0, limit))
        if not os.path.lexists(real):
            return _not_found(collection, shown)
        if not real.is_dir():
            return Outcome.failed(
                failure("NotADirectory", f"Path {shown!r} is not a directory on collection {collection.id}")
            )
        with os.scandir(real) as it:
            names = sorted(e.name for e in it if show_hidden or not e.name.startswith("."))
        selected = names[offset : offset + limit]
        entries = [file_entry(real / name) for name in selected]
        return Outcome.succeeded(_file_list(collection, real, entries, len(names), offset, limit))


def _file_list(
    collection: Collection,
    directory: Path,
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
        real = collection.resolve(state["path"])
        if not os.path.lexists(real):
            return _not_found(collection, state["path"])
        name = "/" if real == collection.root else real.name
        return Outcome.succeeded({**file_entry(real, name=name), "path": collection.display(real)})


class MkdirProvider(_FileOperation):
    """Make a directory on a local collection."""

    name = "mkdir"
    hosted_urls = transfer_urls("mkdir")
    title = "Make directory"
    description = "Creates a directory on a local collection (its parent must exist)."
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {"endpoint_id": {"type": "string"}, "path": {"type": "string"}},
        "required": ["path"],
    }

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        collection = self._collection(state)
        shown = state["path"]
        real = collection.resolve(shown)
        try:
            os.mkdir(real, 0o755)
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
        return Outcome.succeeded(
            {
                "DATA_TYPE": "mkdir_result",
                "code": "DirectoryCreated",
                "message": "The directory was created successfully",
                "path": collection.display(real),
                "resource": f"/operation/endpoint/{collection.id}/mkdir",
            }
        )


class DeleteProvider(_FileOperation):
    """Delete files and directories of a local collection (in the background, as a Transfer delete task)."""

    name = "delete"
    hosted_urls = transfer_urls("delete")
    title = "Delete"
    description = "Deletes paths of a local collection; directories need recursive=true."
    synchronous = False
    background = True
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
            real = collection.resolve(path)
            if real == collection.root:
                raise PathRefused(f"the path {path!r} is the root of collection {collection.id}")
        return {
            "collection": str(collection.id),
            "paths": paths,
            "recursive": optional_bool(body, "recursive"),
            "ignore_missing": optional_bool(body, "ignore_missing"),
            "task_id": str(uuid.uuid4()),
        }

    def initial_details(self, body: dict[str, Any], state: dict[str, Any], now: dt.datetime) -> Any:
        return _delete_task(body, state, "ACTIVE", "Queued", request_time=iso(now), files_deleted=0)

    def work(self, job: Job) -> Outcome:
        state, body = job.state, job.body
        collection = self._collection(state)
        request_time = iso(job.row["start_time"])
        deleted = 0
        for shown in state["paths"]:
            job.progress(
                _delete_task(body, state, "ACTIVE", "OK", request_time=request_time, files_deleted=deleted)
            )
            real = collection.resolve(shown)
            if not os.path.lexists(real):
                if state["ignore_missing"]:
                    continue
                return Outcome.failed(
                    _delete_task(
                        body,
                        state,
                        "FAILED",
                        "FILE_NOT_FOUND",
                        request_time=request_time,
                        files_deleted=deleted,
                        fatal_error={"code": "FILE_NOT_FOUND", "description": f"{shown!r} does not exist"},
                    )
                )
            if real.is_dir() and not real.is_symlink():
                if not state["recursive"]:
                    return Outcome.failed(
                        _delete_task(
                            body,
                            state,
                            "FAILED",
                            "IS_A_DIRECTORY",
                            request_time=request_time,
                            files_deleted=deleted,
                            fatal_error={
                                "code": "IS_A_DIRECTORY",
                                "description": f"{shown!r} is a directory: set recursive to delete it",
                            },
                        )
                    )
                deleted += sum(len(files) for _, _, files in os.walk(real))
                shutil.rmtree(real)
            else:
                os.unlink(real)
                deleted += 1
        return Outcome.succeeded(
            _delete_task(
                body, state, "SUCCEEDED", None, request_time=request_time, files_deleted=deleted, done=True
            )
        )


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
