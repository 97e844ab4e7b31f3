"""`openflows flows validate`: check a definition (and an input schema) locally with openflows.language
and print each problem like a compiler, `FILE:LINE:COLUMN: state NAME: field FIELD: message`.

Validation is always local (no server, no token): it uses the same library as the server, so the verdict is
the server's. Lines are found by re-reading the file as YAML (a superset of JSON) and following `loc`.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from .common import CLIError
from .params import load_document


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


def describe_loc(loc: tuple[Any, ...]) -> str:
    """`state NAME: field A.B` for ("States", NAME, "A", "B"), else the dotted path."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "States":
        rest = ".".join(parts[2:])
        return f"state {parts[1]}" + (f": field {rest}" if rest else "")
    return f"field {'.'.join(parts)}" if parts else "definition"


def _read(value: str, what: str) -> tuple[Any, str, str | None]:
    document, source = load_document(value, what=what)
    text: str | None = None
    if source not in ("<stdin>",):
        text = value if source == "<inline>" else open(value, encoding="utf-8").read()  # noqa: SIM115
    return document, source, text


def validate_files(definition: str, input_schema: str | None, *, strict: bool, format: str) -> int:
    """Validate; print problems; return the exit status (0 valid, 1 problems)."""
    from ..language.schema_check import validate_input_schema
    from ..language.validation import validate_definition

    try:
        document, source, text = _read(definition, "definition")
        found: list[tuple[str, str | None, Any]] = [
            (source, text, problem) for problem in validate_definition(document, strict=strict)
        ]
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
                },
                indent=2,
            )
        )
        return 1 if found else 0
    for src, text, problem in found:
        where = src
        position = locate(text, problem.loc) if text is not None else None
        if position is not None:
            where += f":{position[0]}:{position[1]}"
        typer.echo(f"{where}: {describe_loc(problem.loc)}: {problem.msg}")
    if found:
        typer.echo(f"{len(found)} problem{'s' if len(found) != 1 else ''} found.", err=True)
        return 1
    typer.echo(f"{source}: valid.")
    return 0
