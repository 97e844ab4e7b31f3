"""The built-in `transfer` provider: copies files between local collections in the background, with the
inputs and the task document of the hosted Transfer action providers.

Inputs (both shapes):
- current (`https://transfer.actions.globus.org/transfer`): `source_endpoint`, `destination_endpoint`,
  `DATA: [{source_path, destination_path, recursive}]`, `label`, `sync_level`, `verify_checksum`,
  `delete_destination_extra`, `preserve_timestamp`;
- legacy (`https://actions.globus.org/transfer/transfer`): `source_endpoint_id`, `destination_endpoint_id`,
  `transfer_items: [{source_path, destination_path, recursive}]`, and the same options.

How it copies (`copytree.copy_tree`): the items are planned first (every file and directory; symlinks in
a source tree followed only while they stay inside the source collection), then files are copied by a small
thread pool, every path walked beneath its collection root without following a link. Each file is written
to a temporary name in its destination directory (`O_EXCL | O_NOFOLLOW`) and renamed over the destination,
so a reader never sees a half-written file. `sync_level` skips files that are already there
(0: exists, 1: same size, 2: destination not older, 3: same checksum); `verify_checksum` re-reads both
sides after the copy and compares SHA-256 digests; `delete_destination_extra` removes what the source does
not have under a recursive item. A failure stops the task: the action is FAILED and `details.fatal_error`
names the path and the reason.

Permissions (providers/collections.py): the caller must be allowed to read every source path (as named and
where it leads) and to write every destination path. The paths named are checked at `/run` (a 403
`PermissionDenied`) and again when the work starts; a symbolic link met in a source tree that leads where
the caller may not read fails the task with `PERMISSION_DENIED`.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from ..auth.scopes import LEGACY_PROVIDER_SCOPES
from .base import BadActionRequest, Caller
from .collections import caller_groups, load_collection, state_caller
from .copytree import DEFAULT_COPY_THREADS, Options, Progress, TransferFailed, copy_tree
from .filesystem import TRANSFER_AP_SCOPE, transfer_urls
from .outcomes import Outcome
from .runner import Job
from .stored import StoredProvider, iso, optional_bool

# -- the provider --------------------------------------------------------------------------------------------


class TransferProvider(StoredProvider):
    """Transfer files between local collections (Transfer task semantics)."""

    name = "transfer"
    hosted_urls = transfer_urls("transfer")
    legacy_scopes = LEGACY_PROVIDER_SCOPES["transfer"]
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
            source.check(src, follow=True, caller=caller)
            destination.check(dst, follow=False, caller=caller, write=True)
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
            "caller_groups": caller_groups(caller),
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
                caller=state_caller(job.row["creator_id"], state),
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
