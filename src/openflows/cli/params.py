"""Reading documents given on the command line: inline JSON, a file (JSON or YAML), or `-` for stdin.

A command that sends a document names its place in the request (`role`: `definition`, `input_schema`, or
`$` for a run's input); the error hook (errors.py) then shows the file, line and column of each problem the
server reports, as `openflows flows validate` does for local checks.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from .common import CLIError


@dataclasses.dataclass(frozen=True)
class LoadedDocument:
    """A document a command read: where it came from and its text (for line numbers)."""

    source: str
    text: str

    @property
    def is_file(self) -> bool:
        return self.source not in ("<stdin>", "<inline>")


#: the documents the running command sent, by their role in the request
_LOADED: ContextVar[dict[str, LoadedDocument] | None] = ContextVar("openflows_loaded_documents", default=None)


def start_command_documents() -> None:
    """Forget the documents of an earlier command (called when a client command starts)."""
    _LOADED.set({})


def loaded_document(role: str) -> LoadedDocument | None:
    """The document this command read for `role`, if any."""
    return (_LOADED.get() or {}).get(role)


def load_document(value: str, *, what: str = "document", role: str | None = None) -> tuple[Any, str]:
    """`(document, source)`: `value` is inline JSON, `-` (stdin) or a path to a JSON or YAML file; `source`
    names where it came from, for messages. `role` remembers it for the error hook (see the module)."""
    text: str
    if value == "-":
        text, source = sys.stdin.read(), "<stdin>"
    elif value.lstrip().startswith(("{", "[")):
        text, source = value, "<inline>"
    else:
        path = Path(value)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise CLIError(
                f"{what}: no such file {value!r} (give a path, inline JSON, or - for stdin)"
            ) from None
        except OSError as exc:
            raise CLIError(f"{what}: cannot read {value!r}: {exc.strerror}") from None
        source = value
    document = parse_text(text, source=source, what=what)
    if role is not None:
        loaded = _LOADED.get()
        if loaded is None:
            loaded = {}
            _LOADED.set(loaded)
        loaded[role] = LoadedDocument(source, text)
    return document, source


def parse_text(text: str, *, source: str, what: str = "document") -> Any:
    """JSON, else YAML (YAML is a superset of JSON, so JSON errors are reported when it looks like JSON)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        if source.endswith((".json",)) or text.lstrip().startswith(("{", "[")):
            raise CLIError(
                f"{what}: {source}:{json_error.lineno}:{json_error.colno}: invalid JSON: {json_error.msg}"
            ) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise CLIError(f"{what}: {where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def locate(text: str, loc: tuple[Any, ...]) -> tuple[int, int] | None:
    """1-based (line, column) of the node at `loc` in a JSON/YAML text, or of its nearest ancestor."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    mark = node.start_mark
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child, mark = value, key.start_mark  # point at the key: `Next:`, `Greet:`
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            mark = child.start_mark
        if child is None:
            break
        node = child
    return mark.line + 1, mark.column + 1
