"""The HTML of the sign-in, consent, auth-code and message pages (server-rendered, no scripts).

Every value put in a page goes through `escape` (`html.escape`, quotes included). The pages use the
dashboard's stylesheet (`/ui/static/app.css`), label every input, and keep the contract scripts and assistive
technology rely on: the sign-in form's inputs are named `username` and `password`, the consent page's submit
buttons `allow` and `deny`, and the auth-code page shows the code in the element with id `auth-code`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from html import escape

#: response headers of every page: nothing but our stylesheet loads, no framing, no caching
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Chromium send `Origin: null`
    "Cache-Control": "no-store",
}


@dataclasses.dataclass(frozen=True)
class Methods:
    """The sign-in methods the sign-in page offers."""

    password: bool
    #: the upstream provider's display name, or None
    upstream: str | None
    local_admin: bool


@dataclasses.dataclass(frozen=True)
class ScopeLine:
    """One line of the consent page: what a scope lets the app do, with what it brings along."""

    name: str
    description: str
    scope_string: str
    resource_server: str
    optional: bool = False
    dependencies: tuple[ScopeLine, ...] = ()


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def layout(title: str, body: str, *, signed_in_as: str | None = None, csrf: str | None = None) -> str:
    who = ""
    if signed_in_as and csrf:
        who = (
            f'<div class="who"><span>Signed in as <strong>{escape(signed_in_as)}</strong></span>'
            f'<form method="post" action="/v2/web/signout" class="inline">{_hidden("csrf", csrf)}'
            '<button type="submit" class="secondary small">Sign out</button></form></div>'
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · OpenFlows</title>"
        '<link rel="stylesheet" href="/ui/static/app.css"></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><a class="brand" href="/ui">OpenFlows</a>{who}</header>'
        f'<main id="main" tabindex="-1"><div class="card narrow">{body}</div></main></body></html>\n'
    )


def notice(text: str, *, error: bool = False, role: str = "status") -> str:
    kind = "notice error" if error else "notice"
    return f'<p class="{kind}" role="{"alert" if error else role}">{escape(text)}</p>'


def sign_in_page(
    *,
    methods: Methods,
    csrf: str,
    next_url: str,
    username: str = "",
    error: str | None = None,
    message: str | None = None,
    app_name: str | None = None,
) -> str:
    parts = ["<h1>Sign in</h1>"]
    if app_name:
        parts.append(f'<p class="sub">to continue to <strong>{escape(app_name)}</strong></p>')
    if message:
        parts.append(notice(message))
    if error:
        parts.append(notice(error, error=True))
    hidden = _hidden("csrf", csrf) + _hidden("next", next_url)
    if methods.password:
        focus_username, focus_password = ("", " autofocus") if username else (" autofocus", "")
        parts.append(
            f'<form method="post" action="/v2/web/signin" id="password-signin">{hidden}'
            '<div class="field"><label for="username">Username</label>'
            f'<input type="text" id="username" name="username" value="{escape(username)}" required '
            f'autocomplete="username" autocapitalize="none" spellcheck="false"{focus_username}>'
            '</div><div class="field"><label for="password">Password</label>'
            '<input type="password" id="password" name="password" required autocomplete="current-password"'
            f"{focus_password}></div>"
            '<div class="actions"><button type="submit">Sign in</button></div></form>'
        )
    if methods.upstream:
        style = ' class="secondary"' if methods.password else ""
        parts.append(
            f'<form method="post" action="/v2/web/signin/upstream" id="upstream-signin">{hidden}'
            f'<div class="actions"><button type="submit"{style}>'
            f"Sign in with {escape(methods.upstream)}</button></div></form>"
        )
    if methods.local_admin:
        parts.append(
            f'<form method="post" action="/v2/web/signin/local" id="local-admin-signin">{hidden}'
            '<div class="actions"><button type="submit" class="secondary">'
            "Sign in as the local administrator</button></div>"
            '<p class="help">Offered only on this machine.</p></form>'
        )
    if not (methods.password or methods.upstream or methods.local_admin):
        parts.append(
            notice(
                "No sign-in method is available here. An administrator can add local accounts "
                "(openflows users add) or connect an identity provider (OPENFLOWS_OIDC_ISSUER).",
                error=True,
            )
        )
    return layout("Sign in", "".join(parts))


def _scope_items(lines: Iterable[ScopeLine]) -> str:
    items = []
    for line in lines:
        optional = ' <span class="help">(optional)</span>' if line.optional else ""
        description = f"<br>{escape(line.description)}" if line.description else ""
        where = f"{line.resource_server} · " if line.resource_server else ""
        nested = ""
        if line.dependencies:
            nested = (
                '<p class="help">and, through it, on your behalf:</p>'
                f'<ul class="scopes">{_scope_items(line.dependencies)}</ul>'
            )
        items.append(
            f"<li><strong>{escape(line.name)}</strong>{optional}{description}"
            f'<br><span class="help">{escape(where)}<code>{escape(line.scope_string)}</code></span>'
            f"{nested}</li>"
        )
    return "".join(items)


def consent_page(
    *,
    app_name: str,
    username: str,
    lines: Sequence[ScopeLine],
    csrf: str,
    request_query: str,
    offline: bool,
) -> str:
    keeps = (
        "It asks to keep this access until you revoke it (refresh tokens)."
        if offline
        else "Its access lasts until its tokens expire."
    )
    body = (
        f"<h1>Allow {escape(app_name)}?</h1>"
        f"<p><strong>{escape(app_name)}</strong> asks to act as you "
        f"(<strong>{escape(username)}</strong>). It will be able to:</p>"
        f'<ul class="scopes" id="requested-scopes">{_scope_items(lines)}</ul>'
        f'<p class="help">{escape(keeps)}</p>'
        f'<form method="post" action="/v2/web/consent" id="consent">{_hidden("csrf", csrf)}'
        f"{_hidden('request', request_query)}"
        '<div class="actions"><button type="submit" name="allow" value="allow">Allow</button>'
        '<button type="submit" name="deny" value="deny" class="secondary">Deny</button></div></form>'
    )
    return layout(f"Allow {app_name}?", body, signed_in_as=username, csrf=csrf)


def auth_code_page(*, code: str | None, error: str | None, description: str | None) -> str:
    if code:
        body = (
            "<h1>Sign-in complete</h1>"
            "<p>Copy this code and paste it into the application that asked for it:</p>"
            f'<p><code id="auth-code" class="auth-code">{escape(code)}</code></p>'
            '<p class="help">The code works once, within a few minutes. '
            "You can close this page afterwards.</p>"
        )
        return layout("Authorization code", body)
    text = description or error or "No authorization code was given."
    body = f"<h1>No authorization code</h1>{notice(text, error=True)}"
    return layout("Authorization code", body)


def message_page(title: str, text: str, *, error: bool = False, link: tuple[str, str] | None = None) -> str:
    more = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    return layout(title, f"<h1>{escape(title)}</h1>{notice(text, error=error)}{more}")


def signed_in_page(*, username: str, csrf: str) -> str:
    body = (
        f"<h1>Signed in</h1><p>You are signed in as <strong>{escape(username)}</strong>.</p>"
        '<p><a href="/ui">Open the dashboard</a></p>'
    )
    return layout("Signed in", body, signed_in_as=username, csrf=csrf)


def sign_out_page(*, username: str | None, csrf: str) -> str:
    if username is None:
        return message_page("Signed out", "You are not signed in.", link=("/ui", "Open the dashboard"))
    body = (
        f"<h1>Sign out</h1><p>You are signed in as <strong>{escape(username)}</strong>.</p>"
        f'<form method="post" action="/v2/web/signout">{_hidden("csrf", csrf)}'
        '<div class="actions"><button type="submit">Sign out</button></div></form>'
    )
    return layout("Sign out", body)
