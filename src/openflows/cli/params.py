"""Reading documents given on the command line: inline JSON, a file (JSON or YAML), or `-` for stdin."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .common import CLIError


def load_document(value: str, *, what: str = "document") -> tuple[Any, str]:
    """`(document, source)`: `value` is inline JSON, `-` (stdin) or a path to a JSON or YAML file; `source`
    names where it came from, for messages."""
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
    return parse_text(text, source=source, what=what), source


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
