"""`openflows functions ...`: register the Python callables the compute provider may run."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated

import typer

from .common import CLIError, handle_errors, load_settings, open_database, utcnow

app = typer.Typer(name="functions", help="Manage the compute provider's functions.", no_args_is_help=True)

_TARGET = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CLIError(f"{what} must be a UUID (got {value!r})") from None


@app.command("register")
def register_command(
    target: Annotated[str, typer.Argument(help="module:callable, importable by the server's Python.")],
    function_id: Annotated[str, typer.Option("--id", help="The function id (a UUID) flows refer to.")],
) -> None:
    """Register (or replace) a function: flows run it with the compute provider's `function` id."""
    with handle_errors():
        key = _uuid(function_id, "--id")
        if not _TARGET.match(target):
            raise CLIError(f"{target!r} is not module:callable (e.g. mypackage.tasks:process)")
        from ..store.collections import register_function

        with open_database(load_settings()) as db:
            db.transact(register_function, function_id=key, target=target, now=utcnow())
        typer.echo(f"Registered function {key}: {target}")


@app.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the registered functions."""
    with handle_errors():
        from ..store.collections import list_functions

        with open_database(load_settings()) as db, db.read() as conn:
            rows = list_functions(conn)
        items = [{"id": str(row.id), "target": row.target} for row in rows]
        if json_output:
            typer.echo(json.dumps(items))
            return
        if not items:
            typer.echo("No functions.")
        for item in items:
            typer.echo(f"{item['id']}  {item['target']}")


@app.command("remove")
def remove_command(function_id: Annotated[str, typer.Argument(help="The function id.")]) -> None:
    """Unregister a function."""
    with handle_errors():
        key = _uuid(function_id, "the function id")
        from ..store.collections import remove_function

        with open_database(load_settings()) as db:
            removed = db.transact(remove_function, key)
        if not removed:
            raise CLIError(f"no function {key}")
        typer.echo(f"Removed function {key}")
