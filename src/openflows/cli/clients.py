"""`openflows clients ...`: client ids and secrets for the Globus-Auth-compatible token endpoint, so the
stock `globus` CLI (GLOBUS_CLI_CLIENT_ID / GLOBUS_CLI_CLIENT_SECRET) and other Globus clients can get
tokens from this server. Works on the server's database, like `openflows tokens`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json, utcnow

app = typer.Typer(
    name="clients", help="Create, list and revoke OAuth clients (for the globus CLI).", no_args_is_help=True
)


@app.command("create")
def create_command(
    username: Annotated[
        str, typer.Option("--username", help="Identity the client acts as (created if new).")
    ],
    description: Annotated[
        str | None, typer.Option("--description", help="Note kept with the client.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with client_id and client_secret.")
    ] = False,
) -> None:
    """Create a client id and secret bound to an identity (the secret is shown once).

    Example: openflows clients create --username alice --json
    """
    with handle_errors():
        if not username.strip():
            raise CLIError("--username must not be empty")
        settings = load_settings()
        with open_database(settings) as db:
            result = db.transact(_create, username=username.strip(), description=description)
    if json_output:
        print_json(result)
        return
    typer.echo(f"Created a client for {result['username']} ({result['identity_urn']}).")
    typer.echo(f"client_id:     {result['client_id']}")
    typer.echo(f"client_secret: {result['client_secret']}")
    typer.echo("Use it with the globus CLI:")
    typer.echo(f"  export GLOBUS_CLI_CLIENT_ID={result['client_id']}")
    typer.echo(f"  export GLOBUS_CLI_CLIENT_SECRET={result['client_secret']}")
    typer.echo("  export GLOBUS_SDK_SERVICE_URL_AUTH=<server URL> GLOBUS_SDK_SERVICE_URL_FLOWS=<server URL>")


def _create(conn: Any, *, username: str, description: str | None) -> dict[str, Any]:
    from ..auth.clients import create_legacy_client
    from ..shared.urns import identity_urn
    from ..store.identities import ensure_identity

    now = utcnow()
    identity = ensure_identity(conn, username, now=now)
    client_id, secret = create_legacy_client(conn, identity_id=identity.id, now=now, description=description)
    return {
        "client_id": client_id,
        "client_secret": secret,
        "identity_id": str(identity.id),
        "identity_urn": identity_urn(identity.id),
        "username": identity.username,
    }


@app.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List clients (never their secrets).

    Example: openflows clients list
    """
    with handle_errors():
        from ..store.auth_clients import list_clients

        settings = load_settings()
        with open_database(settings) as db, db.read() as conn:
            rows = list_clients(conn)
    clients = [
        {
            "client_id": str(row.id),
            "username": row.username,
            "description": row.description,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]
    if json_output:
        print_json({"clients": clients})
        return
    if not clients:
        typer.echo("No clients.")
    for item in clients:
        state = "revoked" if item["revoked_at"] else "active"
        typer.echo(f"{item['client_id']}  {item['username']}  {state}  {item['created_at']}")


@app.command("revoke")
def revoke_command(client_id: Annotated[str, typer.Argument(help="Client id.")]) -> None:
    """Revoke a client: it can get no new tokens (tokens already issued stay valid until they expire).

    Example: openflows clients revoke 2f0c...
    """
    with handle_errors():
        from ..auth.clients import revoke_client

        try:
            key = uuid.UUID(client_id)
        except ValueError:
            raise CLIError("not a client id") from None
        settings = load_settings()
        with open_database(settings) as db:
            if not db.transact(revoke_client, key, now=utcnow()):
                raise CLIError("no such active client")
    typer.echo(f"Revoked client {client_id}.")
