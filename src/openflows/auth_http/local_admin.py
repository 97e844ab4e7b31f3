"""The one-click local administrator: offered only to a browser on this machine that addressed the server by a
loopback name (so a DNS-rebound page cannot use it), only when `openflows serve` wrote the admin token in
OPENFLOWS_HOME, and unless OPENFLOWS_LOCAL_ADMIN_SIGNIN=false (on a host other people log in to). Shared by
the dashboard (`ui.routes`) and the sign-in page (`web`)."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

from starlette.requests import HTTPConnection

#: file in OPENFLOWS_HOME holding the local admin token (written by `openflows serve`)
ADMIN_TOKEN_FILE = "admin-token"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback_request(request: HTTPConnection) -> bool:
    """Whether the request comes from this machine and was addressed to a loopback name."""
    client = request.client.host if request.client else ""
    try:
        address = ip_address(client)
        local_client = address.is_loopback or (
            address.version == 6 and address.ipv4_mapped is not None and address.ipv4_mapped.is_loopback
        )
    except ValueError:
        return False
    host = request.headers.get("host", "")
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return local_client and hostname.lower() in _LOOPBACK_HOSTS


def local_admin_token(request: HTTPConnection, home: Path, *, enabled: bool = True) -> str | None:
    """The local admin token, when the one-click sign-in is offered (`enabled` by the settings, loopback
    request, token in home)."""
    if not enabled or not is_loopback_request(request):
        return None
    try:
        token = (home / ADMIN_TOKEN_FILE).read_text().strip()
    except OSError:
        return None
    return token or None
