"""`openflows search show INDEX`: print the entries of a local search index (what the search providers
ingested) as JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import handle_errors, load_settings, open_database

app = typer.Typer(name="search", help="Read the local search indexes.", no_args_is_help=True)


@app.command("show")
def show_command(
    index: Annotated[str, typer.Argument(help="The search index (search_index of the flows).")],
) -> None:
    """Print `{"search_index", "total", "entries": [{subject, id, visible_to, content}]}`."""
    with handle_errors():
        from ..providers.search import list_entries

        with open_database(load_settings()) as db:
            entries = list_entries(db, index)
        typer.echo(json.dumps({"search_index": index, "total": len(entries), "entries": entries}, indent=2))
