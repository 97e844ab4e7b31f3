"""`openflows federation ...`: OpenFlows' scopes at its upstream Globus Auth (`OPENFLOWS_AUTH_UPSTREAM`,
docs/auth.md "Federation with Globus Auth").

`openflows serve` creates the service scopes at start-up and each flow's scope when the flow is created or
updated; `sync` does all of it again for every flow (after the upstream was unreachable, or after OpenFlows
was registered there with a new client), and prints the scope strings people ask the upstream for."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json

app = typer.Typer(
    name="federation",
    help="OpenFlows' scopes at its upstream Globus Auth (OPENFLOWS_AUTH_UPSTREAM).",
    no_args_is_help=True,
)


@app.command("sync")
def sync_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create or update, at the upstream, OpenFlows' service scopes and every flow's scope with the flow's
    dependent scopes; print their scope strings."""
    with handle_errors():
        settings = load_settings()
        from ..auth.federated_delegation import UpstreamScopePublisher
        from ..auth.federation import FederationConfig, UpstreamAuth, UpstreamRefused

        config = FederationConfig.from_settings(settings)
        if config is None:
            raise CLIError("OPENFLOWS_AUTH_UPSTREAM is not set: this OpenFlows has no upstream Globus Auth")
        upstream = UpstreamAuth(config)
        try:
            upstream.verify()
            publisher = UpstreamScopePublisher(upstream)
            service = publisher.ensure_service_scopes()
            with open_database(settings) as db, db.read() as conn:
                flows = _flows(conn)
            published = []
            failed = []
            for flow_id, dependent_scopes in flows:
                try:
                    published.append(
                        {"flow_id": str(flow_id), "scope": publisher.publish_flow(flow_id, dependent_scopes)}
                    )
                except UpstreamRefused as exc:
                    failed.append({"flow_id": str(flow_id), "error": str(exc)})
        except UpstreamRefused as exc:
            raise CLIError(f"the upstream Auth at {config.upstream} refused: {exc}") from None
        finally:
            upstream.close()
    if json_output:
        print_json({"service_scopes": service, "flows": published, "failed": failed})
    else:
        typer.echo(f"Service scopes at {config.upstream}:")
        for text in service:
            typer.echo(f"  {text}")
        typer.echo(f"Flow scopes: {len(published)} published" + (f", {len(failed)} failed" if failed else ""))
        for item in published:
            typer.echo(f"  {item['flow_id']}  {item['scope']}")
        for item in failed:
            typer.echo(f"  {item['flow_id']}  FAILED: {item['error']}")
    if failed:
        raise typer.Exit(1)


def _flows(conn: Any) -> list[tuple[Any, list[str]]]:
    from ..store.schema import flows

    rows = conn.execute(
        flows.select()
        .with_only_columns(flows.c.id, flows.c.dependent_scopes)
        .where(flows.c.deleted_at.is_(None))
    ).all()
    return [(row.id, list(row.dependent_scopes or [])) for row in rows]
