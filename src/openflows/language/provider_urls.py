"""Warnings about action URLs that look like a Globus-hosted provider but are not one.

A definition with `"ActionUrl": "https://actions.globus.org/helo_world"` is valid: any URL may name an action
provider. But no such provider exists; OpenFlows would call the URL over the network, retry it, and fail the
state with `ActionProviderUnreachable` many seconds later. `action_url_warnings(definition)` finds these
near misses before anything runs:

- a URL on a Globus-hosted provider host (`actions.globus.org`, `transfer.actions.globus.org`, ...) that is
  not one of the hosted providers (`HOSTED_PROVIDER_URLS`, spec/flows-language.md §12) is flagged, with the
  closest hosted URL as a suggestion when one is close;
- a URL whose host is a near miss of such a host (`actions.globsu.org`) is flagged with the corrected URL.

URLs of other hosts (a lab's own providers, this server's `/actions/...`) are never flagged. Warnings are
`Problem`s of type `unknown_action_url`; they never make a definition invalid. `POST /flows/validate` reports
them in `analysis.warnings`, and `openflows flows validate` prints them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .model import Problem
from .nested import iter_states

WARNING_TYPE = "unknown_action_url"

_LEGACY_HOSTS = ("actions.globus.org", "actions.automate.globus.org")
_LEGACY_OPERATIONS = ("transfer", "delete", "ls", "mkdir", "stat", "set_permission", "collection_info")
_TRANSFER_OPERATIONS = (
    "transfer",
    "delete",
    "ls",
    "mkdir",
    "stat",
    "manage_permission",
    "collection_info",
    "gcp/create_guest_collection",
    "gcsv5/create_guest_collection",
)
_SERVICES = (
    "hello_world",
    "expression_eval",
    "notification/notify",
    "search/ingest",
    "search/delete",
    "weboption/wait_for_option",
    "datacite/mint/basic_auth",
)

#: every Globus-hosted action provider URL (normalised: https, lower-case host, no trailing slash)
HOSTED_PROVIDER_URLS: frozenset[str] = frozenset(
    [f"https://{host}/{service}" for host in _LEGACY_HOSTS for service in _SERVICES]
    + [f"https://{host}/transfer/{op}" for host in _LEGACY_HOSTS for op in _LEGACY_OPERATIONS]
    + [f"https://transfer.actions.globus.org/{op}" for op in _TRANSFER_OPERATIONS]
    + [
        "https://compute.actions.globus.org",
        "https://compute.actions.globus.org/fxap",
        "https://compute.actions.globus.org/v3",
        "https://api.funcx.org/automate",
        "https://automate.funcx.org",
    ]
)
#: hosts that serve only Globus-hosted providers
HOSTED_PROVIDER_HOSTS: frozenset[str] = frozenset(
    urlsplit(url).hostname or "" for url in HOSTED_PROVIDER_URLS
)

#: a path at least this similar to a hosted provider's path on the same host is offered as "did you mean"
PATH_SIMILARITY = 0.75
#: a host at least this similar to a hosted-provider host is taken for a misspelling of it
HOST_SIMILARITY = 0.85
#: URLs longer than this are not compared (difflib is quadratic)
MAX_URL_LENGTH = 512  # characters


def _normalise(url: str) -> tuple[str, str] | None:
    """(host, `https://host/path` without trailing slash) of an http(s) URL, else None."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host, f"https://{host}{parts.path.rstrip('/')}"


def _closest(value: str, candidates: frozenset[str] | list[str], cutoff: float) -> str | None:
    found = difflib.get_close_matches(value, sorted(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None


def _closest_on_host(host: str, plain: str) -> str | None:
    """The hosted URL on `host` whose path is closest to `plain`'s, if close enough."""
    prefix = f"https://{host}"
    paths = {url[len(prefix) :]: url for url in HOSTED_PROVIDER_URLS if urlsplit(url).hostname == host}
    meant = _closest(plain[len(prefix) :], list(paths), PATH_SIMILARITY)
    return paths[meant] if meant is not None else None


def near_miss(url: str) -> str | None:
    """Why `url` looks wrong (with a suggestion when there is one), or None when it looks fine."""
    if len(url) > MAX_URL_LENGTH:
        return None
    normalised = _normalise(url)
    if normalised is None:
        return None
    host, plain = normalised
    if plain in HOSTED_PROVIDER_URLS:
        return None
    if host not in HOSTED_PROVIDER_HOSTS:
        meant_host = _closest(host, HOSTED_PROVIDER_HOSTS, HOST_SIMILARITY)
        if meant_host is None:
            return None  # someone else's provider
        plain = plain.replace(f"https://{host}", f"https://{meant_host}", 1)
        host = meant_host
        if plain in HOSTED_PROVIDER_URLS:
            return f"'{url}' is not a Globus-hosted action provider; did you mean '{plain}'?"
    meant = _closest_on_host(host, plain)
    if meant is not None:
        return f"'{url}' is not a Globus-hosted action provider; did you mean '{meant}'?"
    return (
        f"'{url}' is not a Globus-hosted action provider that OpenFlows knows: "
        "it will be called over the network (docs/providers.md lists the hosted URLs)"
    )


def _action_urls(definition: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for loc, _name, state in iter_states(definition):  # sub-machines of Map and Parallel included
        if not isinstance(state, dict) or state.get("Type") != "Action":
            continue
        if isinstance(state.get("ActionUrl"), str):
            yield (*loc, "ActionUrl"), state["ActionUrl"]
        handler = state.get("Handler")
        if isinstance(handler, str):
            yield (*loc, "Handler"), handler
        elif isinstance(handler, dict) and isinstance(handler.get("Url"), str):
            yield (*loc, "Handler", "Url"), handler["Url"]


def action_url_warnings(definition: Any) -> list[Problem]:
    """A warning for every Action state whose URL is a near miss of a Globus-hosted provider. Never raises."""
    warnings = []
    for loc, url in _action_urls(definition):
        why = near_miss(url)
        if why is not None:
            warnings.append(Problem(loc, why, WARNING_TYPE))
    return warnings
