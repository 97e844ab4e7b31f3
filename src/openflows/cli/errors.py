"""The one error hook of the client commands: a server error becomes one line with its code (the whole
document with `--debug`) and exit status 1; an unreachable server, a missing profile or a bad argument
become one line too. Commands never catch API errors themselves.

When the error document lists problems (`detail: [{"loc", "msg", "type"}]`: a definition or input schema
the server refused, run input that fails the flow's schema), each is printed with its place: the JSONPath
of `loc` (`$.definition.States.Copy.Next`, `$.n`) and, when the command read that document from a file,
`FILE:LINE:COLUMN` in front, as `openflows flows validate` prints local problems. The server's order is kept
(validation reports causes before their consequences).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from ..profiles import ProfileError
from .common import CLIError

#: a JSONPath step as the server writes it in `loc`: `.name`, `['any name']` or `[3]`
_PATH_STEP = re.compile(r"\.([A-Za-z_$][\w$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][\w$-]*$")


def json_path(loc: Sequence[Any]) -> str:
    """`$.definition.States.Copy.Next` for `["definition", "States", "Copy", "Next"]`; a `loc` that is
    already a JSONPath (`["$.n"]`, as FLOW_INPUT_ERROR gives it) is returned as it is."""
    if len(loc) == 1 and isinstance(loc[0], str) and loc[0].startswith("$"):
        return loc[0]
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            path += f".{part}"
        else:
            path += "['" + str(part).replace("\\", "\\\\").replace("'", "\\'") + "']"
    return path


def parse_json_path(path: str) -> tuple[Any, ...] | None:
    """The steps of a simple JSONPath (`$.a['b c'][0]`), or None when it is not one."""
    if not path.startswith("$"):
        return None
    steps: list[Any] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None:
            return None
        name, quoted, index = match.groups()
        if index is not None:
            steps.append(int(index))
        elif quoted is not None:
            steps.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            steps.append(name)
        position = match.end()
    return tuple(steps)


def _file_position(loc: Sequence[Any]) -> str:
    """`FILE:LINE:COLUMN` of the problem at `loc` in the document the command read for it, or ""."""
    from .params import loaded_document, locate

    if len(loc) == 1 and isinstance(loc[0], str) and loc[0].startswith("$"):
        role, inner = "$", parse_json_path(loc[0])
    elif loc and isinstance(loc[0], str):
        role, inner = loc[0], tuple(loc[1:])
    else:
        return ""
    document = loaded_document(role)
    if document is None or not document.is_file or inner is None:
        return ""
    position = locate(document.text, inner)
    return f"{document.source}:{position[0]}:{position[1]}" if position else document.source


def located_problems(err: object) -> list[str]:
    """`[FILE:LINE:COLUMN: ]$.path: message` for each problem of the error document, or [] if none."""
    raw = getattr(err, "raw_json", None)
    error = raw.get("error") if isinstance(raw, dict) else None
    detail = error.get("detail") if isinstance(error, dict) else None
    if not isinstance(detail, list) or not detail:
        return []
    if not all(isinstance(d, dict) and isinstance(d.get("loc"), list) and "msg" in d for d in detail):
        return []
    lines = []
    for problem in detail:
        loc = problem["loc"]
        where = json_path(loc)
        position = _file_position(loc)
        lines.append(f"{position + ': ' if position else ''}{where}: {problem['msg']}")
    return lines


def describe_api_error(err: object) -> str:
    """`CODE (HTTP status): message` for a globus-sdk API error; problems with a place are listed on the
    following lines (one problem: on the same line)."""
    code = getattr(err, "code", None) or "ERROR"
    status = getattr(err, "http_status", "?")
    problems = located_problems(err)
    if len(problems) == 1:
        return f"{code} (HTTP {status}): {problems[0]}"
    if problems:
        return "\n".join(
            [f"{code} (HTTP {status}): {len(problems)} problems:", *("  " + p for p in problems)]
        )
    messages = getattr(err, "messages", None) or []
    message = "; ".join(str(m) for m in messages) or getattr(err, "message", None) or ""
    if not message:
        raw = getattr(err, "raw_json", None)
        if isinstance(raw, dict) and isinstance(raw.get("error"), dict):
            message = str(raw["error"].get("message") or raw["error"].get("detail") or "")
    return f"{code} (HTTP {status}): {message}".rstrip(": ")


@contextmanager
def handle_client_errors(*, debug: bool = False) -> Iterator[None]:
    """Translate errors raised inside a command into `Error: ...` on stderr and exit status 1."""
    import globus_sdk

    from .params import start_command_documents

    start_command_documents()
    try:
        yield
    except globus_sdk.GlobusAPIError as err:
        typer.echo(f"Error: {describe_api_error(err)}", err=True)
        if debug:
            document = err.raw_json if err.raw_json is not None else err.text
            request = getattr(getattr(err, "_underlying_response", None), "request", None)
            if request is not None:
                typer.echo(f"{request.method} {request.url}", err=True)
            typer.echo(
                json.dumps(document, indent=2) if not isinstance(document, str) else document, err=True
            )
        raise typer.Exit(1) from None
    except globus_sdk.GlobusConnectionError as err:
        typer.echo(f"Error: cannot reach the server: {err.exc if hasattr(err, 'exc') else err}", err=True)
        raise typer.Exit(1) from None
    except (CLIError, ProfileError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
