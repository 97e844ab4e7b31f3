"""`openflows collections ...`: register local directories as collections (the `endpoint` ids that the
transfer, ls, mkdir, stat and delete providers accept)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from .common import CLIError, handle_errors, load_settings, open_database, utcnow

app = typer.Typer(
    name="collections", help="Manage local collections (id -> root directory).", no_args_is_help=True
)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CLIError(f"{what} must be a UUID (got {value!r})") from None


@app.command("add")
def add_command(
    path: Annotated[Path, typer.Argument(help="The collection's root directory (must exist).")],
    collection_id: Annotated[str, typer.Option("--id", help="The collection id (a UUID) flows refer to.")],
    name: Annotated[str, typer.Option("--name", help="A display name.")],
) -> None:
    """Add (or replace) a collection: every path of it resolves inside PATH."""
    with handle_errors():
        key = _uuid(collection_id, "--id")
        root = Path(os.path.realpath(path.expanduser()))
        if not root.is_dir():
            raise CLIError(f"{path} is not a directory")
        if not name.strip() or len(name) > 128:
            raise CLIError("--name must be 1 to 128 characters")
        from ..store.collections import add_collection

        with open_database(load_settings()) as db:
            db.transact(add_collection, collection_id=key, name=name.strip(), root=root, now=utcnow())
        typer.echo(f"Added collection {key} ({name.strip()}) at {root}")


@app.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the collections."""
    with handle_errors():
        from ..store.collections import list_collections

        with open_database(load_settings()) as db, db.read() as conn:
            rows = list_collections(conn)
        items = [{"id": str(row.id), "name": row.name, "root": str(row.root)} for row in rows]
        if json_output:
            typer.echo(json.dumps(items))
            return
        if not items:
            typer.echo("No collections.")
        for item in items:
            typer.echo(f"{item['id']}  {item['name']}  {item['root']}")


@app.command("remove")
def remove_command(
    collection_id: Annotated[str, typer.Argument(help="The collection id.")],
) -> None:
    """Remove a collection (its files are left alone)."""
    with handle_errors():
        key = _uuid(collection_id, "the collection id")
        from ..store.collections import remove_collection

        with open_database(load_settings()) as db:
            removed = db.transact(remove_collection, key)
        if not removed:
            raise CLIError(f"no collection {key}")
        typer.echo(f"Removed collection {key}")
