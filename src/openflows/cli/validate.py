"""`openflows flows validate`: check a definition (and an input schema) locally with openflows.language
and print each problem like a compiler, `FILE:LINE:COLUMN: state NAME: field FIELD: message`.

Validation is always local (no server, no token): it uses the same library as the server, so the verdict is
the server's. Lines are found by re-reading the file as YAML (a superset of JSON) and following `loc`.

Warnings (what is valid but probably wrong: an action URL that is a near miss of a Globus-hosted provider) are
printed after the problems as `FILE:LINE:COLUMN: state NAME: field FIELD: warning: message`; they do not
change the exit status. `print_definition_warnings` prints them for the commands that send a definition to a
server (`flows create`, `flows update`, `dev run`).
"""

from __future__ import annotations

import json
from typing import Any

import typer

from .common import CLIError
from .params import load_document, locate


def describe_loc(loc: tuple[Any, ...]) -> str:
    """`state NAME: field A.B` for ("States", NAME, "A", "B"), else the dotted path. A state inside a Map or a
    Parallel is named with its enclosing states: `state Fan > X: field Next`, `state Both > branch 1 > B`."""
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "States":
        names, i = [str(parts[1])], 2
        while True:
            if parts[i : i + 1] in (["Iterator"], ["ItemProcessor"]) and parts[i + 1 : i + 2] == ["States"]:
                if len(parts) <= i + 2:
                    break
                names.append(str(parts[i + 2]))
                i += 3
            elif (
                parts[i : i + 1] == ["Branches"]
                and len(parts) > i + 3
                and isinstance(parts[i + 1], int)
                and parts[i + 2] == "States"
            ):
                names += [f"branch {parts[i + 1]}", str(parts[i + 3])]
                i += 4
            else:
                break
        rest = ".".join(str(p) for p in parts[i:])
        return f"state {' > '.join(names)}" + (f": field {rest}" if rest else "")
    return f"field {'.'.join(str(p) for p in parts)}" if parts else "definition"


def _read(value: str, what: str) -> tuple[Any, str, str | None]:
    document, source = load_document(value, what=what)
    text: str | None = None
    if source not in ("<stdin>",):
        text = value if source == "<inline>" else open(value, encoding="utf-8").read()  # noqa: SIM115
    return document, source, text


def validate_files(
    definition: str, input_schema: str | None, *, strict: bool, format: str, portable: bool = False
) -> int:
    """Validate; print problems (and with `portable`, each use of an OpenFlows extension: notes, which do
    not change the exit status); return the exit status (0 valid, 1 problems)."""
    from ..language.portability import portability_entries, portability_notes
    from ..language.provider_urls import action_url_warnings
    from ..language.schema_check import validate_input_schema
    from ..language.validation import validate_definition

    try:
        document, source, text = _read(definition, "definition")
        found: list[tuple[str, str | None, Any]] = [
            (source, text, problem) for problem in validate_definition(document, strict=strict)
        ]
        warnings = [(source, text, warning) for warning in action_url_warnings(document)]
        notes = [(source, text, note) for note in portability_notes(document)] if portable else []
        if input_schema is not None:
            schema, schema_source, schema_text = _read(input_schema, "input schema")
            found += [(schema_source, schema_text, p) for p in validate_input_schema(schema)]
    except CLIError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    if format == "json":
        typer.echo(
            json.dumps(
                {
                    "valid": not found,
                    "problems": [{"file": src, **problem.as_dict()} for src, _, problem in found],
                    "warnings": [{"file": src, **warning.as_dict()} for src, _, warning in warnings],
                    **(
                        {"portability": [{"file": source, **e} for e in portability_entries(document)]}
                        if portable
                        else {}
                    ),
                },
                indent=2,
            )
        )
        return 1 if found else 0
    for src, text, problem in found:
        typer.echo(f"{_where(src, text, problem.loc)}: {describe_loc(problem.loc)}: {problem.msg}")
    for src, text, warning in warnings:
        typer.echo(f"{_where(src, text, warning.loc)}: {describe_loc(warning.loc)}: warning: {warning.msg}")
    for src, text, note in notes:
        typer.echo(f"{_where(src, text, note.loc)}: {describe_loc(note.loc)}: not portable: {note.msg}")
    if found:
        typer.echo(f"{len(found)} problem{'s' if len(found) != 1 else ''} found.", err=True)
        return 1
    count = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    if portable:
        count += (
            f"; uses {len(notes)} OpenFlows extension{'s' if len(notes) != 1 else ''}"
            if notes
            else "; portable to Globus"
        )
    typer.echo(f"{source}: valid{count}.")
    return 0


def _where(source: str, text: str | None, loc: tuple[Any, ...]) -> str:
    position = locate(text, loc) if text is not None else None
    return f"{source}:{position[0]}:{position[1]}" if position is not None else source


def print_definition_warnings(document: Any, role: str = "definition") -> None:
    """`Warning: FILE:LINE:COLUMN: $.definition.PATH: message` on stderr for each warning about a definition
    a command is about to send (the server would accept it; the run would probably not do what was meant)."""
    from ..language.provider_urls import action_url_warnings
    from .errors import json_path
    from .params import loaded_document

    loaded = loaded_document(role)
    for warning in action_url_warnings(document):
        where = json_path((role, *warning.loc))
        if loaded is not None and loaded.is_file:
            where = f"{_where(loaded.source, loaded.text, warning.loc)}: {where}"
        typer.echo(f"Warning: {where}: {warning.msg}", err=True)
