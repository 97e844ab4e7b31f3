"""`openflows flows ...`: create, list, show, update, delete, validate and draw flows.

Each command is one call through `openflows.client` plus one `display` call (see output.py); server errors
are turned into one line by the shared error hook (errors.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .options import ClientOptions, client_command
from .output import Field, display, format_time, format_time_short, hint

app = typer.Typer(
    name="flows", help="Create, list, show, update, delete, validate and draw flows.", no_args_is_help=True
)

FLOW_FIELDS = [
    Field("Flow ID", "id"),
    Field("Title", "title"),
    Field("Subtitle", "subtitle"),
    Field("Description", "description", wrap=True),
    Field("Keywords", "keywords"),
    Field("Owner", "flow_owner"),
    Field("Created", "created_at", format_time),
    Field("Updated", "updated_at", format_time),
    Field("Administrators", "flow_administrators"),
    Field("Starters", "flow_starters"),
    Field("Viewers", "flow_viewers"),
    Field("Run managers", "run_managers"),
    Field("Run monitors", "run_monitors"),
    Field("Your roles", "user_roles"),
    Field("Scope", "globus_auth_scope", wrap=True),
    Field("Subscription", "subscription_id"),
    Field("Authentication policy", "authentication_policy_id"),
]
LIST_FIELDS = [
    Field("Flow ID", "id", min_width=36),
    Field("Title", "title", wrap=True, min_width=8),
    Field("Your role", "user_role"),
    Field("Updated", "updated_at", format_time_short, min_width=10),
]

Roles = Annotated[list[str] | None, typer.Option(help="Principal URN; repeatable.")]


def _load(value: str, what: str, role: str) -> Any:
    from .params import load_document

    return load_document(value, what=what, role=role)[0]


def _definition_title(path: str) -> str:
    stem = Path(path).stem if path not in ("-",) and not path.lstrip().startswith("{") else ""
    return stem or "untitled"


@client_command(app, "create")
def create_command(
    opts: ClientOptions,
    definition: Annotated[
        str, typer.Argument(help="Definition: a JSON/YAML file, inline JSON, or - (stdin).")
    ],
    title: Annotated[str | None, typer.Option("--title", help="Title (default: the file name).")] = None,
    input_schema: Annotated[
        str | None, typer.Option("--input-schema", help="Input schema: file, inline JSON or -.")
    ] = None,
    subtitle: Annotated[str | None, typer.Option("--subtitle")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    keyword: Annotated[list[str] | None, typer.Option("--keyword", help="Keyword; repeatable.")] = None,
    administrator: Roles = None,
    starter: Annotated[
        list[str] | None, typer.Option(help="Principal URN or all_authenticated_users; repeatable.")
    ] = None,
    viewer: Annotated[list[str] | None, typer.Option(help="Principal URN or public; repeatable.")] = None,
    run_manager: Roles = None,
    run_monitor: Roles = None,
    subscription_id: Annotated[str | None, typer.Option("--subscription-id")] = None,
    authentication_policy_id: Annotated[str | None, typer.Option("--authentication-policy-id")] = None,
) -> None:
    """Register a flow.

    Example: openflows flows create hello.json --title Hello --starter all_authenticated_users
    """
    from .validate import print_definition_warnings

    document = _load(definition, "definition", "definition")
    schema = _load(input_schema, "input schema", "input_schema") if input_schema else {}
    print_definition_warnings(document)
    kwargs: dict[str, Any] = {}
    if subscription_id:
        kwargs["subscription_id"] = subscription_id
    if authentication_policy_id:
        kwargs["authentication_policy_id"] = authentication_policy_id
    flow = opts.flows_client().create_flow(
        title=title or _definition_title(definition),
        definition=document,
        input_schema=schema,
        subtitle=subtitle,
        description=description,
        keywords=keyword or [],
        flow_administrators=administrator or [],
        flow_starters=starter or [],
        flow_viewers=viewer or [],
        run_managers=run_manager or [],
        run_monitors=run_monitor or [],
        **kwargs,
    )
    display(flow.data, format=opts.format, fields=FLOW_FIELDS)


@client_command(app, "list")
def list_command(
    opts: ClientOptions,
    filter_role: Annotated[
        list[str] | None,
        typer.Option(
            "--filter-role",
            help="Only flows where you hold this role (flow_owner, flow_administrator, flow_starter, "
            "flow_viewer, run_manager, run_monitor); repeatable.",
        ),
    ] = None,
    filter_fulltext: Annotated[
        str | None, typer.Option("--filter-fulltext", help="Text to search for.")
    ] = None,
    filter_title: Annotated[str | None, typer.Option("--filter-title")] = None,
    filter_subtitle: Annotated[str | None, typer.Option("--filter-subtitle")] = None,
    filter_description: Annotated[str | None, typer.Option("--filter-description")] = None,
    filter_keywords: Annotated[str | None, typer.Option("--filter-keywords")] = None,
    filter_scope_string: Annotated[
        str | None, typer.Option("--filter-scope-string", help="A flow's scope string.")
    ] = None,
    orderby: Annotated[
        list[str] | None,
        typer.Option("--orderby", help="FIELD:ASC|DESC (title, created_at, updated_at, ...); repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many flows.")] = 25,
) -> None:
    """List the flows you have a role on.

    Example: openflows flows list --filter-role flow_owner --orderby title:ASC --limit 10
    """
    query: dict[str, Any] = {}
    for key, value in (
        ("filter_title", filter_title),
        ("filter_subtitle", filter_subtitle),
        ("filter_description", filter_description),
        ("filter_keywords", filter_keywords),
        ("filter_scope_string", filter_scope_string),
    ):
        if value:
            query[key] = value
    kwargs: dict[str, Any] = {}
    if filter_role:
        kwargs["filter_roles"] = filter_role
    if filter_fulltext:
        kwargs["filter_fulltext"] = filter_fulltext
    if orderby:
        kwargs["orderby"] = [item.replace(":", " ") for item in orderby]
    client = opts.flows_client()
    items, first, more = _collect(client.paginated.list_flows(query_params=query, **kwargs), "flows", limit)
    document = dict(first)
    document["flows"] = items
    display(document, format=opts.format, items_key="flows", fields=LIST_FIELDS)
    if more:
        hint(f"(more flows exist; raise --limit above {limit})")


def _collect(paginator: Any, key: str, limit: int) -> tuple[list[Any], dict[str, Any], bool]:
    """Up to `limit` items over pages; the first page's document; whether more exist."""
    items: list[Any] = []
    first: dict[str, Any] | None = None
    more = False
    for page in paginator.pages():
        if first is None:
            first = dict(page.data)
        for item in page.data.get(key) or []:
            if len(items) >= limit:
                more = True
                break
            items.append(item)
        if len(items) >= limit:
            more = more or bool(page.data.get("has_next_page"))
            break
    return items, first or {key: []}, more


@client_command(app, "show")
def show_command(opts: ClientOptions, flow_id: Annotated[str, typer.Argument(help="Flow ID.")]) -> None:
    """Show a flow (use --format json for its definition and input schema).

    Example: openflows flows show 5d8cb1c3-... --format json
    """
    display(opts.flows_client().get_flow(flow_id).data, format=opts.format, fields=FLOW_FIELDS)


@client_command(app, "update")
def update_command(
    opts: ClientOptions,
    flow_id: Annotated[str, typer.Argument(help="Flow ID.")],
    definition: Annotated[
        str | None, typer.Option("--definition", help="New definition: file, JSON or -.")
    ] = None,
    input_schema: Annotated[str | None, typer.Option("--input-schema", help="New input schema.")] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    subtitle: Annotated[str | None, typer.Option("--subtitle")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="New owner (identity URN).")] = None,
    keyword: Annotated[
        list[str] | None, typer.Option("--keyword", help="Keywords (replace); repeatable.")
    ] = None,
    administrator: Roles = None,
    starter: Roles = None,
    viewer: Roles = None,
    run_manager: Roles = None,
    run_monitor: Roles = None,
    subscription_id: Annotated[str | None, typer.Option("--subscription-id")] = None,
    authentication_policy_id: Annotated[str | None, typer.Option("--authentication-policy-id")] = None,
) -> None:
    """Update a flow; only the options given change (a role option replaces that list; pass "" to clear it).

    Example: openflows flows update 5d8cb1c3-... --title "Hello v2" --definition hello2.json
    """

    def roles(values: list[str] | None) -> list[str] | None:
        return None if values is None else [v for v in values if v]

    kwargs: dict[str, Any] = {
        "title": title,
        "subtitle": subtitle,
        "description": description,
        "flow_owner": owner,
        "keywords": roles(keyword),
        "flow_administrators": roles(administrator),
        "flow_starters": roles(starter),
        "flow_viewers": roles(viewer),
        "run_managers": roles(run_manager),
        "run_monitors": roles(run_monitor),
        "subscription_id": subscription_id,
        "authentication_policy_id": authentication_policy_id,
    }
    if definition is not None:
        from .validate import print_definition_warnings

        kwargs["definition"] = _load(definition, "definition", "definition")
        print_definition_warnings(kwargs["definition"])
    if input_schema is not None:
        kwargs["input_schema"] = _load(input_schema, "input schema", "input_schema")
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    flow = opts.flows_client().update_flow(flow_id, **kwargs)
    display(flow.data, format=opts.format, fields=FLOW_FIELDS)


@client_command(app, "delete")
def delete_command(opts: ClientOptions, flow_id: Annotated[str, typer.Argument(help="Flow ID.")]) -> None:
    """Delete a flow.

    Example: openflows flows delete 5d8cb1c3-...
    """
    flow = opts.flows_client().delete_flow(flow_id)
    display(flow.data, format=opts.format, text=f"Deleted flow {flow_id}.")


@app.command("validate")
def validate_command(
    definition: Annotated[str, typer.Argument(help="Definition: a JSON or YAML file, inline JSON, or -.")],
    input_schema: Annotated[
        str | None, typer.Option("--input-schema", help="Input schema to check too: file, JSON or -.")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also reject what only OpenFlows accepts (Retry, Succeed, http://)."),
    ] = False,
    portable: Annotated[
        bool,
        typer.Option(
            "--portable",
            help="Also list every OpenFlows extension used (Retry, Succeed, Map, Parallel, http://), which a "
            "hosted Globus flow could not use.",
        ),
    ] = False,
    format: Annotated[str, typer.Option("--format", "-F", help="table or json.")] = "table",
) -> None:
    """Check a flow definition locally (no server needed) and print each problem like a compiler:
    FILE: STATE: FIELD: message. Exit status 1 when there are problems (`--portable` notes are not problems;
    `--strict` makes them so).

    Example: openflows flows validate my-flow.yaml --input-schema schema.json
    """
    from .validate import validate_files

    raise typer.Exit(
        validate_files(definition, input_schema, strict=strict, format=format, portable=portable)
    )


@client_command(app, "graph")
def graph_command(
    opts: ClientOptions,
    flow_id: Annotated[str, typer.Argument(help="Flow ID.")],
    dot: Annotated[
        bool, typer.Option("--dot", help="Print Graphviz DOT (ranked as the dashboard draws it).")
    ] = False,
) -> None:
    """Draw a flow's state machine in the terminal (transitions labelled Next, Choice, Default, Catch).

    Example: openflows flows graph 5d8cb1c3-... --dot | dot -Tsvg > flow.svg
    """
    from .graph import print_graph, to_dot

    flow = opts.flows_client().get_flow(flow_id).data
    if opts.format == "json":
        display(flow["definition"], format="json")
        return
    if dot:
        typer.echo(to_dot(flow["definition"], title=flow.get("title")), nl=False)
        return
    print_graph(flow["definition"], title=flow.get("title"))
