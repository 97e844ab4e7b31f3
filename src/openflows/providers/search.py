"""The built-in search providers (`https://actions.globus.org/search/{ingest,delete}`): a local index kept in
the `search_entries` table, read with `openflows search show INDEX`.

- `search_ingest` body: `search_index`, `subject`, `visible_to` (list of principals or "public"), `content`
  (object), `id` (entry id, optional). Ingesting the same (index, subject, id) again replaces the entry.
- `search_delete` body: `search_index`, `delete_by` (`subject`, `entry` or `query`), `subject`, `id`/
  `entry_id` (for `entry`), `q` (for `query`: `*` matches everything, any other text matches entries whose
  subject or JSON content contains it, case-insensitively).

Both complete within `/run` (the hosted ones are asynchronous, but finish quickly): the answer is a terminal
status whose `details` look like a Search task (`task_id`, `state: "SUCCESS"`, ...).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from ..auth.scopes import PROVIDER_SCOPES
from ..store.db import Database
from ..store.schema import search_entries
from .base import BadActionRequest, Caller
from .outcomes import Outcome
from .stored import StoredProvider, require_str

#: the scope of the hosted search providers
SEARCH_INGEST_SCOPE = PROVIDER_SCOPES["search_ingest"]
SEARCH_DELETE_SCOPE = PROVIDER_SCOPES["search_delete"]


def _urls(operation: str) -> tuple[str, ...]:
    return (
        f"https://actions.globus.org/search/{operation}",
        f"https://actions.automate.globus.org/search/{operation}",
    )


def list_entries(db: Database, search_index: str) -> list[dict[str, Any]]:
    """Every entry of an index: `{"subject", "id", "visible_to", "content"}`, by subject then id."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(search_entries)
            .where(search_entries.c.search_index == search_index)
            .order_by(search_entries.c.subject, search_entries.c.entry_id)
        ).all()
    return [
        {"subject": r.subject, "id": r.entry_id or None, "visible_to": r.visible_to, "content": r.content}
        for r in rows
    ]


def _task(search_index: str, message: str, **more: Any) -> dict[str, Any]:
    return {
        "task_id": str(uuid.uuid4()),
        "state": "SUCCESS",
        "state_description": "Task succeeded",
        "message": message,
        "search_index": search_index,
        **more,
    }


class SearchIngestProvider(StoredProvider):
    """Add or replace one entry of a local search index."""

    name = "search_ingest"
    hosted_urls = _urls("ingest")
    title = "Search ingest"
    description = "Ingests one entry (subject, visible_to, content) into a local search index."
    keywords = ("search", "ingest")
    globus_auth_scope = SEARCH_INGEST_SCOPE
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "search_index": {"type": "string"},
            "subject": {"type": "string"},
            "visible_to": {"type": ["array", "string"]},
            "content": {"type": "object"},
            "id": {"type": "string"},
        },
        "required": ["search_index", "subject", "content"],
    }

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        index = require_str(body, "search_index")
        subject = require_str(body, "subject")
        visible_to = body.get("visible_to", [caller.identity])
        if isinstance(visible_to, str):
            visible_to = [visible_to]
        if not isinstance(visible_to, list) or not all(isinstance(v, str) for v in visible_to):
            raise BadActionRequest("visible_to must be a list of principals (or 'public')")
        content = body.get("content")
        if not isinstance(content, dict):
            raise BadActionRequest("content must be an object")
        entry_id = body.get("id") or ""
        if not isinstance(entry_id, str):
            raise BadActionRequest("id must be a string")
        if len(index) > 128 or len(subject) > 1024 or len(entry_id) > 256:
            raise BadActionRequest("search_index, subject or id is too long")
        return {"search_index": index, "subject": subject, "entry_id": entry_id, "visible_to": visible_to}

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        now = self.clock.now()
        key = (
            search_entries.c.search_index == state["search_index"],
            search_entries.c.subject == state["subject"],
            search_entries.c.entry_id == state["entry_id"],
        )

        def ingest(conn: sa.Connection) -> None:
            conn.execute(sa.delete(search_entries).where(*key))
            conn.execute(
                sa.insert(search_entries).values(
                    search_index=state["search_index"],
                    subject=state["subject"],
                    entry_id=state["entry_id"],
                    visible_to=state["visible_to"],
                    content=body["content"],
                    updated_at=now,
                )
            )

        self.db.transact(ingest)
        return Outcome.succeeded(
            _task(
                state["search_index"],
                "Ingested one entry",
                subject=state["subject"],
                entry_id=state["entry_id"] or None,
                num_documents_ingested=1,
            )
        )


class SearchDeleteProvider(StoredProvider):
    """Delete entries of a local search index by subject, entry or query."""

    name = "search_delete"
    hosted_urls = _urls("delete")
    title = "Search delete"
    description = "Deletes entries of a local search index (delete_by subject, entry or query)."
    keywords = ("search", "delete")
    globus_auth_scope = SEARCH_DELETE_SCOPE
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "search_index": {"type": "string"},
            "delete_by": {"type": "string", "enum": ["subject", "entry", "query"]},
            "subject": {"type": "string"},
            "id": {"type": "string"},
            "entry_id": {"type": "string"},
            "q": {"type": "string"},
        },
        "required": ["search_index", "delete_by"],
    }

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        index = require_str(body, "search_index")
        delete_by = body.get("delete_by")
        if delete_by not in ("subject", "entry", "query"):
            raise BadActionRequest("delete_by must be subject, entry or query")
        state: dict[str, Any] = {"search_index": index, "delete_by": delete_by}
        if delete_by in ("subject", "entry"):
            state["subject"] = require_str(body, "subject")
        if delete_by == "entry":
            entry_id = body.get("entry_id", body.get("id")) or ""
            if not isinstance(entry_id, str):
                raise BadActionRequest("entry_id must be a string")
            state["entry_id"] = entry_id
        if delete_by == "query":
            state["q"] = require_str(body, "q")
        return state

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        index = state["search_index"]

        def delete(conn: sa.Connection) -> int:
            where = [search_entries.c.search_index == index]
            if state["delete_by"] in ("subject", "entry"):
                where.append(search_entries.c.subject == state["subject"])
            if state["delete_by"] == "entry":
                where.append(search_entries.c.entry_id == state["entry_id"])
            if state["delete_by"] == "query" and state["q"].strip() != "*":
                needle = state["q"].lower()
                rows = conn.execute(
                    sa.select(search_entries.c.id, search_entries.c.subject, search_entries.c.content).where(
                        *where
                    )
                ).all()
                ids = [
                    r.id
                    for r in rows
                    if needle in r.subject.lower() or needle in json.dumps(r.content).lower()
                ]
                if not ids:
                    return 0
                where.append(search_entries.c.id.in_(ids))
            return int(conn.execute(sa.delete(search_entries).where(*where)).rowcount)

        removed = self.db.transact(delete)
        return Outcome.succeeded(_task(index, f"Deleted {removed} entries", num_entries_deleted=removed))
