"""`openflows consents ...`: see and take back what people consented to (Globus Auth's consents), on the
server's database like `openflows tokens`. Taking a consent back revokes the tokens resting on it, those a
run holds to act as the person included: such a run goes INACTIVE at its next call to a provider, until the
person consents again and resumes it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json, utcnow

app = typer.Typer(
    name="consents",
    help="List and revoke people's consents (and the tokens resting on them).",
    no_args_is_help=True,
)


@app.command("list")
def list_command(
    username: Annotated[str, typer.Option("--username", help="Whose consents.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List a person's consents, parents before children (a child lets the client owning its parent scope
    use its scope for the person)."""
    with handle_errors():
        settings = load_settings()
        with open_database(settings) as db, db.read() as conn:
            consents = _list(conn, username.strip())
    if json_output:
        print_json({"consents": consents})
        return
    if not consents:
        typer.echo("No consents.")
        return
    for item in consents:
        indent = "  " * (len(item["dependency_path"]) - 1)
        typer.echo(f"{item['id']:>6}  {indent}{item['scope_string']}  (client {item['client_id']})")


def _list(conn: Any, username: str) -> list[dict[str, Any]]:
    from ..store.auth_consents import list_consents
    from ..store.identities import get_identity_by_username

    identity = get_identity_by_username(conn, username)
    if identity is None:
        raise CLIError(f"no identity named {username!r}")
    return [
        {
            "id": int(row.id),
            "scope_string": row.scope_string,
            "client_id": str(row.client_id),
            "parent_id": row.parent_id,
            "dependency_path": list(row.dependency_path or [row.id]),
            "created_at": row.created_at.isoformat(),
        }
        for row in list_consents(conn, identity.id)
    ]


@app.command("revoke")
def revoke_command(
    consent_id: Annotated[int, typer.Argument(metavar="CONSENT_ID", help="From `openflows consents list`.")],
    username: Annotated[str, typer.Option("--username", help="Whose consent.")],
) -> None:
    """Take a consent back: it and the consents below it are deleted, and every token resting on them is
    revoked (within a few seconds for a running server)."""
    with handle_errors():
        from ..auth.authorization import revoke_consent
        from ..store.identities import get_identity_by_username

        settings = load_settings()

        def revoke(conn: Any) -> Any:
            identity = get_identity_by_username(conn, username.strip())
            if identity is None:
                raise CLIError(f"no identity named {username!r}")
            return revoke_consent(conn, identity_id=identity.id, consent_id=consent_id, now=utcnow())

        with open_database(settings) as db:
            done = db.transact(revoke)
        if done is None:
            raise CLIError(f"{username} has no consent {consent_id}")
    typer.echo(f"Revoked {len(done.consent_ids)} consent(s) and {done.tokens_revoked} token(s).")
