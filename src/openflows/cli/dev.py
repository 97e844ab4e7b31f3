"""`openflows dev run`: run a definition without registering it first. A temporary flow is created, run and
deleted again (also after a failure or Ctrl-C); its runs stay readable through `openflows runs ...` until
deleted."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import ClientOptions, client_command
from .output import display

app = typer.Typer(name="dev", help="Try flows quickly on a server (temporary flows).", no_args_is_help=True)


@client_command(app, "run")
def run_command(
    opts: ClientOptions,
    definition: Annotated[str, typer.Argument(help="Definition: a JSON/YAML file, inline JSON, or -.")],
    input: Annotated[str, typer.Option("--input", "-i", help="Run input: file, inline JSON or -.")] = "{}",
    input_schema: Annotated[
        str | None, typer.Option("--input-schema", help="Input schema to check input.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Run label.")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Show the live view while it runs.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls.")] = 0.5,
) -> None:
    """Run a definition once on a temporary flow (deleted afterwards) and wait for the end. Prints the
    output, or the error; exit status 0 when the run succeeded, 1 otherwise.

    Example: openflows dev run hello.json --input '{"name": "Ada"}' --watch
    """
    from .output import make_console
    from .params import load_document
    from .validate import print_definition_warnings
    from .watch import DETACHED, exit_status, watch_run

    document = load_document(definition, what="definition", role="definition")[0]
    body = load_document(input, what="input", role="$")[0]
    schema = load_document(input_schema, what="input schema", role="input_schema")[0] if input_schema else {}
    print_definition_warnings(document)
    client = opts.flows_client()
    flow = client.create_flow(
        title=f"dev run {label or 'temporary'}",
        definition=document,
        input_schema=schema,
        keywords=["openflows-dev-run"],
    )
    flow_id = flow["id"]
    try:
        run = opts.specific_client(flow_id).run_flow(body, label=label or "dev run")
        run_id = run["run_id"]
        console = make_console(stderr=opts.format == "json")
        try:
            view = watch_run(
                client,
                run_id,
                console=console,
                interval=interval,
                live=None if watch else False,
                debug=opts.debug,
            )
        except KeyboardInterrupt:
            console.print(f"Detached; the run goes on: openflows runs watch {run_id}")
            raise typer.Exit(DETACHED) from None
        if opts.format == "json":
            display(view.run, format="json")
        code = exit_status(view)
    finally:
        client.delete_flow(flow_id)
    raise typer.Exit(code)
