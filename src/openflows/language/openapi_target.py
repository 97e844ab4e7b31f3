"""The `target` of a registered API (issue 15): one operation of an OpenAPI 3.1 document, checked and read.

A target is `{"type": "openapi", "openapi_version": "3.1", "destination": {"method", "url"}, "specification":
<the OpenAPI operation object>, "components"?: <the components it references>}` (what `gra build` writes and
the hosted service stores). `check_target(target)` refuses anything the service could not call safely, each
problem located (`loc` from the target's root), and returns the operation read into an `Operation`:

- `openapi_version` 3.1 (the version the hosted service requires); `type` "openapi";
- `destination.method` one of `METHODS`; `destination.url` an absolute http(s) URL whose `{name}` placeholders
  are exactly the operation's path parameters;
- parameters (`in`: path, query, header, cookie) with a name and a schema; path parameters required;
  `Authorization` and the hop-by-hop headers cannot be parameters (OpenFlows sets them);
- a request body, if any, with a JSON media type (`application/json` or `*/*+json`);
- every `$ref` local (`#/components/...`), resolvable, and no chain of references longer than
  `MAX_REF_CHAIN` nor circular where a value (a parameter, a request body) must be reached;
- the target at most `MAX_TARGET_BYTES` of JSON and `MAX_TARGET_NODES` values, checked before anything else.

`Operation.scopes` are the Globus Auth scopes of the operation's `security` requirements named `GlobusAuth`,
in order (openapi-requirements of globus-registered-api: the first is the one requested when the user has
consented to none).

`reduce_document(document, method, path)` does what `gra build` does for a whole OpenAPI document: selects one
operation (path-level parameters merged, method-level ones winning) and copies only the components it
references, transitively; the same bounds apply, so a huge or hostile document is refused quickly.

`state_input_schema(op)` and `default_data_templates(op)` derive what the service returns with the target:
the Parameters an Action state gives the operation, nested the hosted way (`{"path": {...}, "query": {...},
"headers": {...}, "cookies": {...}, "body": ...}`), as a JSON Schema whose `$defs` hold the referenced
component schemas; and the templates that turn those Parameters into a request and the answer into a result.

Pure: no I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .model import Problem

#: HTTP methods a registered API may use (lower case, as in `destination.method`)
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
#: methods that may be repeated without changing the result (RFC 9110 §9.2.2)
IDEMPOTENT_METHODS = frozenset({"get", "head", "put", "delete", "options"})
#: parameter locations, and the key of the state's Parameters that holds each
LOCATIONS = {"path": "path", "query": "query", "header": "headers", "cookie": "cookies"}
#: headers a parameter may not set (OpenFlows sets them, or they are connection-level)
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "keep-alive",
        "cookie",
    }
)
#: largest target, as compact JSON
MAX_TARGET_BYTES = 256 * 1024  # bytes
#: most JSON values (objects, arrays, scalars) in a target or a document being reduced
MAX_TARGET_NODES = 50_000  # values
#: longest chain of `$ref`s followed to reach one parameter or request body
MAX_REF_CHAIN = 16  # references
#: most problems reported for one target
MAX_PROBLEMS = 50
#: longest accepted scope string
MAX_SCOPE_CHARS = 512  # characters
#: most parameters of one operation
MAX_PARAMETERS = 200

_PLACEHOLDER = re.compile(r"\{([^{}/]*)\}")
#: the OpenAPI versions accepted (ASCII digits: the pattern means the same in Python and ECMA-262)
_VERSION = re.compile(r"3\.1(\.[0-9]+)?")
#: how `destination.url` must start (no blank before the scheme: `urlsplit` would strip it)
_URL_START = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://")
_COMPONENT_REF = re.compile(r"^#/components/([A-Za-z]+)/([^/]+)$")

Loc = tuple[str | int, ...]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


#: what the OpenAPI document of `POST /registered_apis` states about `target`: the shape `check_target`
#: enforces (each rule here is one it applies, so a value this schema refuses is refused by the server too).
#: The rest is the OpenAPI language itself (placeholders that are the path parameters, `$ref`s that resolve,
#: parameter and body rules), which no JSON Schema states: those problems come back as 422s under `target`.
TARGET_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One operation of an OpenAPI 3.1 document, as `gra build` writes it",
    "required": ["type", "openapi_version", "destination", "specification"],
    "properties": {
        "type": {"const": "openapi"},
        "openapi_version": {"type": "string", "pattern": "^3[.]1([.][0-9]+)?$", "examples": ["3.1"]},
        "destination": {
            "type": "object",
            "required": ["method", "url"],
            "properties": {
                "method": {
                    "type": "string",
                    "pattern": "^(?:" + "|".join(_any_case(m) for m in METHODS) + ")$",
                    "examples": list(METHODS),
                },
                "url": {
                    "type": "string",
                    "pattern": "^" + _URL_START.pattern,
                    "description": "An absolute http(s) URL; its {placeholders} are the path parameters",
                    "examples": ["https://api.example.org/things/{thing_id}"],
                },
            },
        },
        "specification": {
            "type": "object",
            "description": "The OpenAPI operation object",
            "properties": {
                "parameters": {
                    "type": ["array", "null"],
                    "maxItems": MAX_PARAMETERS,
                    "items": {"type": "object"},
                },
                "requestBody": {"type": ["object", "null"]},
                "security": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "properties": {
                            "GlobusAuth": {
                                "type": ["array", "null"],
                                "items": {"type": "string", "minLength": 1},
                            }
                        },
                    },
                },
            },
        },
        "components": {"type": ["object", "null"], "description": "The components the operation references"},
    },
}


@dataclasses.dataclass(frozen=True, slots=True)
class Parameter:
    """One operation parameter."""

    name: str
    location: str  # path | query | header | cookie
    required: bool
    schema: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """A checked target, read."""

    method: str  # lower case
    url: str  # the URL template
    parameters: tuple[Parameter, ...]
    body_schema: dict[str, Any] | None  # None: the operation takes no body
    body_required: bool
    content_type: str | None
    scopes: tuple[str, ...]
    #: component schemas the parameters and the body reference (for `$defs`)
    schemas: dict[str, Any]

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, loc: Loc, msg: str, type_: str = "value_error") -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(loc, msg, type_))


def _size_problems(value: Any, loc: Loc) -> list[Problem]:
    """Refuse an oversized value before walking it further (counting stops at the limit)."""
    nodes = 0
    stack = [value]
    while stack:
        item = stack.pop()
        nodes += 1
        if nodes > MAX_TARGET_NODES:
            return [
                Problem(loc, f"More than {MAX_TARGET_NODES:,} values: too large to register", "too_large")
            ]
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    size = len(json.dumps(value, separators=(",", ":"), default=str))
    if size > MAX_TARGET_BYTES:
        return [
            Problem(loc, f"{size:,} bytes of JSON, more than the limit of {MAX_TARGET_BYTES:,}", "too_large")
        ]
    return []


def _refs(value: Any, loc: Loc) -> Iterator[tuple[str, Loc]]:
    """Every `$ref` string in `value`, with its location (iterative: no recursion limit)."""
    stack: list[tuple[Any, Loc]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref, (*where, "$ref")
            stack.extend((v, (*where, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))


def _check_refs(target: dict[str, Any], components: dict[str, Any], problems: _Problems) -> None:
    """Every `$ref` local to the components and resolvable."""
    for part in ("specification", "components"):
        for ref, loc in _refs(target.get(part), (part,)):
            match = _COMPONENT_REF.match(ref)
            if match is None:
                kind = "remote" if not ref.startswith("#") else "unsupported"
                problems.add(
                    loc,
                    f"The {kind} reference {ref[:200]!r} is not allowed: a registered API references only "
                    "its own components ('#/components/<kind>/<name>')",
                )
                continue
            section, name = match.group(1), _unescape(match.group(2))
            if not isinstance(components.get(section), dict) or name not in components[section]:
                problems.add(loc, f"The reference {ref[:200]!r} names a component that the target lacks")


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def resolve(value: Any, components: dict[str, Any], loc: Loc, problems: _Problems) -> Any:
    """`value`, following `$ref`s to components (at most MAX_REF_CHAIN, no cycles); None after a problem."""
    seen: list[str] = []
    while isinstance(value, dict) and isinstance(value.get("$ref"), str):
        ref = value["$ref"]
        if ref in seen:
            problems.add(loc, f"The references {' -> '.join([*seen, ref])[:300]} form a cycle")
            return None
        if len(seen) >= MAX_REF_CHAIN:
            problems.add(loc, f"A chain of more than {MAX_REF_CHAIN} references ({seen[0]} -> ...)")
            return None
        seen.append(ref)
        match = _COMPONENT_REF.match(ref)
        section = components.get(match.group(1)) if match else None
        name = _unescape(match.group(2)) if match else ""
        if not isinstance(section, dict) or name not in section:
            return None  # reported by _check_refs
        value = section[name]
    return value


def check_target(target: Any) -> tuple[Operation | None, list[Problem]]:
    """The operation of a valid target, or None and the problems (located from the target's root)."""
    if not isinstance(target, dict):
        return None, [Problem((), "The target must be an object", "type_error")]
    too_large = _size_problems(target, ())
    if too_large:
        return None, too_large
    problems = _Problems()
    if target.get("type") != "openapi":
        problems.add(("type",), "The target 'type' must be 'openapi'")
    version = target.get("openapi_version")
    if not isinstance(version, str) or _VERSION.fullmatch(version) is None:
        problems.add(
            ("openapi_version",),
            f"OpenAPI version {str(version)[:20]!r} is not supported: registered APIs need OpenAPI 3.1",
        )
    components = target.get("components", {})
    if components is None:
        components = {}
    if not isinstance(components, dict):
        problems.add(("components",), "'components' must be an object", "type_error")
        components = {}
    spec = target.get("specification")
    if not isinstance(spec, dict):
        problems.add(("specification",), "'specification' must be an OpenAPI operation object", "type_error")
        return None, problems.items
    _check_refs(target, components, problems)
    method, url = _destination(target.get("destination"), problems)
    parameters = _parameters(spec, components, problems)
    body_schema, body_required, content_type = _request_body(spec, components, problems)
    scopes = _scopes(spec.get("security"), problems)
    if url is not None:
        _check_placeholders(url, parameters, problems)
    if problems.items or method is None or url is None:
        return None, problems.items
    schemas = _referenced_schemas(
        [p.schema for p in parameters] + ([body_schema] if body_schema is not None else []), components
    )
    return (
        Operation(
            method=method,
            url=url,
            parameters=tuple(parameters),
            body_schema=body_schema,
            body_required=body_required,
            content_type=content_type,
            scopes=tuple(scopes),
            schemas=schemas,
        ),
        [],
    )


def _destination(destination: Any, problems: _Problems) -> tuple[str | None, str | None]:
    if not isinstance(destination, dict):
        problems.add(
            ("destination",), "'destination' must be an object with 'method' and 'url'", "type_error"
        )
        return None, None
    method = destination.get("method")
    if not isinstance(method, str) or not method.isascii() or method.lower() not in METHODS:
        problems.add(
            ("destination", "method"),
            f"'method' must be one of {', '.join(METHODS)}, not {str(method)[:20]!r}",
        )
        method = None
    url = destination.get("url")
    if not isinstance(url, str) or _URL_START.match(url) is None:
        problems.add(
            ("destination", "url"),
            "'url' must be an absolute http or https URL (starting with http:// or https://)",
            "type_error" if not isinstance(url, str) else "value_error",
        )
        return (method.lower() if method else None), None
    try:
        parts = urlsplit(_PLACEHOLDER.sub("x", url))
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        problems.add(
            ("destination", "url"), f"'url' must be an absolute http or https URL, not {url[:200]!r}"
        )
        return (method.lower() if method else None), None
    if parts.username or parts.password:
        problems.add(
            ("destination", "url"), "'url' must not hold credentials; the operation's scopes say how"
        )
    if _PLACEHOLDER.search(urlsplit(url).netloc):
        problems.add(("destination", "url"), "Only the path of 'url' may hold {placeholders}")
    return (method.lower() if method else None), url


def _parameters(spec: dict[str, Any], components: dict[str, Any], problems: _Problems) -> list[Parameter]:
    raw = spec.get("parameters", [])
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(("specification", "parameters"), "'parameters' must be a list", "type_error")
        return []
    if len(raw) > MAX_PARAMETERS:
        problems.add(("specification", "parameters"), f"More than {MAX_PARAMETERS} parameters")
        return []
    found: dict[tuple[str, str], Parameter] = {}
    for index, item in enumerate(raw):
        loc: Loc = ("specification", "parameters", index)
        value = resolve(item, components, loc, problems)
        if not isinstance(value, dict):
            if value is not None or not isinstance(item, dict) or "$ref" not in item:
                problems.add(loc, "A parameter must be an object", "type_error")
            continue
        parameter = _parameter(value, components, loc, problems)
        if parameter is not None:
            found[
                (
                    parameter.location,
                    parameter.name.lower() if parameter.location == "header" else parameter.name,
                )
            ] = parameter
    return list(found.values())


def _parameter(
    value: dict[str, Any], components: dict[str, Any], loc: Loc, problems: _Problems
) -> Parameter | None:
    name, where = value.get("name"), value.get("in")
    if not isinstance(name, str) or not name or len(name) > 256:
        problems.add((*loc, "name"), "A parameter needs a 'name' (1 to 256 characters)")
        return None
    if where not in LOCATIONS:
        problems.add((*loc, "in"), f"'in' must be one of {', '.join(LOCATIONS)}, not {str(where)[:20]!r}")
        return None
    if where == "header" and name.lower() in RESERVED_HEADERS:
        problems.add((*loc, "name"), f"The header {name!r} is set by OpenFlows and cannot be a parameter")
        return None
    required = value.get("required", False)
    if where == "path" and required is not True:
        problems.add(
            (*loc, "required"), f"The path parameter {name!r} must be required (OpenAPI 3.1 §4.8.12)"
        )
    schema = value.get("schema")
    if schema is None and isinstance(value.get("content"), dict):
        media = next(iter(value["content"].values()), None)
        schema = media.get("schema") if isinstance(media, dict) else None
    if schema is None:
        schema = {}
    if not isinstance(schema, dict | bool):
        problems.add((*loc, "schema"), "A parameter's 'schema' must be a JSON Schema", "type_error")
        return None
    return Parameter(name, where, bool(required), schema if isinstance(schema, dict) else {})


def _is_json(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or (base.startswith("application/") and base.endswith("+json"))


def _request_body(
    spec: dict[str, Any], components: dict[str, Any], problems: _Problems
) -> tuple[dict[str, Any] | None, bool, str | None]:
    if "requestBody" not in spec:
        return None, False, None
    loc: Loc = ("specification", "requestBody")
    body = resolve(spec["requestBody"], components, loc, problems)
    if not isinstance(body, dict):
        if body is not None:
            problems.add(loc, "'requestBody' must be an object", "type_error")
        return None, False, None
    content = body.get("content")
    if not isinstance(content, dict) or not content:
        problems.add((*loc, "content"), "'requestBody' needs 'content' with a JSON media type")
        return None, False, None
    json_types = [media for media in content if isinstance(media, str) and _is_json(media)]
    if not json_types:
        problems.add(
            (*loc, "content"),
            "Registered APIs send JSON request bodies; this operation accepts only "
            + ", ".join(content)[:200],
        )
        return None, False, None
    media = content[json_types[0]]
    schema = media.get("schema", {}) if isinstance(media, dict) else {}
    if not isinstance(schema, dict | bool):
        problems.add((*loc, "content", json_types[0], "schema"), "Must be a JSON Schema", "type_error")
        return None, False, None
    return (schema if isinstance(schema, dict) else {}), body.get("required") is True, json_types[0]


def _scopes(security: Any, problems: _Problems) -> list[str]:
    if security is None:
        return []
    if not isinstance(security, list):
        problems.add(("specification", "security"), "'security' must be a list", "type_error")
        return []
    scopes: list[str] = []
    for index, requirement in enumerate(security):
        loc: Loc = ("specification", "security", index)
        if not isinstance(requirement, dict):
            problems.add(loc, "A security requirement must be an object", "type_error")
            continue
        named = requirement.get("GlobusAuth")
        if named is None:
            continue  # another scheme: OpenFlows sends no credential for it
        if not isinstance(named, list) or not all(isinstance(s, str) and s for s in named):
            problems.add((*loc, "GlobusAuth"), "'GlobusAuth' must list scope strings", "type_error")
            continue
        for scope in named:
            if len(scope) > MAX_SCOPE_CHARS or any(ch.isspace() for ch in scope):
                problems.add((*loc, "GlobusAuth"), f"{scope[:80]!r} is not a scope string")
            elif scope not in scopes:
                scopes.append(scope)
    return scopes


def _check_placeholders(url: str, parameters: list[Parameter], problems: _Problems) -> None:
    placeholders = _PLACEHOLDER.findall(url)
    path_names = {p.name for p in parameters if p.location == "path"}
    for name in placeholders:
        if name not in path_names:
            problems.add(
                ("destination", "url"), f"The placeholder {{{name}}} of 'url' is not a path parameter"
            )
    for name in sorted(path_names - set(placeholders)):
        problems.add(("specification", "parameters"), f"The path parameter {name!r} is not in 'url'")


def _referenced_schemas(roots: list[Any], components: dict[str, Any]) -> dict[str, Any]:
    """The component schemas `roots` reference, transitively (names -> schemas)."""
    schemas = components.get("schemas") if isinstance(components.get("schemas"), dict) else {}
    found: dict[str, Any] = {}
    pending = [ref for root in roots for ref, _ in _refs(root, ())]
    while pending:
        match = _COMPONENT_REF.match(pending.pop())
        if match is None or match.group(1) != "schemas":
            continue
        name = _unescape(match.group(2))
        if name in found or name not in schemas:
            continue
        found[name] = schemas[name]
        pending.extend(ref for ref, _ in _refs(schemas[name], ()))
    return found


# --- derived documents --------------------------------------------------------------------------------------


def _rewrite_refs(value: Any) -> Any:
    """A copy of `value` with `#/components/schemas/X` references pointing at `#/$defs/X`."""
    if isinstance(value, dict):
        out = {k: _rewrite_refs(v) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out["$ref"] = "#/$defs/" + ref.removeprefix("#/components/schemas/")
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


def state_input_schema(op: Operation) -> dict[str, Any]:
    """The JSON Schema of an Action state's Parameters for `op` (the hosted nesting, see the module doc)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for where, key in LOCATIONS.items():
        group = [p for p in op.parameters if p.location == where]
        if not group:
            continue
        properties[key] = {
            "type": "object",
            "properties": {p.name: _rewrite_refs(p.schema) for p in group},
            "required": [p.name for p in group if p.required],
            "additionalProperties": where == "header",
        }
        if any(p.required for p in group):
            required.append(key)
    if op.body_schema is not None:
        properties["body"] = _rewrite_refs(op.body_schema)
        if op.body_required:
            required.append("body")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if op.schemas:
        schema["$defs"] = {name: _rewrite_refs(value) for name, value in op.schemas.items()}
    return schema


def default_data_templates(op: Operation) -> dict[str, Any]:
    """The request template (each location's Parameters to that part of the request) and the response
    templates: a 2XX answer is the result; 5XX fails with ActionFailedException; anything else (4XX) with
    ActionUnableToRun, the answer as the cause."""
    request = {
        key: {"$T_ref": f"$.{key}"}
        for where, key in LOCATIONS.items()
        if any(p.location == where for p in op.parameters)
    }
    if op.body_schema is not None:
        request["body"] = {"$T_ref": "$.body"}
    return {
        "request": {"template": request},
        "response": {
            "2XX": {"type": "success", "template": {"$T_ref": "$"}},
            "5XX": {
                "type": "failure",
                "template": {"cause": {"$T_ref": "$"}, "exception": "ActionFailedException"},
            },
            "default": {
                "type": "failure",
                "template": {"cause": {"$T_ref": "$"}, "exception": "ActionUnableToRun"},
            },
        },
    }


# --- reducing a whole OpenAPI document to one target --------------------------------------------------------


def reduce_document(
    document: Any, method: str, path: str, *, base_url: str | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The target for `method path` of an OpenAPI 3.1 `document` (as `gra build` makes it), or the problems.

    The destination URL is `base_url` (else the document's first server) + `path`."""
    if not isinstance(document, dict):
        return None, [Problem((), "An OpenAPI document must be an object", "type_error")]
    nodes = _size_problems(document, ())
    if nodes and "values" in nodes[0].msg:
        return None, nodes
    problems = _Problems()
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3.1"):
        problems.add(("openapi",), f"OpenAPI {str(version)[:20]!r}: registered APIs need OpenAPI 3.1")
    paths = document.get("paths") if isinstance(document.get("paths"), dict) else {}
    item = paths.get(path)
    if not isinstance(item, dict):
        known = ", ".join(sorted(paths)[:20])
        problems.add(("paths",), f"The document has no path {path!r} (paths: {known})")
        return None, problems.items
    operation = item.get(method.lower())
    if not isinstance(operation, dict):
        methods = ", ".join(m.upper() for m in METHODS if isinstance(item.get(m), dict))
        problems.add(("paths", path), f"{path} has no {method.upper()} operation (methods: {methods})")
        return None, problems.items
    spec = copy.deepcopy(operation)
    shared = item.get("parameters") if isinstance(item.get("parameters"), list) else []
    if shared:
        spec["parameters"] = copy.deepcopy(shared) + list(spec.get("parameters") or [])
    if base_url is None:
        servers = document.get("servers")
        first = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {}
        base_url = first.get("url") if isinstance(first.get("url"), str) else None
    if not base_url:
        problems.add(("servers",), "The document names no server: give the base URL")
        return None, problems.items
    all_components = document.get("components") if isinstance(document.get("components"), dict) else {}
    components = _collect_components(spec, all_components)
    target: dict[str, Any] = {
        "type": "openapi",
        "openapi_version": "3.1",
        "destination": {"method": method.lower(), "url": base_url.rstrip("/") + path},
        "specification": spec,
    }
    if components:
        target["components"] = components
    if problems.items:
        return None, problems.items
    return target, []


def _collect_components(spec: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The components `spec` references, transitively (bounded by MAX_TARGET_NODES copies)."""
    found: dict[str, dict[str, Any]] = {}
    pending = [ref for ref, _ in _refs(spec, ())]
    copied = 0
    while pending and copied <= MAX_TARGET_NODES:
        match = _COMPONENT_REF.match(pending.pop())
        if match is None:
            continue
        section, name = match.group(1), _unescape(match.group(2))
        source = components.get(section)
        if not isinstance(source, dict) or name not in source or name in found.get(section, {}):
            continue
        found.setdefault(section, {})[name] = copy.deepcopy(source[name])
        copied += 1
        pending.extend(ref for ref, _ in _refs(source[name], ()))
    return found
