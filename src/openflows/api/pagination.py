"""Opaque keyset markers for list endpoints (spec flows-api.md §4).

A marker is base64url(JSON) of `{"v": 1, "k": <list kind>, "q": <the normalised query>, "a": <sort key of the
last row served>}`. It is self-contained: when a request carries a marker, the query inside it is used and the
other query arguments are ignored (the hosted service's rule; the SDK re-sends them anyway). The key values
are JSON scalars (datetimes as ISO strings); `store/` turns them back into typed values. A marker carries no
permissions: every page is filtered for the caller presenting it, so a forged marker can only express a query
the caller could have sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ..language.storable import find_unstorable
from .errors import BadRequest

MARKER_VERSION = 1
#: a marker longer than this is rejected without decoding
MAX_MARKER_CHARS = 8192
#: the characters of a marker (unpadded base64url); the empty string means "no marker"
MARKER_PATTERN = "^[A-Za-z0-9_-]*$"
_MARKER_RE = re.compile(MARKER_PATTERN)
#: what /openapi.json states about `marker` and `pagination_token` (checked by `decode_marker`, which answers
#: 400 for anything it did not issue)
MARKER_CONSTRAINTS: dict[str, Any] = {
    "json_schema_extra": {"pattern": MARKER_PATTERN, "maxLength": MAX_MARKER_CHARS}
}
MARKER_DOC = (
    "The `marker` of the previous page, opaque; the query it holds is used and the other arguments are "
    "ignored. A marker the server did not issue is a 400"
)


def encode_marker(kind: str, query: dict[str, Any], after: list[Any]) -> str:
    payload = {"v": MARKER_VERSION, "k": kind, "q": query, "a": after}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(kind: str, marker: str) -> tuple[dict[str, Any], list[Any]]:
    """(query, after) from a marker made by `encode_marker(kind, ...)`; a 400 for anything else."""
    if len(marker) > MAX_MARKER_CHARS:
        raise BadRequest("Invalid pagination marker: too long")
    if _MARKER_RE.fullmatch(marker) is None:
        raise BadRequest("Invalid pagination marker")
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise BadRequest("Invalid pagination marker") from None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != MARKER_VERSION
        or payload.get("k") != kind
        or not isinstance(payload.get("q"), dict)
        or not isinstance(payload.get("a"), list)
        or find_unstorable(payload) is not None  # a forged marker smuggling a NUL into a filter
    ):
        raise BadRequest("Invalid pagination marker")
    return payload["q"], payload["a"]


def page_document(items_key: str, items: list[Any], *, limit: int, marker: str | None) -> dict[str, Any]:
    """`{<items_key>: [...], "limit", "has_next_page", "marker"}`; has_next_page only with a marker."""
    return {items_key: items, "limit": limit, "has_next_page": marker is not None, "marker": marker}
