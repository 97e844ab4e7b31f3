"""`openflows tokens ...`: create, revoke and list the built-in bearer tokens (stored only as hashes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json, utcnow

app = typer.Typer(name="tokens", help="Create, revoke and list bearer tokens.", no_args_is_help=True)


@app.command("create")
def create_command(
    username: Annotated[
        str, typer.Option("--username", help="Identity the token stands for (created if new).")
    ],
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="Group to add the identity to (created if new); repeatable."),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Scope the token holds: all, manage_flows, view_flows, run, run_status, run_manage, "
            "a built-in provider's name (transfer, hello_world, ...: the scope that provider requires), "
            "a full scope string, a flow id (its flow scope) or *; repeatable. Default: every scope. "
            "A flow's scope is consented to for the person, with what the flow's steps do as them (its "
            "dependent scopes, as they are now), so the runs the token starts act as that person; "
            "timer[FLOW_ID] likewise for the flow timers the token creates (it holds the timer scope).",
        ),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email address of the identity.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name of the identity.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="Note kept with the token.")
    ] = None,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", min=1, help="Lifetime in seconds (default: no expiry).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Create a bearer token; the token is the last line of the output."""
    with handle_errors():
        from ..auth.scopes import normalize_scope

        try:
            scopes = sorted({normalize_scope(item) for item in scope or ()})
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        if not username.strip():
            raise CLIError("--username must not be empty")
        settings = load_settings()
        with open_database(settings) as db:
            result = db.transact(
                _create_token,
                username=username.strip(),
                groups=list(dict.fromkeys(g.strip() for g in group or () if g.strip())),
                scopes=scopes,
                email=email,
                name=name,
                description=description,
                expires_in=expires_in,
                now=utcnow(),
            )
    if json_output:
        print_json(result)
        return
    typer.echo(f"Created a token for {result['username']} ({result['identity_urn']}).")
    for group_name, urn in zip(result["groups"], result["group_urns"], strict=True):
        typer.echo(f"Member of group {group_name} ({urn}).")
    typer.echo(f"Scopes: {' '.join(result['scopes'])}")
    if result["consent_ids"]:
        typer.echo(
            f"Consented, for {result['username']}, to the flow scope(s) with their dependent scopes "
            f"(consents {', '.join(map(str, result['consent_ids']))}; see `openflows consents list`)."
        )
    typer.echo(f"Token id: {result['token_id']} (use it to revoke the token)")
    typer.echo(result["token"])


def _create_token(
    conn: Any,
    *,
    username: str,
    groups: list[str],
    scopes: list[str],
    email: str | None,
    name: str | None,
    description: str | None,
    expires_in: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    from ..auth.tokens import create_token
    from ..shared.urns import group_urn, identity_urn
    from ..store.identities import add_group_member, ensure_group, ensure_identity

    identity = ensure_identity(conn, username, email=email, name=name, now=now)
    group_urns = []
    for group_name in groups:
        group = ensure_group(conn, group_name, now=now)
        add_group_member(conn, group_id=group.id, identity_id=identity.id)
        group_urns.append(group_urn(group.id))
    expires_at = now + dt.timedelta(seconds=expires_in) if expires_in else None
    token, row = create_token(
        conn, identity_id=identity.id, scopes=scopes, description=description, now=now, expires_at=expires_at
    )
    return {
        "token": token,
        "token_id": str(row.id),
        "identity_id": str(identity.id),
        "identity_urn": identity_urn(identity.id),
        "username": identity.username,
        "groups": groups,
        "group_urns": group_urns,
        "scopes": list(row.scopes),
        "consent_ids": [int(value) for value in row.consent_ids or []],
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


@app.command("revoke")
def revoke_command(
    token_or_id: Annotated[str, typer.Argument(metavar="TOKEN_OR_ID", help="The token, or its id.")],
) -> None:
    """Revoke a token: it stops working at once (within a few seconds for a running server)."""
    with handle_errors():
        from ..auth.tokens import revoke_token

        settings = load_settings()
        with open_database(settings) as db:
            row = db.transact(revoke_token, token_or_id.strip(), now=utcnow())
        if row is None:
            raise CLIError("no such token")
    typer.echo(f"Revoked token {row.id} of {row.username}.")


@app.command("list")
def list_command(
    username: Annotated[str | None, typer.Option("--username", help="Only this identity's tokens.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """List tokens (never their values)."""
    with handle_errors():
        from ..store.identities import list_tokens

        settings = load_settings()
        with open_database(settings) as db, db.read() as conn:
            rows = list_tokens(conn, username)
    tokens = [
        {
            "token_id": str(row.id),
            "identity_id": str(row.identity_id),
            "username": row.username,
            "scopes": list(row.scopes),
            "description": row.description,
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]
    if json_output:
        print_json({"tokens": tokens})
        return
    if not tokens:
        typer.echo("No tokens.")
        return
    for item in tokens:
        state = "revoked" if item["revoked_at"] else "active"
        if state == "active" and item["expires_at"] and item["expires_at"] <= utcnow().isoformat():
            state = "expired"
        scopes = " ".join(item["scopes"])
        note = f"  {item['description']}" if item["description"] else ""
        typer.echo(f"{item['token_id']}  {item['username']}  {state}  {item['created_at']}  {scopes}{note}")
