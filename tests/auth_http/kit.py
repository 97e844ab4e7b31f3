"""Helpers to read the server-rendered pages in tests."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit


def hidden(html: str, name: str) -> str:
    """The value of the hidden input `name` in a page."""
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert found is not None, f"no hidden input {name}"
    return unescape(found.group(1))


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
