"""JSONPath reference paths: compile, read and write (spec/flows-language.md §1, spec/ecosystem.md §3).

OpenFlows implements the subset of JSONPath that Globus flows use, with its own small compiler (no third-party
parser at run time). A path starts with `$` (the whole document) and continues with segments:

| Segment             | Meaning                                                                       |
|---------------------|-------------------------------------------------------------------------------|
| `.name`             | object member `name`; names may contain `-`, digits, unicode and most symbols |
| `['name']` `["n"]`  | object member with any name; JSON-style backslash escapes                     |
| `[n]`               | array element `n`; negative `n` counts from the end                           |
| `[*]` or `.*`       | every element of an array, or every member value of an object                |
| `[a:b]` `[a:b:c]`   | array slice with Python semantics; each bound optional, negatives allowed    |

Filters (`[?(...)]`), recursive descent (`..`), unions (`[0,1]`), script expressions and the ASL context
object (`$$`) are rejected with a `PathSyntaxError` that says so.

A path is *definite* when it has no wildcard or slice: it names at most one location. Reading a definite
path returns the value there, or raises `PathNotFound`. Reading a non-definite path returns the list of
matched values (ASL semantics; possibly empty), applying each segment to every match of the previous one,
like jsonpath-ng.

`$._context` is a virtual, read-only view of the run (`RunContext.as_dict()`): when a path's first segment
is `_context` and a `context` dict is given, the rest of the path is read from the context instead of the
document. `write_path` refuses to write there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import PathNotFound, PathSyntaxError, PathWriteError

CONTEXT_KEY = "_context"


class Key(NamedTuple):
    """`.name` or `['name']`: an object member."""

    name: str


class Index(NamedTuple):
    """`[n]`: an array element (negative counts from the end)."""

    index: int


class Wildcard(NamedTuple):
    """`[*]` or `.*`: every array element or object member value."""


class Slice(NamedTuple):
    """`[start:stop:step]`: array elements, Python slice semantics."""

    start: int | None
    stop: int | None
    step: int | None


Segment = Key | Index | Wildcard | Slice

# Characters that end an unquoted `.name`.
_NAME_STOP = frozenset(".[]'\"*") | frozenset(" \t\r\n\f\v")
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A parsed path. Build with `compile_path` (cached); read with `.read`, test with `.exists`."""

    text: str
    segments: tuple[Segment, ...]
    definite: bool
    #: text offset where each segment ends (for messages naming the prefix that was found)
    _ends: tuple[int, ...] = field(repr=False, compare=False)
    #: `(is_key, key_or_index)` per segment: the fast loop for definite paths
    _steps: tuple[tuple[bool, Any], ...] = field(repr=False, compare=False)

    @property
    def is_context(self) -> bool:
        """True when the path starts with `$._context` (the read-only run context view)."""
        return bool(self.segments) and self.segments[0] == Key(CONTEXT_KEY)

    def read(self, doc: Any, context: dict[str, Any] | None = None) -> Any:
        """The value at a definite path, or the list of matches of a non-definite path.

        Raises `PathNotFound` when a definite path names a location that does not exist.
        """
        steps = self._steps
        if context is not None and steps and steps[0] == (True, CONTEXT_KEY):
            doc = context
            start = 1
        else:
            start = 0
        if not self.definite:
            return self._read_all(doc, start)
        value = doc
        for i in range(start, len(steps)):
            is_key, arg = steps[i]
            if is_key:
                if isinstance(value, dict):
                    value = value.get(arg, _MISSING)
                    if value is not _MISSING:
                        continue
            elif isinstance(value, list) and -len(value) <= arg < len(value):
                value = value[arg]
                continue
            raise self._not_found(i, start)
        return value

    def exists(self, doc: Any, context: dict[str, Any] | None = None) -> bool:
        """Whether a definite path names an existing location, or a non-definite path matches anything."""
        try:
            found = self.read(doc, context)
        except PathNotFound:
            return False
        return self.definite or bool(found)

    def _read_all(self, doc: Any, start: int) -> list[Any]:
        matches = [doc]
        for seg in self.segments[start:]:
            found: list[Any] = []
            kind = type(seg)
            for value in matches:
                if kind is Key:
                    if isinstance(value, dict):
                        item = value.get(seg.name, _MISSING)
                        if item is not _MISSING:
                            found.append(item)
                elif kind is Index:
                    if isinstance(value, list) and -len(value) <= seg.index < len(value):
                        found.append(value[seg.index])
                elif kind is Wildcard:
                    if isinstance(value, dict):
                        found.extend(value.values())
                    elif isinstance(value, list):
                        found.extend(value)
                elif isinstance(value, list):
                    found.extend(value[seg.start : seg.stop : seg.step])
            matches = found
        return matches

    def _not_found(self, i: int, start: int) -> PathNotFound:
        prefix = self.text[: self._ends[i - 1]] if i > 0 else "$"
        seg = self.segments[i]
        what = f"no member {seg.name!r}" if type(seg) is Key else f"no element [{seg.index}]"
        where = "the run context" if start and i == 1 else repr(prefix)
        err = PathNotFound(f"The path {self.text!r} could not be found: {what} in {where}")
        err.path = self.text  # type: ignore[attr-defined]
        return err


def _syntax_error(text: str, pos: int, what: str) -> PathSyntaxError:
    err = PathSyntaxError(f"Invalid JSONPath {text!r}: {what} at position {pos}")
    err.path = text  # type: ignore[attr-defined]
    return err


def _parse_int(text: str, raw: str, pos: int) -> int | None:
    raw = raw.strip()
    if raw == "":
        return None
    body = raw[1:] if raw.startswith("-") else raw
    if not body.isascii() or not body.isdigit():
        raise _syntax_error(text, pos, f"expected an integer, got {raw!r}")
    if len(body) > 18:
        raise _syntax_error(text, pos, f"integer {raw!r} is too large")
    return int(raw)


def _parse_quoted(text: str, pos: int) -> tuple[str, int]:
    """Parse a quoted name starting at `text[pos]` (a quote); return (name, position after its end)."""
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            esc = text[i + 1]
            if esc == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise _syntax_error(text, i, "invalid \\u escape (expected 4 hex digits)")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if esc not in _ESCAPES:
                raise _syntax_error(text, i, f"invalid escape '\\{esc}' in quoted name")
            out.append(_ESCAPES[esc])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _syntax_error(text, pos, f"unterminated quoted name (missing closing {quote})")


def _parse_bracket(text: str, pos: int) -> tuple[Segment, int]:
    """Parse `[...]` starting at `text[pos]` == '['; return (segment, position after ']')."""
    n = len(text)
    i = pos + 1
    while i < n and text[i] == " ":
        i += 1
    if i >= n:
        raise _syntax_error(text, pos, "unterminated '['")
    ch = text[i]
    if ch == "?":
        raise _syntax_error(text, pos, "filter expressions ([?(...)]) are not supported")
    if ch == "(":
        raise _syntax_error(text, pos, "script expressions ([(...)]) are not supported")
    seg: Segment
    if ch in "'\"":
        name, i = _parse_quoted(text, i)
        seg = Key(name)
    elif ch == "*":
        seg = Wildcard()
        i += 1
    else:
        close = text.find("]", i)
        if close < 0:
            raise _syntax_error(text, pos, "unterminated '['")
        inner = text[i:close]
        if "," in inner:
            raise _syntax_error(text, pos, "unions ([a,b]) are not supported")
        if ":" in inner:
            parts = inner.split(":")
            if len(parts) > 3:
                raise _syntax_error(text, pos, f"invalid slice [{inner}]")
            start = _parse_int(text, parts[0], i)
            stop = _parse_int(text, parts[1], i)
            step = _parse_int(text, parts[2], i) if len(parts) == 3 else None
            if step == 0:
                raise _syntax_error(text, pos, "slice step cannot be zero")
            seg = Slice(start, stop, step)
        else:
            index = _parse_int(text, inner, i)
            if index is None:
                raise _syntax_error(text, pos, "empty brackets []")
            seg = Index(index)
        i = close
    while i < n and text[i] == " ":
        i += 1
    if i >= n or text[i] != "]":
        if i < n and text[i] == ",":
            raise _syntax_error(text, i, "unions ([a,b]) are not supported")
        raise _syntax_error(text, i, "expected ']'")
    return seg, i + 1


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> CompiledPath:
    """Parse a JSONPath; raises `PathSyntaxError` saying what is wrong and where."""
    if not isinstance(text, str):
        raise PathSyntaxError(f"A JSONPath must be a string, not {type(text).__name__}")
    if not text.startswith("$"):
        raise _syntax_error(text, 0, "a path must start with '$'")
    if text.startswith("$$"):
        raise _syntax_error(text, 0, "the context object '$$' is not supported (use '$._context')")
    segments: list[Segment] = []
    ends: list[int] = []
    i, n = 1, len(text)
    while i < n:
        ch = text[i]
        if ch == ".":
            if i + 1 < n and text[i + 1] == ".":
                raise _syntax_error(text, i, "recursive descent ('..') is not supported")
            j = i + 1
            if j < n and text[j] == "*":
                segments.append(Wildcard())
                i = j + 1
            elif j < n and text[j] == "[":
                raise _syntax_error(text, j, "expected a name after '.'")
            else:
                while j < n and text[j] not in _NAME_STOP:
                    j += 1
                if j == i + 1:
                    what = "expected a name or '*' after '.'"
                    if j < n and text[j].isspace():
                        what = "whitespace is not allowed in names (use ['a name'])"
                    raise _syntax_error(text, j, what)
                segments.append(Key(text[i + 1 : j]))
                i = j
        elif ch == "[":
            seg, i = _parse_bracket(text, i)
            segments.append(seg)
        elif ch.isspace():
            raise _syntax_error(text, i, "unexpected whitespace (quote names with spaces: ['a name'])")
        else:
            raise _syntax_error(text, i, f"expected '.' or '[' but found {ch!r}")
        if i < n and text[i] not in ".[":
            ch = text[i]
            if ch.isspace():
                raise _syntax_error(text, i, "unexpected whitespace (quote names with spaces: ['a name'])")
            raise _syntax_error(text, i, f"expected '.' or '[' but found {ch!r}")
        ends.append(i)
    definite = all(type(s) in (Key, Index) for s in segments)
    steps = tuple((type(s) is Key, s[0] if s else None) for s in segments)
    return CompiledPath(text, tuple(segments), definite, tuple(ends), steps)


def read_path(doc: Any, text: str, context: dict[str, Any] | None = None) -> Any:
    """`compile_path(text).read(doc, context)`."""
    return compile_path(text).read(doc, context)


def write_path(doc: Any, text: str, value: Any) -> Any:
    """Return a new document with `value` set at the reference path `text` (a ResultPath write).

    `$` returns `value` itself. Otherwise only the containers along the path are copied (copy-on-write):
    `doc` is never mutated, untouched branches are shared, and `value` is stored as given (not copied).
    Missing intermediate members are created as empty objects. When `doc` is not an object and the path
    starts with a member name, the raw input is replaced by a new object (ASL treats the raw input as an
    object). Raises `PathWriteError` for a non-definite path, a path under `$._context`, a missing array
    index, or a path that goes through something that is not an object or array of the right kind.
    """
    path = compile_path(text)
    if not path.definite:
        raise PathWriteError(
            f"Cannot write to {text!r}: a ResultPath must name exactly one location (no wildcards or slices)"
        )
    segments = path.segments
    if not segments:
        return value
    if path.is_context:
        raise PathWriteError(f"Cannot write to {text!r}: $._context is read-only")
    if type(segments[0]) is Key and not isinstance(doc, dict):
        doc = {}
    root = _copy_container(doc, segments[0], path, 0)
    node = root
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if type(seg) is Key:
            key: Any = seg.name
        else:
            key = _list_position(node, seg.index, path, i)
        if i == last:
            node[key] = value
            break
        child = node.get(key, _MISSING) if type(seg) is Key else node[key]
        child = {} if child is _MISSING else _copy_container(child, segments[i + 1], path, i + 1)
        node[key] = child
        node = child
    return root


def _copy_container(node: Any, seg: Segment, path: CompiledPath, i: int) -> Any:
    """A shallow copy of `node`, which segment `seg` (at index `i`) is about to write into."""
    if type(seg) is Key:
        if isinstance(node, dict):
            return dict(node)
        expected = "an object"
    else:
        if isinstance(node, list):
            return list(node)
        expected = "an array"
    where = path.text[: path._ends[i - 1]] if i > 0 else "$"
    raise PathWriteError(f"Cannot write to {path.text!r}: {where!r} is {_json_type(node)}, not {expected}")


def _list_position(node: list[Any], index: int, path: CompiledPath, i: int) -> int:
    if -len(node) <= index < len(node):
        return index
    where = path.text[: path._ends[i - 1]] if i > 0 else "$"
    raise PathWriteError(
        f"Cannot write to {path.text!r}: index {index} is out of range for the array at {where!r} "
        f"(length {len(node)})"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
