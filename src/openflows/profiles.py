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

This module imports only the standard library: the CLI's start-up stays fast. The `openflows profile`
commands are in `cli/profile.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: file in OPENFLOWS_HOME holding the profiles
PROFILES_FILE = "profiles.json"
#: name of the profile `openflows serve` writes for the local admin
LOCAL_PROFILE = "local"
DEFAULT_HOME = "~/.openflows"


class ProfileError(Exception):
    """A profile is missing or the profiles file cannot be read."""


class NoServerConfigured(ProfileError):
    """Nothing names an OpenFlows server: no URL given, no OPENFLOWS_URL, no profile."""


def no_server_message(url: str = "--url/OPENFLOWS_URL", token: str = "--token/OPENFLOWS_TOKEN") -> str:
    """What to do when nothing names a server (the CLI names its options, Python its arguments)."""
    return (
        f"no OpenFlows server configured: start `openflows serve` (it writes the profile `{LOCAL_PROFILE}` "
        f"that is then used), give {url} and {token}, or add a profile with `openflows profile add`"
    )


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
