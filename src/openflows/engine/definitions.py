"""A cache of parsed flow definitions, keyed by `(flow_id, version)`: a run always executes the exact version
it started with, and a version never changes once written, so entries never go stale."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

import sqlalchemy as sa

from ..language.model import DEFAULT_LIMITS, Limits
from ..language.states import Definition, parse_definition
from ..store.work import get_flow_version_definition

#: parsed definitions kept per process
CACHE_SIZE = 512  # definitions


class DefinitionUnavailable(Exception):
    """The flow version a run references is missing or no longer parses; the run cannot continue."""


class DefinitionCache:
    """Parsed definitions by `(flow_id, version)`, least recently used evicted first (thread-safe)."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, size: int = CACHE_SIZE) -> None:
        self.limits = limits
        self.size = size
        self._entries: OrderedDict[tuple[uuid.UUID, int], Definition] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, flow_id: uuid.UUID, version: int) -> Definition | None:
        """The cached definition, or None (no database read)."""
        key = (flow_id, version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def get(self, conn: sa.Connection, flow_id: uuid.UUID, version: int) -> Definition:
        """The parsed definition of `flow_id` at `version` (read through `conn` on a miss)."""
        key = (flow_id, version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        raw = get_flow_version_definition(conn, flow_id, version)
        if raw is None:
            raise DefinitionUnavailable(f"flow {flow_id} has no version {version}")
        try:
            parsed = parse_definition(raw, limits=self.limits)
        except Exception as exc:
            raise DefinitionUnavailable(f"flow {flow_id} version {version} does not parse: {exc}") from exc
        with self._lock:
            self._entries[key] = parsed
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return parsed
