"""Calling a registered API (issue 15), the pure parts: data templates, the request, the answer.

**Data templates** (`data_templates` of a registered API) are JSON documents in which an object
`{"$T_ref": "<path>"}` stands for the value at that path (a definite JSONPath, `$` = the template's input);
everything else is copied. A reference to a missing value leaves its key out (an element of a list becomes
null). `request.template` turns an Action state's Parameters into `{"path", "query", "headers", "cookies",
"body"}`; `response` maps a status pattern (`"404"`, `"4XX"`, `"default"`) to `{"type": "success" |
"failure", "template"}` applied to the answer `{"status_code", "headers", "body"}`. A failure template gives
`{"exception": "ActionUnableToRun" | "ActionFailedException", "cause": ...}`.

**The request** (`build_request`): the URL template's `{placeholders}` from `path` (percent-encoded), the
query string from `query` (lists repeat the name), `headers` and `cookies`, and `body` as JSON. Reserved
headers (Authorization, Host, ...) cannot be set by parameters: OpenFlows sets them.

**The answer** (`answer_document`, `map_answer`): JSON bodies are parsed, other bodies kept as text; only the
`KEPT_HEADERS` are kept. `redact_url` hides credentials and secret-looking query values for the run log.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .errors import PathNotFound, PathSyntaxError
from .model import Problem
from .openapi_target import RESERVED_HEADERS
from .paths import compile_path

REF_KEY = "$T_ref"
#: response headers worth keeping in a result (never Set-Cookie)
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "location",
    "link",
    "retry-after",
    "x-request-id",
)
#: exception names a failure template may choose
EXCEPTIONS = ("ActionUnableToRun", "ActionFailedException")
#: query names whose values the run log hides
_SECRET_NAME = re.compile(r"(token|secret|passw|key|auth|signature|credential|session)", re.I)
#: a `response` key of the data templates (matched whole: the same in Python and ECMA-262)
_STATUS_KEY = re.compile(r"default|[1-5]XX|[1-5][0-9][0-9]")
_PLACEHOLDER = re.compile(r"\{([^{}/]*)\}")
#: deepest template accepted
MAX_TEMPLATE_DEPTH = 32
_ABSENT = object()


#: what the OpenAPI document states about `data_templates` (each rule is one `check_data_templates` applies;
#: the template language itself, `$T_ref` paths and nesting, is checked by the server: 422s under
#: `data_templates`)
DATA_TEMPLATES_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How Parameters become the request and the answer the result; docs/registered-apis.md",
    "required": ["request", "response"],
    "properties": {
        "request": {"type": "object", "required": ["template"]},
        "response": {
            "type": "object",
            "propertyNames": {"pattern": f"^(?:{_STATUS_KEY.pattern})$"},
            "additionalProperties": {
                "type": "object",
                "required": ["type", "template"],
                "properties": {"type": {"enum": ["success", "failure"]}},
            },
        },
    },
}


class RequestProblem(ValueError):
    """The Parameters cannot make a request (a missing path parameter, a reserved header...)."""


# --- data templates -----------------------------------------------------------------------------------------


def render(template: Any, source: Any) -> Any:
    """`template` with each `{"$T_ref": path}` replaced by the value at `path` in `source` (None: absent)."""
    value = _render(template, source)
    return None if value is _ABSENT else value


def _render(template: Any, source: Any) -> Any:
    if isinstance(template, dict):
        if len(template) == 1 and isinstance(template.get(REF_KEY), str):
            try:
                return compile_path(template[REF_KEY]).read(source)
            except (PathNotFound, PathSyntaxError):
                return _ABSENT
        out = {}
        for key, item in template.items():
            value = _render(item, source)
            if value is not _ABSENT:
                out[key] = value
        return out
    if isinstance(template, list):
        return [None if (v := _render(item, source)) is _ABSENT else v for item in template]
    return template


def check_template(template: Any, loc: tuple[str | int, ...]) -> list[Problem]:
    """Problems of one template: `$T_ref` values must be definite JSONPaths, depth <= MAX_TEMPLATE_DEPTH."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(template, loc, 0)]
    while stack and len(problems) < 20:
        item, where, depth = stack.pop()
        if depth > MAX_TEMPLATE_DEPTH:
            problems.append(Problem(where, f"Templates may nest at most {MAX_TEMPLATE_DEPTH} levels"))
            continue
        if isinstance(item, dict):
            if REF_KEY in item:
                ref = item[REF_KEY]
                if len(item) != 1 or not isinstance(ref, str):
                    problems.append(Problem((*where, REF_KEY), f"'{REF_KEY}' must be the only key, a path"))
                    continue
                try:
                    if not compile_path(ref).definite:
                        problems.append(Problem((*where, REF_KEY), f"{ref[:100]!r} must name one value"))
                except PathSyntaxError as exc:
                    problems.append(Problem((*where, REF_KEY), str(exc)))
                continue
            stack.extend((v, (*where, k), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i), depth + 1) for i, v in enumerate(item))
    return problems


def check_data_templates(templates: Any) -> list[Problem]:
    """Problems of a whole `data_templates` document (located from its root)."""
    if not isinstance(templates, dict):
        return [Problem((), "'data_templates' must be an object", "type_error")]
    problems: list[Problem] = []
    request = templates.get("request")
    if not isinstance(request, dict) or "template" not in request:
        problems.append(Problem(("request",), "'request' must be an object with a 'template'"))
    else:
        problems += check_template(request["template"], ("request", "template"))
    response = templates.get("response")
    if not isinstance(response, dict):
        return [*problems, Problem(("response",), "'response' must map status patterns to templates")]
    for key, entry in response.items():
        loc = ("response", key)
        if not _STATUS_KEY.fullmatch(str(key)):
            problems.append(
                Problem(loc, f"{str(key)[:20]!r} is not a status, a class like '4XX', or 'default'")
            )
        elif not isinstance(entry, dict) or entry.get("type") not in ("success", "failure"):
            problems.append(Problem(loc, "Each response entry needs 'type' ('success' or 'failure')"))
        elif "template" not in entry:
            problems.append(Problem(loc, "Each response entry needs a 'template'", "missing"))
        else:
            problems += check_template(entry["template"], (*loc, "template"))
    return problems


# --- the request --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str  # upper case
    url: str
    headers: dict[str, str]
    body: bytes | None


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return ",".join(_text(v, what) for v in value)
    raise RequestProblem(f"{what} must be a string, a number, a boolean or a list of them")


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestProblem(f"'{key}' must be an object of parameters")
    return value


def build_request(
    method: str, url_template: str, request: Any, *, content_type: str | None = None
) -> HttpRequest:
    """The HTTP request for the rendered request template `request`; RequestProblem when it cannot be made."""
    if not isinstance(request, dict):
        raise RequestProblem("The request template must give an object")
    path = _mapping(request.get("path"), "path")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in path or path[name] is None:
            raise RequestProblem(f"The path parameter {name!r} is missing")
        return quote(_text(path[name], f"The path parameter {name!r}"), safe="")

    url = _PLACEHOLDER.sub(fill, url_template)
    pairs: list[tuple[str, str]] = []
    for name, value in _mapping(request.get("query"), "query").items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((name, _text(item, f"The query parameter {name!r}")) for item in value)
        elif isinstance(value, dict):
            pairs.append((name, json.dumps(value, separators=(",", ":"))))
        else:
            pairs.append((name, _text(value, f"The query parameter {name!r}")))
    if pairs:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True) + pairs
        url = urlunsplit(parts._replace(query=urlencode(query)))
    headers: dict[str, str] = {"Accept": "application/json, */*;q=0.5"}
    for name, value in _mapping(request.get("headers"), "headers").items():
        if name.lower() in RESERVED_HEADERS:
            raise RequestProblem(f"The header {name!r} is set by OpenFlows, not by Parameters")
        if value is not None:
            text = _text(value, f"The header {name!r}")
            if "\n" in text or "\r" in text:
                raise RequestProblem(f"The header {name!r} must be one line")
            headers[name] = text
    cookies = _mapping(request.get("cookies"), "cookies")
    if cookies:
        headers["Cookie"] = "; ".join(
            f"{name}={quote(_text(v, f'The cookie {name!r}'), safe='')}"
            for name, v in cookies.items()
            if v is not None
        )
    body = None
    if "body" in request:
        body = json.dumps(request["body"], separators=(",", ":"), ensure_ascii=False).encode()
        headers["Content-Type"] = content_type or "application/json"
    return HttpRequest(method.upper(), url, headers, body)


def redact_url(url: str) -> str:
    """`url` for the run log: no user information; values of secret-looking query names hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (name, "REDACTED" if _SECRET_NAME.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


# --- the answer ---------------------------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def answer_document(status_code: int, headers: dict[str, str], content: bytes) -> dict[str, Any]:
    """`{"status_code", "headers", "body"}`: `headers` lower-cased and limited to KEPT_HEADERS; the body
    parsed when it is JSON, else text (undecodable bytes replaced), null when empty."""
    lowered = {name.lower(): value for name, value in headers.items()}
    kept = {name: lowered[name] for name in KEPT_HEADERS if name in lowered}
    body: Any = None
    if content:
        text = content.decode("utf-8", errors="replace")
        body = text
        if _is_json(lowered.get("content-type", "")):
            try:
                body = json.loads(text)
            except ValueError:
                body = text
    return {"status_code": status_code, "headers": kept, "body": body}


@dataclasses.dataclass(frozen=True, slots=True)
class Mapped:
    """What an answer means for the state: a result, or an error name and its cause."""

    success: bool
    result: Any = None
    error: str = ""
    cause: Any = None


def _entry_for(response: dict[str, Any], status_code: int) -> dict[str, Any] | None:
    for key in (str(status_code), f"{status_code // 100}XX", "default"):
        entry = response.get(key)
        if isinstance(entry, dict):
            return entry
    return None


def map_answer(templates: dict[str, Any], answer: dict[str, Any]) -> Mapped:
    """Apply the response templates to an answer (the first of: exact status, its class, `default`; without
    one, 2xx succeed with the answer and anything else fails with ActionFailedException)."""
    response = templates.get("response") if isinstance(templates, dict) else None
    entry = _entry_for(response if isinstance(response, dict) else {}, int(answer["status_code"]))
    if entry is None:
        if 200 <= answer["status_code"] < 300:
            return Mapped(True, result=answer)
        return Mapped(False, error="ActionFailedException", cause=answer)
    rendered = render(entry.get("template"), answer)
    if entry.get("type") == "success":
        return Mapped(True, result=rendered)
    if isinstance(rendered, dict) and rendered.get("exception") in EXCEPTIONS:
        return Mapped(False, error=rendered["exception"], cause=rendered.get("cause"))
    return Mapped(False, error="ActionFailedException", cause=rendered)
