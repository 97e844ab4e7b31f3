"""Client profiles: which server the CLI and `openflows.client` talk to, and with which token.

Profiles live in `<OPENFLOWS_HOME>/profiles.json` (mode 0600), as
`{"active": NAME, "profiles": {NAME: {"url": URL, "token": TOKEN}}}`. `openflows serve` writes the profile
`local` (the local admin) on start through `write_local_profile`, so on a laptop the CLI works with no set-up.

Where a connection comes from (`resolve_connection`), first match wins:
URL: the `--url` flag / `base_url` argument, a profile named by `--profile` / `profile`, `OPENFLOWS_URL`,
`GLOBUS_SDK_SERVICE_URL_FLOWS`, the profile (`OPENFLOWS_PROFILE`, else the active one).
Token: the `--token` flag / `token` argument, `OPENFLOWS_TOKEN`, the profile's token (only when the URL is
the profile's own, so a token never goes to another server).
Profile: the `--profile` flag / `profile` argument, `OPENFLOWS_PROFILE`, the active profile.

This module imports only the standard library and Typer: the CLI's start-up stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

#: file in OPENFLOWS_HOME holding the profiles
PROFILES_FILE = "profiles.json"
#: name of the profile `openflows serve` writes for the local admin
LOCAL_PROFILE = "local"
DEFAULT_HOME = "~/.openflows"


class ProfileError(Exception):
    """A profile is missing or the profiles file cannot be read."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where to send requests and the bearer token to send (None: no Authorization header)."""

    url: str
    token: str | None
    #: the profile the URL came from, if any
    profile: str | None = None


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """OPENFLOWS_HOME, else ~/.openflows."""
    env = os.environ if environ is None else environ
    return Path(env.get("OPENFLOWS_HOME") or DEFAULT_HOME).expanduser()


def profiles_path(environ: Mapping[str, str] | None = None) -> Path:
    return home_dir(environ) / PROFILES_FILE


def load_profiles(path: Path | None = None) -> dict[str, Any]:
    """The profiles document (`{"active": ..., "profiles": {...}}`), empty when the file does not exist."""
    path = path or profiles_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {"active": None, "profiles": {}}
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), dict):
        raise ProfileError(f"{path} is not a profiles file")
    doc.setdefault("active", None)
    return doc


def save_profiles(doc: dict[str, Any], path: Path | None = None) -> None:
    """Write the profiles document atomically, readable by the owner only."""
    path = path or profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_local_profile(home: Path, url: str, token: str) -> None:
    """Called by `openflows serve` on start: make the profile `local` point at this server with the local
    admin's token, and make it active when no profile is active. Other profiles are left alone."""
    path = home / PROFILES_FILE
    try:
        doc = load_profiles(path)
    except ProfileError:
        return  # never stop a server because of a damaged client file
    doc["profiles"][LOCAL_PROFILE] = {"url": url, "token": token}
    if not doc.get("active") or doc["active"] not in doc["profiles"]:
        doc["active"] = LOCAL_PROFILE
    save_profiles(doc, path)


def resolve_connection(
    *,
    url: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Connection | None:
    """The connection to use (see the module docstring), or None when nothing names a server."""
    env = os.environ if environ is None else environ
    doc = load_profiles(profiles_path(env))
    name = profile or env.get("OPENFLOWS_PROFILE") or doc.get("active")
    chosen = doc["profiles"].get(name) if name else None
    if (profile or env.get("OPENFLOWS_PROFILE")) and chosen is None:
        raise ProfileError(f"no profile named {name!r} (see `openflows profile list`)")
    if url is None and profile and chosen is not None:  # an explicit --profile beats the environment
        return Connection(url=str(chosen["url"]), token=token or chosen.get("token"), profile=name)
    explicit_url = url or env.get("OPENFLOWS_URL") or env.get("GLOBUS_SDK_SERVICE_URL_FLOWS")
    if explicit_url:
        profile_token = None
        if chosen is not None and _same_url(chosen.get("url"), explicit_url):
            profile_token = chosen.get("token")
        return Connection(
            url=explicit_url, token=token or env.get("OPENFLOWS_TOKEN") or profile_token, profile=None
        )
    if chosen is None:
        return None
    return Connection(
        url=str(chosen["url"]), token=token or env.get("OPENFLOWS_TOKEN") or chosen.get("token"), profile=name
    )


def _same_url(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


# ---------------------------------------------------------------------------------------------------------
# `openflows profile ...`

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
