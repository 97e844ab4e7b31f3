"""`openflows users ...`: local accounts, who sign in at the authorize pages with a username and a password.

The password is read from standard input (`--password-stdin`), never from an argument (it would show in `ps`
and shell history); it is hashed with Argon2id and never printed.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json, utcnow

app = typer.Typer(name="users", help="Local accounts that sign in with a password.", no_args_is_help=True)


def _document(account: Any) -> dict[str, Any]:
    from ..shared.urns import identity_urn

    return {
        "username": account.username,
        "identity_id": str(account.identity_id),
        "identity_urn": identity_urn(account.identity_id),
        "name": account.name,
        "email": account.email,
        "created_at": account.created_at.isoformat(),
        "disabled": account.disabled,
    }


def _run(operation: Any, **kwargs: Any) -> Any:
    from ..auth.accounts import AccountError

    settings = load_settings()
    with open_database(settings) as db:
        try:
            return db.transact(operation, now=utcnow(), **kwargs)
        except AccountError as exc:
            raise CLIError(str(exc)) from None


@app.command("add")
def add_command(
    username: Annotated[str, typer.Option("--username", help="The name to sign in with.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (required).")
    ] = False,
    email: Annotated[str | None, typer.Option("--email", help="Email address.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Add a local account (an existing identity of that username gets the password)."""
    with handle_errors():
        from ..auth.accounts import add_account

        if not password_stdin:
            raise CLIError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        account = _run(add_account, username=username, password=password, email=email, name=name)
    document = _document(account)
    if json_output:
        print_json(document)
        return
    typer.echo(f"Added local account {document['username']} ({document['identity_urn']}).")


@app.command("list")
def list_command(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """List local accounts (never their passwords)."""
    with handle_errors():
        from ..auth.accounts import list_accounts

        settings = load_settings()
        with open_database(settings) as db, db.read() as conn:
            documents = [_document(account) for account in list_accounts(conn)]
    if json_output:
        print_json({"users": documents})
        return
    if not documents:
        typer.echo("No local accounts.")
        return
    for item in documents:
        state = "disabled" if item["disabled"] else "enabled"
        typer.echo(f"{item['username']}  {state}  {item['identity_urn']}  {item['name'] or ''}".rstrip())


@app.command("disable")
def disable_command(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable a disabled account again.")] = False,
) -> None:
    """Disable an account: it can no longer sign in and its browser sessions end (`--enable` undoes it)."""
    with handle_errors():
        from ..auth.accounts import disable_account

        account = _run(disable_account, username=username, enable=enable)
    typer.echo(f"{'Enabled' if enable else 'Disabled'} local account {account.username}.")


@app.command("set-password")
def set_password_command(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input (required).")
    ] = False,
) -> None:
    """Change an account's password (its browser sessions end)."""
    with handle_errors():
        from ..auth.accounts import set_password

        if not password_stdin:
            raise CLIError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        account = _run(set_password, username=username, password=password)
    typer.echo(f"Changed the password of local account {account.username}.")


@app.command("remove")
def remove_command(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """Remove an account's password sign-in (the identity, its flows and runs stay)."""
    with handle_errors():
        from ..auth.accounts import remove_account

        account = _run(remove_account, username=username)
    typer.echo(f"Removed local account {account.username}.")
