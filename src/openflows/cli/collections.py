"""`openflows collections ...`: register local directories as collections (the `endpoint` ids that the
transfer, ls, mkdir, stat, delete and manage_permission providers accept), and say who may use them.

A collection belongs to an owner (`--owner USERNAME`; the local administrator, `admin`, by default), who may
read and write all of it; others get what its access rules grant (`--allow` when adding, `allow` and
`revoke` later): `PRINCIPAL[:r|rw][:PATH]`, where PRINCIPAL is a username, an identity or group URN,
`all_authenticated_users` or `public`, the permission defaults to `r` and the path to `/` (the whole
collection). Without rules a collection is private to its owner.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json, utcnow

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..shared.collection_access import AccessRule

app = typer.Typer(
    name="collections",
    help="Manage local collections (id -> root directory), their owners and access rules.",
    no_args_is_help=True,
)

ALLOW_HELP = (
    "Grant access: PRINCIPAL[:r|rw][:PATH], PRINCIPAL a username, an identity or group URN, "
    "all_authenticated_users or public; r by default, on / by default. Repeatable."
)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CLIError(f"{what} must be a UUID (got {value!r})") from None


class Principals:
    """Resolves principals given on the command line and names stored ones, within one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.created: list[str] = []

    def resolve(self, text: str) -> str:
        """The stored principal for `text`: a URN or keyword as it is, a username as its identity's URN
        (the identity is created if new, as `openflows tokens create --username` does)."""
        from ..shared.collection_access import AccessError, canonical_principal
        from ..shared.urns import identity_urn
        from ..store.identities import ensure_identity, get_identity_by_username

        name = text.strip()
        if not name:
            raise CLIError("a principal must not be empty")
        if name.startswith("urn:") or name in ("all_authenticated_users", "public", "anonymous"):
            try:
                return canonical_principal(name)
            except AccessError as exc:
                raise CLIError(str(exc)) from None
        if ":" in name or "/" in name:
            raise CLIError(f"{name!r} is not a username, a URN, all_authenticated_users or public")
        row = get_identity_by_username(self.conn, name)
        if row is None:
            row = ensure_identity(self.conn, name, now=utcnow())
            self.created.append(name)
        return identity_urn(row.id)

    def describe(self, principal: str | None) -> str:
        """`alice (urn:...)` for a local identity, the URN or keyword otherwise."""
        from ..shared.urns import IDENTITY_URN_PREFIX
        from ..store.identities import get_identity

        if principal is None:
            return "nobody (the local administrator `admin` does not exist yet)"
        if principal.startswith(IDENTITY_URN_PREFIX):
            row = get_identity(self.conn, uuid.UUID(principal[len(IDENTITY_URN_PREFIX) :]))
            if row is not None:
                return f"{row.username} ({principal})"
        return principal

    def username(self, principal: str | None) -> str | None:
        from ..shared.urns import IDENTITY_URN_PREFIX
        from ..store.identities import get_identity

        if principal is None or not principal.startswith(IDENTITY_URN_PREFIX):
            return None
        row = get_identity(self.conn, uuid.UUID(principal[len(IDENTITY_URN_PREFIX) :]))
        return None if row is None else str(row.username)


def _parse_allow(spec: str, what: str = "--allow") -> Any:
    from ..shared.collection_access import AccessError, parse_allow

    try:
        return parse_allow(spec)
    except AccessError as exc:
        raise CLIError(f"{what}: {exc}") from None


def _rule_line(principals: Principals, rule: AccessRule) -> str:
    return (
        f"  {rule.permissions:<2}  {rule.shown_path}  {principals.describe(rule.principal)}  (rule {rule.id})"
    )


def _privacy_lines(
    collection_id: uuid.UUID, principals: Principals, owner: str | None, rules: list[Any]
) -> list[str]:
    if not rules:
        return [
            f"Private: only its owner, {principals.describe(owner)}, may use it.",
            f"Grant access with: openflows collections allow {collection_id} PRINCIPAL[:r|rw][:PATH]",
        ]
    return ["Access rules (besides the owner, who may read and write everything):"] + [
        _rule_line(principals, rule) for rule in rules
    ]


@app.command("add")
def add_command(
    path: Annotated[Path, typer.Argument(help="The collection's root directory (must exist).")],
    collection_id: Annotated[str, typer.Option("--id", help="The collection id (a UUID) flows refer to.")],
    name: Annotated[str, typer.Option("--name", help="A display name.")],
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            help="The owner's username (created if new); the local administrator (admin) by default.",
        ),
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
) -> None:
    """Add (or replace, with its rules) a collection: every path of it resolves inside PATH. Without
    --allow it is private to its owner."""
    with handle_errors():
        key = _uuid(collection_id, "--id")
        root = Path(os.path.realpath(path.expanduser()))
        if not root.is_dir():
            raise CLIError(f"{path} is not a directory")
        if not name.strip() or len(name) > 128:
            raise CLIError("--name must be 1 to 128 characters")
        specs = [_parse_allow(spec) for spec in allow or []]
        from ..store.collections import add_collection, collection_access, get_collection

        def add(conn: sa.Connection) -> list[str]:
            principals = Principals(conn)
            stored_owner = principals.resolve(owner) if owner is not None else None
            rules = [(principals.resolve(spec.principal), spec.path, spec.permissions) for spec in specs]
            add_collection(
                conn,
                collection_id=key,
                name=name.strip(),
                root=root,
                now=utcnow(),
                owner=stored_owner,
                rules=rules,
            )
            row = get_collection(conn, key)
            assert row is not None
            access = collection_access(conn, row)
            from ..store.collections import list_rules

            lines = [f"Added collection {key} ({name.strip()}) at {root}"]
            lines.append(f"Owner: {principals.describe(access.owner)}")
            lines += [f"New identity: {username}" for username in principals.created]
            lines += _privacy_lines(key, principals, access.owner, [r.rule for r in list_rules(conn, key)])
            return lines

        with open_database(load_settings()) as db:
            lines = db.transact(add)
        typer.echo("\n".join(lines))


@app.command("allow")
def allow_command(
    collection_id: Annotated[str, typer.Argument(help="The collection id.")],
    spec: Annotated[str, typer.Argument(metavar="PRINCIPAL[:r|rw][:PATH]", help=ALLOW_HELP)],
) -> None:
    """Grant a principal read (r) or read-write (rw) access below a path (a principal's rule on the same
    path is changed)."""
    with handle_errors():
        key = _uuid(collection_id, "the collection id")
        parsed = _parse_allow(spec, "PRINCIPAL[:r|rw][:PATH]")
        from ..store.collections import get_collection, set_rule

        def allow(conn: sa.Connection) -> str:
            if get_collection(conn, key) is None:
                raise CLIError(f"no collection {key}")
            principals = Principals(conn)
            principal = principals.resolve(parsed.principal)
            rule, created = set_rule(
                conn, key, principal=principal, path=parsed.path, permissions=parsed.permissions, now=utcnow()
            )
            verb = "Allowed" if created else "Changed the rule of"
            what = "read and write" if rule.permissions == "rw" else "read"
            who = principals.describe(principal)
            return (
                f"{verb} {who}: {what} ({rule.permissions}) below {rule.shown_path} of collection {key} "
                f"(rule {rule.id})"
            )

        with open_database(load_settings()) as db:
            typer.echo(db.transact(allow))


@app.command("revoke")
def revoke_command(
    collection_id: Annotated[str, typer.Argument(help="The collection id.")],
    spec: Annotated[
        str,
        typer.Argument(
            metavar="PRINCIPAL[:PATH]",
            help="Whose rules to delete: all of them, or only the one on PATH.",
        ),
    ],
) -> None:
    """Delete a principal's access rules (all of them, or the one on PATH)."""
    with handle_errors():
        key = _uuid(collection_id, "the collection id")
        from ..shared.collection_access import AccessError, parse_revoke

        try:
            principal_text, path = parse_revoke(spec)
        except AccessError as exc:
            raise CLIError(str(exc)) from None
        from ..store.collections import get_collection, revoke_rules

        def revoke(conn: sa.Connection) -> str:
            if get_collection(conn, key) is None:
                raise CLIError(f"no collection {key}")
            principals = Principals(conn)
            principal = _existing_principal(conn, principals, principal_text)
            count = revoke_rules(conn, key, principal, path)
            where = f" on {_shown(path)}" if path is not None else ""
            if count == 0:
                raise CLIError(f"{principals.describe(principal)} has no rule{where} in collection {key}")
            plural = "rule" if count == 1 else "rules"
            return f"Revoked {count} {plural} of {principals.describe(principal)}{where} of collection {key}"

        with open_database(load_settings()) as db:
            typer.echo(db.transact(revoke))


def _shown(parts: tuple[str, ...]) -> str:
    from ..shared.collection_access import show_rule_path

    return show_rule_path(parts)


def _existing_principal(conn: sa.Connection, principals: Principals, text: str) -> str:
    """The stored principal for `text`, without creating an identity for an unknown username."""
    from ..shared.urns import identity_urn
    from ..store.identities import get_identity_by_username

    name = text.strip()
    if name.startswith("urn:") or name in ("all_authenticated_users", "public", "anonymous") or ":" in name:
        return principals.resolve(name)
    row = get_identity_by_username(conn, name)
    if row is None:
        raise CLIError(f"no identity with username {name!r}")
    return identity_urn(row.id)


@app.command("show")
def show_command(
    collection_id: Annotated[str, typer.Argument(help="The collection id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show a collection: its root, its owner and its access rules."""
    with handle_errors():
        key = _uuid(collection_id, "the collection id")
        from ..shared.collection_access import to_transfer
        from ..store.collections import collection_access, get_collection, list_rules

        with open_database(load_settings()) as db, db.read() as conn:
            row = get_collection(conn, key)
            if row is None:
                raise CLIError(f"no collection {key}")
            access = collection_access(conn, row)
            principals = Principals(conn)
            rules = list_rules(conn, key)
            document = {
                "id": str(row.id),
                "name": row.name,
                "root": str(row.root),
                "owner": access.owner,
                "owner_username": principals.username(access.owner),
                "owner_is_default": row.owner is None,
                "private": not rules,
                "rules": [
                    {
                        "id": str(stored.rule.id),
                        "principal": stored.rule.principal,
                        "principal_type": to_transfer(stored.rule.principal)[0],
                        "username": principals.username(stored.rule.principal),
                        "path": stored.rule.shown_path,
                        "permissions": stored.rule.permissions,
                        "created_at": stored.created_at,
                    }
                    for stored in rules
                ],
            }
            lines = [
                f"Collection {row.id} ({row.name}) at {row.root}",
                f"Owner: {principals.describe(access.owner)}"
                + (" (the local administrator, by default)" if row.owner is None else ""),
                *_privacy_lines(key, principals, access.owner, [stored.rule for stored in rules]),
            ]
        if json_output:
            print_json(document)
        else:
            typer.echo("\n".join(lines))


@app.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the collections."""
    with handle_errors():
        from ..store.collections import list_collections, list_rules, owner_of

        with open_database(load_settings()) as db, db.read() as conn:
            principals = Principals(conn)
            items = []
            for row in list_collections(conn):
                owner = owner_of(conn, row)
                items.append(
                    {
                        "id": str(row.id),
                        "name": row.name,
                        "root": str(row.root),
                        "owner": owner,
                        "owner_username": principals.username(owner),
                        "rules": len(list_rules(conn, row.id)),
                    }
                )
        if json_output:
            typer.echo(json.dumps(items))
            return
        if not items:
            typer.echo("No collections.")
        for item in items:
            who = item["owner_username"] or item["owner"] or "admin"
            access = "private" if not item["rules"] else f"{item['rules']} rules"
            typer.echo(f"{item['id']}  {item['name']}  {item['root']}  owner {who}  {access}")


@app.command("remove")
def remove_command(
    collection_id: Annotated[str, typer.Argument(help="The collection id.")],
) -> None:
    """Remove a collection and its access rules (its files are left alone)."""
    with handle_errors():
        key = _uuid(collection_id, "the collection id")
        from ..store.collections import remove_collection

        with open_database(load_settings()) as db:
            removed = db.transact(remove_collection, key)
        if not removed:
            raise CLIError(f"no collection {key}")
        typer.echo(f"Removed collection {key}")
