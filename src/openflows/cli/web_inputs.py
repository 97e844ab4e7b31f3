"""`openflows web-inputs ...`: list, show and answer the questions runs ask you (web inputs), and
`openflows notifications list`, what the server has sent or still has to send (read from the database).

The web input commands call the API (`GET /web_inputs`, `GET /web_inputs/{id}`, `POST .../respond`) through
the generic methods of globus-sdk's FlowsClient, so they work with globus-sdk 3.x too.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .common import CLIError, handle_errors, load_settings, open_database, print_json
from .options import ClientOptions, client_command
from .output import Field, display, format_time, format_time_short, hint

app = typer.Typer(name="web-inputs", help="List, show and answer web inputs.", no_args_is_help=True)
notifications_app = typer.Typer(
    name="notifications", help="The notifications the server sends (outbox).", no_args_is_help=True
)

LIST_FIELDS = [
    Field("Web input ID", "id", min_width=36),
    Field("Title", "title", wrap=True, min_width=8),
    Field("Status", "status", min_width=6),
    Field("Your roles", "user_roles", min_width=6),
    Field("Flow", "flow.title", wrap=True, min_width=6),
    Field("Run", "run.label", wrap=True, min_width=5),
    Field("Created", "created_timestamp", format_time_short, min_width=10),
]
SHOW_FIELDS = [
    Field("Web input ID", "id"),
    Field("Title", "context.title"),
    Field("Status", "status"),
    Field("Your roles", "user_roles"),
    Field("Flow", "flow.title"),
    Field("Flow ID", "flow.id"),
    Field("Run", "run.label"),
    Field("Run ID", "run.id"),
    Field("Respondents", "roles.respondent_urns"),
    Field("Viewers", "roles.viewer_urns"),
    Field("Created", "created_timestamp", format_time),
    Field("Closed", "closed_timestamp", format_time),
]
WebInputId = Annotated[str, typer.Argument(help="Web input ID.")]


@client_command(app, "list")
def list_command(
    opts: ClientOptions,
    filter_role: Annotated[
        list[str] | None, typer.Option("--filter-role", help="viewer or respondent; repeatable.")
    ] = None,
    filter_state: Annotated[
        list[str] | None, typer.Option("--filter-state", help="open (default) or closed; repeatable.")
    ] = None,
    filter_flow_id: Annotated[
        list[str] | None, typer.Option("--filter-flow-id", help="Flow ID; repeatable.")
    ] = None,
    filter_run_id: Annotated[
        list[str] | None, typer.Option("--filter-run-id", help="Run ID; repeatable.")
    ] = None,
    orderby: Annotated[
        str, typer.Option("--orderby", help="FIELD ASC|DESC (created/edited/closed_timestamp).")
    ] = "created_timestamp DESC",
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 25,
) -> None:
    """List the web inputs you may view or answer (open ones unless --filter-state says otherwise).

    Example: openflows web-inputs list --filter-role respondent
    """
    query: dict[str, Any] = {"orderby": orderby, "per_page": min(limit, 100)}
    for key, values in (
        ("filter_roles", filter_role),
        ("filter_states", filter_state),
        ("filter_flow_ids", filter_flow_id),
        ("filter_run_ids", filter_run_id),
    ):
        if values:
            query[key] = ",".join(values)
    client = opts.flows_client()
    items: list[dict[str, Any]] = []
    more = False
    marker = None
    while True:
        page = client.get(
            "/web_inputs", query_params={**query, **({"marker": marker} if marker else {})}
        ).data
        for item in page.get("web_input_summaries") or []:
            if len(items) >= limit:
                more = True
                break
            items.append(item)
        marker = page.get("marker")
        if more or not marker or len(items) >= limit:
            more = more or bool(marker)
            break
    display(
        {"web_input_summaries": items},
        format=opts.format,
        items_key="web_input_summaries",
        fields=LIST_FIELDS,
    )
    if more:
        hint(f"(more web inputs exist; raise --limit above {limit})")


@client_command(app, "show")
def show_command(opts: ClientOptions, web_input_id: WebInputId) -> None:
    """Show a web input: its question (text or table), its options and who may answer.

    Example: openflows web-inputs show 3d9a4e7b-...
    """
    doc = opts.flows_client().get(f"/web_inputs/{web_input_id}").data
    display(doc, format=opts.format, fields=SHOW_FIELDS)
    if opts.format == "json":
        return
    context = doc.get("context") or {}
    typer.echo("")
    if context.get("presentation_style") == "table":
        for row in context.get("rows") or []:
            typer.echo(f"  {row.get('field')}: {row.get('value')}")
    elif context.get("text"):
        typer.echo(context["text"])
    typer.echo("")
    typer.echo("Options:")
    for option in doc.get("options") or []:
        description = f" - {option['description']}" if option.get("description") else ""
        typer.echo(f"  {option['option_id']}  {option['label']}{description}")


def _option_id(doc: dict[str, Any], choice: str) -> str:
    """The option id named by `choice`: an option id, or a label (case-insensitive)."""
    options = doc.get("options") or []
    for option in options:
        if choice == option.get("option_id"):
            return choice
    matches = [o["option_id"] for o in options if str(o.get("label", "")).lower() == choice.lower()]
    if len(matches) == 1:
        return matches[0]
    labels = ", ".join(repr(o.get("label")) for o in options)
    raise CLIError(f"{choice!r} is neither an option id nor the label of one option (labels: {labels})")


@client_command(app, "respond")
def respond_command(
    opts: ClientOptions,
    web_input_id: WebInputId,
    option: Annotated[str, typer.Argument(metavar="OPTION", help="The option's id, or its label.")],
) -> None:
    """Answer a web input with one of its options (by id or by label).

    Example: openflows web-inputs respond 3d9a4e7b-... Approve
    """
    client = opts.flows_client()
    doc = client.get(f"/web_inputs/{web_input_id}").data
    chosen = _option_id(doc, option)
    answer = client.post(f"/web_inputs/{web_input_id}/respond", data={"response": {"value": chosen}}).data
    display(answer, format=opts.format, text=f"Answered {web_input_id} with {chosen}.")


@notifications_app.command("list")
def notifications_command(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's notifications.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="pending, sent or failed.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the notifications (activity notifications, web input notices) and whether they were sent."""
    with handle_errors():
        import uuid

        from ..store.notifications import list_notifications

        try:
            run_id = uuid.UUID(run) if run else None
        except ValueError:
            raise CLIError(f"--run must be a run id (got {run!r})") from None
        with open_database(load_settings()) as db, db.read() as conn:
            rows = list_notifications(conn, run_id=run_id)
        items = [
            {
                "id": str(row["id"]),
                "kind": row["kind"],
                "run_id": str(row["run_id"]) if row["run_id"] else None,
                "recipient_urn": row["recipient_urn"],
                "status": row["status"],
                "attempts": row["attempts"],
                "last_error": row["last_error"],
                "delivery": row["delivery"],
                "created_at": row["created_at"].isoformat(),
                "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
                "payload": row["payload"],
            }
            for row in rows
            if status is None or row["status"] == status
        ]
        if json_output:
            print_json(items)
            return
        if not items:
            typer.echo("No notifications.")
        for item in items:
            where = item["delivery"] or item["last_error"] or ""
            line = f"{item['created_at']}  {item['kind']:<9}  {item['status']:<7}  {item['recipient_urn']}"
            typer.echo(f"{line}  {where}")
