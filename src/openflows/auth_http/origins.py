"""Whether a browser request comes from this server's own pages (`Origin`, else `Referer`): required, with a
CSRF token, for every request that changes something on the strength of a cookie (the dashboard's API calls,
the sign-in and consent forms)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection


def origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(conn: HTTPConnection, public_url: str | None) -> set[str]:
    """This server's own origins: the one the request was addressed to, and the advertised public URL's."""
    origins = {f"{conn.url.scheme}://{conn.headers.get('host', '')}".lower()}
    public = origin_of(public_url)
    if public:
        origins.add(public)
    return origins


def same_origin(conn: HTTPConnection, public_url: str | None) -> bool:
    """Whether the request's `Origin` (else `Referer`) is this server: required for every cookie write."""
    presented = conn.headers.get("origin")
    if presented is None or presented == "null":
        presented = origin_of(conn.headers.get("referer"))
    return presented is not None and presented.lower() in allowed_origins(conn, public_url)
