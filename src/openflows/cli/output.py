"""The one renderer of the client commands: `--format json` prints the API document unchanged; `--format
table` prints a table (lists) or a record (one document) that fits the terminal, times local and relative.

rich is imported inside the functions, so `openflows --help` does not pay for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import typer

FORMATS = ("table", "json")


@dataclasses.dataclass(frozen=True)
class Field:
    """One column of a table or one line of a record: a heading, a key (dotted for nested) and a formatter."""

    name: str
    #: dotted path of the value; "." passes the whole document to the formatter
    key: str
    formatter: Callable[[Any], str] | None = None
    #: whether long values wrap onto more lines (else they are cut with an ellipsis when space runs out)
    wrap: bool = False
    #: narrowest the column may become (ids are never cut: they are copied into other commands)
    min_width: int | None = None

    def text(self, document: dict[str, Any]) -> str:
        value: Any = document
        for part in self.key.split(".") if self.key != "." else ():
            value = value.get(part) if isinstance(value, dict) else None
        if self.formatter is not None:
            return self.formatter(value)
        return format_value(value)


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def relative(delta: dt.timedelta) -> str:
    """`5 s`, `3 min`, `2 h`, `4 d` (rounded down)."""
    seconds = int(abs(delta.total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def format_time(value: Any, *, now: dt.datetime | None = None) -> str:
    """An ISO time as local time plus how long ago: `2026-11-26 21:04:05 (3 min ago)`."""
    parsed = parse_time(value)
    if parsed is None:
        return format_value(value)
    now = now or dt.datetime.now(dt.UTC)
    local = parsed.astimezone()
    delta = now - parsed
    when = f"{relative(delta)} ago" if delta.total_seconds() >= 0 else f"in {relative(delta)}"
    return f"{local:%Y-%m-%d %H:%M:%S} ({when})"


def format_time_short(value: Any, *, now: dt.datetime | None = None) -> str:
    """A compact time for tables: relative within a day (`3 min ago`), else the local date and time."""
    parsed = parse_time(value)
    if parsed is None:
        return format_value(value)
    now = now or dt.datetime.now(dt.UTC)
    delta = now - parsed
    if abs(delta.total_seconds()) < 86400:
        return f"{relative(delta)} ago" if delta.total_seconds() >= 0 else f"in {relative(delta)}"
    return f"{parsed.astimezone():%Y-%m-%d %H:%M}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def print_json(document: Any) -> None:
    """The document as indented JSON on stdout (exactly what the API returned)."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def make_console(**kwargs: Any) -> Any:
    from rich.console import Console

    return Console(**kwargs)


def render_table(items: Sequence[dict[str, Any]], fields: Sequence[Field], *, console: Any = None) -> None:
    """A table of `items`, one row each, shrunk to the terminal width."""
    from rich import box
    from rich.table import Table

    console = console or make_console(soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for item_field in fields:
        table.add_column(
            item_field.name,
            overflow="fold" if item_field.wrap else "ellipsis",
            no_wrap=not item_field.wrap,
            min_width=item_field.min_width,
        )
    for item in items:
        table.add_row(*(item_field.text(item) for item_field in fields))
    console.print(table)


def render_record(document: dict[str, Any], fields: Sequence[Field], *, console: Any = None) -> None:
    """`Heading: value` lines for one document."""
    from rich.table import Table

    console = console or make_console()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for item_field in fields:
        table.add_row(item_field.name + ":", item_field.text(document))
    console.print(table, markup=False)


def display(
    document: Any,
    *,
    format: str,
    fields: Sequence[Field] = (),
    items_key: str | None = None,
    items: Iterable[dict[str, Any]] | None = None,
    text: str | None = None,
) -> None:
    """Print `document`: JSON as-is, else a table of `items` (or `document[items_key]`), else a record of
    `fields`, else `text`."""
    if format == "json":
        print_json(document)
        return
    if items is not None or items_key is not None:
        rows = list(items if items is not None else document.get(items_key) or [])
        if not rows:
            typer.echo("(none)")
            return
        render_table(rows, fields)
        return
    if fields:
        render_record(document, fields)
    if text is not None:
        typer.echo(text)


def hint(message: str) -> None:
    """A hint for people on stderr, only on a terminal (stdout stays parseable)."""
    if sys.stderr.isatty():
        typer.echo(message, err=True)
