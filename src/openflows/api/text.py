"""The storable-text rule at the HTTP boundary (the rule itself: `language/storable.py`).

A request is refused before any handler runs when a string of its URL path, its query string, its JSON body
(values and object keys, at any depth) or its form body holds a NUL character or an unpaired surrogate. The
answer is a 4xx naming the field, in the error shape of the surface the request was sent to:
- the Flows API (and everything else): 422 `UNPROCESSABLE_ENTITY`, a Flows error document whose `detail`
  holds `{"loc", "msg", "type": "unstorable_character"}` (`loc` as for validation errors: the path in the
  body, `["query", name]`, `["path"]`);
- the built-in action providers (`/actions/...`): 400 `{"code": "BadActionRequest", "description"}`;
- the Globus-Auth-compatible routes (`/v2/...`, but the Timers API's `/v2/timer`): 400 `{"error":
  "invalid_request", "error_description"}`.

Only NUL can arrive through a path, a query string or a form: they are percent-decoded as UTF-8 with
replacement, so an encoded surrogate becomes U+FFFD. A JSON body can spell both (`"\\u0000"`, `"\\ud800"`, or
the raw UTF-8 bytes of a surrogate, which `json.loads` accepts), so `RequestLimits` walks every body that
might hold one (`may_hold_unstorable`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse

from ..language.storable import Unstorable, bad_char, escape, find_unstorable, json_path
from .errors import Unprocessable, error_response, problem

#: the Timers API's path under `/v2/` (a Flows-style API, not part of the Auth surface)
TIMERS_V2_PATH = "/v2/timer"
#: the `type` of the problem in a Flows error document
PROBLEM_TYPE = "unstorable_character"

#: where a refused string was: the body (JSON or form), the query string, or the URL path
Where = str


def may_hold_unstorable(raw: bytes) -> bool:
    """False when the JSON text `raw` cannot hold an unstorable string (most bodies): such a string needs a
    `\\u` escape, the raw bytes of a surrogate (0xED 0xA0-0xBF) or a UTF-16/32 body (0x00 bytes)."""
    return b"\\u" in raw or b"\xed" in raw or b"\x00" in raw


def json_problem(value: Any) -> Unstorable | None:
    """The first unstorable string or key of a parsed JSON body."""
    return find_unstorable(value)


def pairs_problem(pairs: list[tuple[str, str]], *, prefix: tuple[str, ...] = ()) -> Unstorable | None:
    """The first name or value of decoded `name=value` pairs (a query string, a form) holding NUL."""
    for name, value in pairs:
        char = bad_char(name)
        if char is not None:
            return Unstorable((*prefix, escape(name)), char, in_key=True)
        char = bad_char(value)
        if char is not None:
            return Unstorable((*prefix, name), char)
    return None


def query_problem(query_string: bytes) -> Unstorable | None:
    """The first query parameter (decoded as Starlette does) whose name or value holds NUL."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return pairs_problem(pairs, prefix=("query",))


def form_problem(raw: bytes) -> Unstorable | None:
    """The first field of a URL-encoded form body (decoded as the Auth routes do) holding NUL."""
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return pairs_problem(pairs)


def path_problem(path: str) -> Unstorable | None:
    """The decoded URL path, when it holds NUL."""
    char = bad_char(path)
    return Unstorable(("path",), char) if char is not None else None


def refusal(request_path: str, where: Where, bad: Unstorable) -> JSONResponse:
    """The 4xx answer to a request whose `where` ("body", "query" or "path") holds `bad`."""
    if request_path.startswith("/actions/"):
        return JSONResponse(
            {"code": "BadActionRequest", "description": f"{field_name(where, bad)}: {bad.message()}"},
            status_code=400,
        )
    if request_path.startswith("/v2/") and not request_path.startswith(TIMERS_V2_PATH):
        description = f"{field_name(where, bad)}: {bad.message()}"
        return JSONResponse(
            {
                "error": "invalid_request",
                "error_description": description,
                "errors": [{"status": "400", "code": "INVALID_REQUEST", "detail": description}],
            },
            status_code=400,
        )
    return error_response(Unprocessable([problem(bad.loc, bad.message(), PROBLEM_TYPE)], where=where))


def field_name(where: Where, bad: Unstorable) -> str:
    """The field for people: "request body field $.body.x", "query parameter 'q'", "the URL path"."""
    if where == "path":
        return "the URL path"
    if where == "query":
        return f"query parameter {bad.loc[-1]!r}"
    noun = "request body key" if bad.in_key else "request body field"
    return f"{noun} {json_path(bad.loc)}"
