"""The `session_required_*` parameters of an authorize request (globus-sdk's `GlobusAuthorizationParameters`,
sent comma-joined; booleans arrive as `True`/`False`), and whether a sign-in session meets them.

One OpenFlows session is one identity, signed in one way:
- `session_required_identities` (identity ids or usernames): met when the session's identity is listed; else
  the person may sign in again as a listed one.
- `session_required_single_domain` (domains): met when the session's username ends in `@<domain>`; else the
  person may sign in again with such an identity.
- `session_required_mfa=true`: OpenFlows has no multi-factor sign-in, so it is never met (refused cleanly).
- `session_required_policies`: OpenFlows has no authentication policies; any listed policy is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol


class _Session(Protocol):
    @property
    def identity_id(self) -> object: ...

    @property
    def username(self) -> str: ...


def _items(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


@dataclasses.dataclass(frozen=True)
class SessionRules:
    identities: tuple[str, ...] = ()
    single_domain: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    mfa: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> SessionRules:
        return cls(
            identities=_items(query.get("session_required_identities")),
            single_domain=tuple(
                d.lower().lstrip("@") for d in _items(query.get("session_required_single_domain"))
            ),
            policies=_items(query.get("session_required_policies")),
            mfa=query.get("session_required_mfa", "").strip().lower() in ("true", "1", "yes"),
        )

    def explain(self) -> str:
        """What the app needs, for the sign-in page."""
        if self.identities:
            return "This app needs you to sign in as: " + ", ".join(self.identities) + "."
        if self.single_domain:
            return "This app needs an identity from: " + ", ".join(self.single_domain) + "."
        return ""


@dataclasses.dataclass(frozen=True)
class Unmet:
    message: str
    #: signing in with another identity could meet it
    can_sign_in_again: bool


def unmet_requirement(rules: SessionRules, session: _Session) -> Unmet | None:
    """Why the session does not meet the rules, or None when it does."""
    if rules.mfa:
        return Unmet(
            "This app requires multi-factor authentication, which this OpenFlows server does not offer.",
            False,
        )
    if rules.policies:
        return Unmet(
            "This app requires authentication policies this OpenFlows server does not have: "
            + ", ".join(rules.policies),
            False,
        )
    if rules.identities and not {str(session.identity_id), session.username.lower()} & {
        item.lower() for item in rules.identities
    }:
        return Unmet(f"You are signed in as {session.username}, which this app cannot use here.", True)
    if rules.single_domain:
        domain = session.username.rpartition("@")[2].lower() if "@" in session.username else ""
        if domain not in rules.single_domain:
            return Unmet(f"You are signed in as {session.username}, which this app cannot use here.", True)
    return None
