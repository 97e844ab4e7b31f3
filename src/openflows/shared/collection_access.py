"""Who may read and write a local collection: its owner and its access rules (pure: no I/O).

A collection has one owner, who may read and write everything in it and manage its rules, and any number of
access rules. A rule grants `r` (read) or `rw` (read and write) on a path prefix to one principal:

- an identity (`urn:globus:auth:identity:<uuid>`) or a group (`urn:globus:groups:id:<uuid>`: its members);
- `all_authenticated_users`: anyone with a valid token;
- `public` (Transfer's `anonymous`): anyone at all. Every caller of a provider holds a token, so today
  `public` grants what `all_authenticated_users` grants; it is kept apart for Transfer's documents.

Rules are additive, as Transfer's are: a path is readable if any rule of the caller covers it with `r` or
`rw`, writable if one covers it with `rw`; nothing can be taken away below a granted prefix. A rule's path is
a collection path (`/data/`) matched on whole components: `/data/` covers `/data` and everything below it,
not `/database`. `/` covers the whole collection.

The owner is stored as an identity URN; a collection whose owner is not stored (NULL: every collection added
before owners existed, and those added without `--owner`) belongs to the local administrator, whose
identity is looked up when the collection is loaded (`store.collections`).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Sequence

from .urns import GROUP_URN_PREFIX, IDENTITY_URN_PREFIX

#: the principal of a rule open to anyone with a valid token
ALL_AUTHENTICATED_USERS = "all_authenticated_users"
#: the principal of a rule open to anyone (Transfer's principal_type `anonymous`)
PUBLIC = "public"
READ = "r"
READ_WRITE = "rw"
PERMISSIONS = (READ, READ_WRITE)
#: most access rules one collection may hold (Transfer allows 1000 per guest collection)
MAX_RULES = 1000  # rules
#: deepest rule path (components); paths below are refused like the providers refuse them
MAX_RULE_DEPTH = 1000  # components
#: longest rule path as stored (it is part of a unique index, whose entries PostgreSQL limits to ~2.7 kB)
MAX_RULE_PATH_BYTES = 2048  # bytes

#: Transfer's `principal_type` of each kind of principal
PRINCIPAL_TYPES = ("identity", "group", ALL_AUTHENTICATED_USERS, "anonymous")

_URN = re.compile(
    r"^(?P<urn>(?:urn:globus:auth:identity:|urn:globus:groups:id:)"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?P<rest>.*)$"
)


class AccessError(ValueError):
    """A principal, permission or rule path that cannot be used; the message says why."""


Parts = tuple[str, ...]


def rule_parts(path: str) -> Parts:
    """The components of a rule path (`/data/`, `/~/data`, `data/`; `/` for the whole collection); raise
    `AccessError` for `..`, a NUL character or a path that is too deep."""
    if not isinstance(path, str):
        raise AccessError(f"a path must be a string, not {type(path).__name__}")
    if "\x00" in path:
        raise AccessError("the path contains a NUL character")
    if any("\ud800" <= char <= "\udfff" for char in path):
        raise AccessError("the path contains an unpaired surrogate (text that cannot be stored)")
    text = path.strip()
    if text in ("~", "/~"):
        text = ""
    for prefix in ("/~/", "~/", "/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise AccessError(f"the path {path!r} contains '..'")
    if len(parts) > MAX_RULE_DEPTH:
        raise AccessError(f"the path is {len(parts)} levels deep: at most {MAX_RULE_DEPTH} are allowed")
    if len(show_rule_path(parts).encode()) > MAX_RULE_PATH_BYTES:
        raise AccessError(f"the path is longer than {MAX_RULE_PATH_BYTES} bytes")
    return parts


def show_rule_path(parts: Sequence[str]) -> str:
    """A rule path as shown and stored: `/` or `/a/b/` (a directory prefix, with its final slash)."""
    return "/" + "".join(f"{part}/" for part in parts)


def canonical_principal(principal: str) -> str:
    """A stored principal (identity or group URN in lower case, `all_authenticated_users`, `public`); raise
    `AccessError` for anything else (a username is resolved by the caller first)."""
    text = principal.strip()
    if text in (ALL_AUTHENTICATED_USERS, PUBLIC):
        return text
    if text == "anonymous":
        return PUBLIC
    match = _URN.match(text)
    if match is None or match.group("rest"):
        raise AccessError(
            f"{principal!r} is not a principal: use an identity or group URN, "
            f"{ALL_AUTHENTICATED_USERS!r} or {PUBLIC!r}"
        )
    return match.group("urn").lower()


def from_transfer(principal_type: object, principal: object) -> str:
    """The stored principal of Transfer's (`principal_type`, `principal`): an identity or group id (a UUID
    or its URN), or `all_authenticated_users` / `anonymous` with an empty principal."""
    if principal_type in (ALL_AUTHENTICATED_USERS, "anonymous"):
        if principal not in (None, ""):
            raise AccessError(f"principal must be empty when principal_type is {principal_type!r}")
        return ALL_AUTHENTICATED_USERS if principal_type == ALL_AUTHENTICATED_USERS else PUBLIC
    if principal_type not in ("identity", "group"):
        raise AccessError(f"principal_type must be one of {', '.join(PRINCIPAL_TYPES)}")
    if not isinstance(principal, str) or not principal.strip():
        raise AccessError(f"principal must be the {principal_type}'s id")
    prefix = IDENTITY_URN_PREFIX if principal_type == "identity" else GROUP_URN_PREFIX
    text = principal.strip()
    if text.startswith(prefix):
        text = text[len(prefix) :]
    try:
        return f"{prefix}{uuid.UUID(text)}"
    except ValueError:
        raise AccessError(f"principal {principal!r} is not a {principal_type} id (a UUID)") from None


def to_transfer(principal: str) -> tuple[str, str]:
    """Transfer's (`principal_type`, `principal`) of a stored principal."""
    if principal == ALL_AUTHENTICATED_USERS:
        return ALL_AUTHENTICATED_USERS, ""
    if principal == PUBLIC:
        return "anonymous", ""
    if principal.startswith(GROUP_URN_PREFIX):
        return "group", principal[len(GROUP_URN_PREFIX) :]
    return "identity", principal[len(IDENTITY_URN_PREFIX) :]


@dataclasses.dataclass(frozen=True, slots=True)
class AllowSpec:
    """One `--allow PRINCIPAL[:r|rw][:PATH]` of the command line, its principal not resolved yet."""

    principal: str
    permissions: str
    path: Parts


def parse_allow(spec: str) -> AllowSpec:
    """Split `PRINCIPAL[:r|rw][:PATH]` (permissions default to `r`, the path to `/`). PRINCIPAL is a URN
    (which has colons of its own), `all_authenticated_users`, `public` or a username (without colons)."""
    principal, rest = _split_principal(spec)
    if not principal:
        raise AccessError(f"{spec!r} names no principal")
    permissions = READ
    if rest.startswith(":rw") and rest[3:4] in ("", ":"):
        permissions, rest = READ_WRITE, rest[3:]
    elif rest.startswith(":r") and rest[2:3] in ("", ":"):
        rest = rest[2:]
    path: Parts = ()
    if rest:
        if not rest.startswith(":/") and not rest.startswith(":~"):
            raise AccessError(
                f"{spec!r} is not PRINCIPAL[:r|rw][:PATH] (permissions are r or rw; a path starts with /)"
            )
        path = rule_parts(rest[1:])
    return AllowSpec(principal, permissions, path)


def _split_principal(spec: str) -> tuple[str, str]:
    """(PRINCIPAL, the rest starting with `:` or empty) of a command-line spec."""
    text = spec.strip()
    match = _URN.match(text)
    if match is not None:
        return match.group("urn"), match.group("rest")
    if text.startswith("urn:"):
        raise AccessError(
            f"{spec!r} does not start with a principal: an identity or group URN is "
            "urn:globus:auth:identity:<uuid> or urn:globus:groups:id:<uuid>"
        )
    principal, sep, rest = text.partition(":")
    return principal, sep + rest


def parse_revoke(spec: str) -> tuple[str, Parts | None]:
    """Split `PRINCIPAL[:PATH]` (the rules to revoke: all of the principal's, or the one on PATH)."""
    principal, rest = _split_principal(spec)
    if not principal:
        raise AccessError(f"{spec!r} names no principal")
    if not rest:
        return principal, None
    if not rest.startswith(":/") and not rest.startswith(":~"):
        raise AccessError(f"{spec!r} is not PRINCIPAL[:PATH] (a path starts with /; no permissions here)")
    return principal, rule_parts(rest[1:])


@dataclasses.dataclass(frozen=True, slots=True)
class AccessRule:
    """One access rule: `principal` may read (`r`) or read and write (`rw`) everything below `path`."""

    id: uuid.UUID
    principal: str
    path: Parts
    permissions: str

    def covers(self, parts: Sequence[str]) -> bool:
        """Whether `parts` is the rule's path or lies below it (whole components)."""
        return tuple(parts[: len(self.path)]) == self.path

    def applies_to(self, principals: frozenset[str]) -> bool:
        return self.principal in (ALL_AUTHENTICATED_USERS, PUBLIC) or self.principal in principals

    @property
    def shown_path(self) -> str:
        return show_rule_path(self.path)


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """A collection's owner (an identity URN; None when no owner can be found) and its rules."""

    owner: str | None
    rules: tuple[AccessRule, ...] = ()

    def is_owner(self, principals: Iterable[str]) -> bool:
        return self.owner is not None and self.owner in set(principals)

    def allows(self, principals: frozenset[str], parts: Sequence[str], *, write: bool) -> bool:
        """Whether a caller holding `principals` (its identity and group URNs) may read (or, with `write`,
        write) the collection path `parts`."""
        if self.owner is not None and self.owner in principals:
            return True
        return any(
            rule.covers(parts)
            and rule.applies_to(principals)
            and (not write or rule.permissions == READ_WRITE)
            for rule in self.rules
        )

    @property
    def is_private(self) -> bool:
        """No access rule: only the owner may use the collection."""
        return not self.rules
