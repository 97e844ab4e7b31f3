"""`openflows profile ...`: list, show, add, use and remove client profiles (`openflows.profiles`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ..profiles import ProfileError, load_profiles, save_profiles

app = typer.Typer(
    name="profile",
    help="Manage client profiles (server URL + token) used by the CLI and openflows.client.",
    no_args_is_help=True,
)


def _mask(token: str | None) -> str:
    if not token:
        return "(none)"
    return token[:6] + "…" + token[-4:] if len(token) > 12 else "****"


def _run(action: Any) -> Any:
    try:
        return action()
    except ProfileError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


FormatOpt = Annotated[str, typer.Option("--format", "-F", help="Output format: table or json.")]


@app.command("list")
def list_command(format: FormatOpt = "table") -> None:
    """List profiles; the active one is marked with *.

    Example: openflows profile list
    """
    doc = _run(load_profiles)
    if format == "json":
        shown = {
            name: {"url": p.get("url"), "active": name == doc.get("active")}
            for name, p in sorted(doc["profiles"].items())
        }
        typer.echo(json.dumps({"active": doc.get("active"), "profiles": shown}, indent=2))
        return
    if not doc["profiles"]:
        typer.echo("No profiles. Start `openflows serve` or run `openflows profile add NAME --url URL`.")
        return
    width = max(len(name) for name in doc["profiles"])
    for name, p in sorted(doc["profiles"].items()):
        mark = "*" if name == doc.get("active") else " "
        typer.echo(f"{mark} {name.ljust(width)}  {p.get('url')}")


@app.command("show")
def show_command(
    name: Annotated[str | None, typer.Argument(help="Profile name (default: the active one).")] = None,
    show_token: Annotated[bool, typer.Option("--show-token", help="Print the token unmasked.")] = False,
    format: FormatOpt = "table",
) -> None:
    """Show a profile (the token is masked unless --show-token).

    Example: openflows profile show local --show-token
    """
    doc = _run(load_profiles)
    name = name or doc.get("active")
    if not name or name not in doc["profiles"]:
        typer.echo(f"Error: no profile named {name!r}", err=True)
        raise typer.Exit(1)
    p = doc["profiles"][name]
    token = p.get("token") if show_token else _mask(p.get("token"))
    if format == "json":
        typer.echo(
            json.dumps({"name": name, "url": p.get("url"), "token": token, "active": name == doc["active"]})
        )
        return
    typer.echo(f"Name:   {name}{' (active)' if name == doc.get('active') else ''}")
    typer.echo(f"URL:    {p.get('url')}")
    typer.echo(f"Token:  {token}")


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    url: Annotated[str, typer.Option("--url", help="Base URL of the server.")],
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token (openflows tokens create).")
    ] = None,
    use: Annotated[bool, typer.Option("--use", help="Also make it the active profile.")] = False,
) -> None:
    """Add or replace a profile.

    Example: openflows profile add prod --url https://flows.example.org/ --token of_... --use
    """
    doc = _run(load_profiles)
    doc["profiles"][name] = {"url": url, "token": token}
    if use or not doc.get("active"):
        doc["active"] = name
    _run(lambda: save_profiles(doc))
    typer.echo(f"Saved profile {name}{' (active)' if doc['active'] == name else ''}.")


@app.command("use")
def use_command(name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Make a profile the active one.

    Example: openflows profile use local
    """
    doc = _run(load_profiles)
    if name not in doc["profiles"]:
        typer.echo(f"Error: no profile named {name!r}", err=True)
        raise typer.Exit(1)
    doc["active"] = name
    _run(lambda: save_profiles(doc))
    typer.echo(f"Active profile: {name}.")


@app.command("remove")
def remove_command(name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Remove a profile.

    Example: openflows profile remove prod
    """
    doc = _run(load_profiles)
    if name not in doc["profiles"]:
        typer.echo(f"Error: no profile named {name!r}", err=True)
        raise typer.Exit(1)
    del doc["profiles"][name]
    if doc.get("active") == name:
        doc["active"] = None
    _run(lambda: save_profiles(doc))
    typer.echo(f"Removed profile {name}.")
