"""`openflows runs ...` and `openflows run start`: list, show, follow and manage runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .describe import failure_of, status_text
from .options import ClientOptions, client_command
from .output import Field, display, format_time, format_time_short, format_value, hint

app = typer.Typer(name="runs", help="List, show, watch, draw and manage runs.", no_args_is_help=True)
run_app = typer.Typer(name="run", help="Start a run of a flow.", no_args_is_help=True)

RUN_FIELDS = [
    Field("Run ID", "run_id"),
    Field("Flow ID", "flow_id"),
    Field("Flow title", "flow_title"),
    Field("Status", ".", status_text),
    Field("Label", "label"),
    Field("Tags", "tags"),
    Field("Started", "start_time", format_time),
    Field("Completed", "completion_time", format_time),
    Field("Owner", "run_owner"),
    Field("Managers", "run_managers"),
    Field("Monitors", "run_monitors"),
    Field("Your roles", "user_roles"),
]
LIST_FIELDS = [
    Field("Run ID", "run_id", min_width=36),
    Field("Flow title", "flow_title", wrap=True, min_width=6),
    Field("Label", "label", wrap=True, min_width=5),
    Field("Status", ".", status_text, min_width=9),
    Field("Started", "start_time", format_time_short, min_width=10),
]
LOG_FIELDS = [
    Field("Time", "time", format_time_short, min_width=10),
    Field("Code", "code", min_width=12),
    Field("Description", "description", wrap=True, min_width=16),
]

RunId = Annotated[str, typer.Argument(help="Run ID.")]
Principals = Annotated[list[str] | None, typer.Option(help="Principal URN; repeatable.")]


@client_command(run_app, "start")
def start_command(
    opts: ClientOptions,
    flow_id: Annotated[str, typer.Argument(metavar="FLOW", help="Flow ID.")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="Run input: JSON/YAML file, inline JSON or -.")
    ] = "{}",
    label: Annotated[str | None, typer.Option("--label", help="Label (1-64 characters).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag; repeatable.")] = None,
    manager: Principals = None,
    monitor: Principals = None,
    notify_on: Annotated[
        list[str] | None,
        typer.Option("--notify-on", help="Activity notification: INACTIVE, SUCCEEDED, FAILED; repeatable."),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the run live until it ends.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only check (validate_run): scope, role, input; start nothing.")
    ] = False,
) -> None:
    """Start a run of a flow (with --watch: follow it; exit status 0 succeeded, 1 failed).

    Example: openflows run start 5d8cb1c3-... --input input.json --label first --watch
    """
    from .params import load_document

    body = load_document(input, what="input", role="$")[0]
    kwargs: dict[str, Any] = {"label": label} if label else {}
    if notify_on:
        kwargs["activity_notification_policy"] = {"status": [s.upper() for s in notify_on]}
    specific = opts.specific_client(flow_id)
    if dry_run:
        checked = specific.validate_run(
            body, tags=tag or [], run_managers=manager or [], run_monitors=monitor or [], **kwargs
        )
        display(checked.data, format=opts.format, text=f"The run would start: {checked.data.get('message')}.")
        return
    run = specific.run_flow(
        body, tags=tag or [], run_managers=manager or [], run_monitors=monitor or [], **kwargs
    )
    if watch:
        from .watch import watch_command_run

        raise typer.Exit(watch_command_run(opts, run.data["run_id"]))
    display(run.data, format=opts.format, fields=run_fields(run.data))


@client_command(app, "list")
def list_command(
    opts: ClientOptions,
    filter_flow_id: Annotated[
        list[str] | None, typer.Option("--filter-flow-id", help="Flow ID; repeatable.")
    ] = None,
    filter_role: Annotated[
        list[str] | None,
        typer.Option(
            "--filter-role",
            help="run_owner, run_manager, run_monitor, flow_run_manager, flow_run_monitor; repeatable.",
        ),
    ] = None,
    filter_status: Annotated[
        list[str] | None,
        typer.Option("--filter-status", help="ACTIVE, INACTIVE, SUCCEEDED, FAILED, ENDED; repeatable."),
    ] = None,
    filter_label: Annotated[
        str | None, typer.Option("--filter-label", help="Substring of the label.")
    ] = None,
    filter_tag: Annotated[list[str] | None, typer.Option("--filter-tag", help="Tag; repeatable.")] = None,
    filter_flow_title: Annotated[str | None, typer.Option("--filter-flow-title")] = None,
    filter_start_time: Annotated[
        str | None, typer.Option("--filter-start-time", help="FROM,TO (ISO 8601; either side optional).")
    ] = None,
    filter_completion_time: Annotated[str | None, typer.Option("--filter-completion-time")] = None,
    orderby: Annotated[
        list[str] | None,
        typer.Option("--orderby", help="FIELD:ASC|DESC (start_time, completion_time, status, label)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many runs.")] = 25,
) -> None:
    """List the runs you have a role on.

    Example: openflows runs list --filter-status FAILED --filter-flow-id 5d8cb1c3-... --limit 50
    """
    from .flows import _collect

    query: dict[str, Any] = {}
    for key, value in (
        ("filter_status", ",".join(filter_status or [])),
        ("filter_label", filter_label),
        ("filter_tags", ",".join(filter_tag or [])),
        ("filter_flow_title", filter_flow_title),
        ("filter_start_time", filter_start_time),
        ("filter_completion_time", filter_completion_time),
        ("orderby", ",".join(item.replace(":", " ") for item in orderby or [])),
    ):
        if value:
            query[key] = value
    kwargs: dict[str, Any] = {}
    if filter_flow_id:
        kwargs["filter_flow_id"] = filter_flow_id
    if filter_role:
        kwargs["filter_roles"] = filter_role
    paginator = opts.flows_client().paginated.list_runs(query_params=query, **kwargs)
    items, first, more = _collect(paginator, "runs", limit)
    document = dict(first)
    document["runs"] = items
    display(document, format=opts.format, items_key="runs", fields=LIST_FIELDS)
    if more:
        hint(f"(more runs exist; raise --limit above {limit})")


@client_command(app, "show")
def show_command(
    opts: ClientOptions,
    run_id: RunId,
    include_flow_description: Annotated[
        bool, typer.Option("--include-flow-description", help="Add the flow's description.")
    ] = False,
) -> None:
    """Show a run.

    Example: openflows runs show 0b8e3f5c-... --format json
    """
    kwargs: dict[str, Any] = {"include_flow_description": True} if include_flow_description else {}
    client = opts.flows_client()
    run = client.get_run(run_id, **kwargs)
    fields = run_fields(run.data)
    if opts.format != "json":
        fields = fields + iteration_fields(_iteration_states(client, run_id))
    display(run.data, format=opts.format, fields=fields)


def _iteration_states(client: Any, run_id: str) -> list[dict[str, Any]]:
    """The run's Map and Parallel states with their items by status (`GET /runs/{id}/iterations`, an
    OpenFlows extension: a server without it has none)."""
    import globus_sdk

    try:
        states = client.get(f"/runs/{run_id}/iterations").data.get("states")
    except globus_sdk.GlobusAPIError:
        return []
    return [state for state in states or [] if isinstance(state, dict)]


def iteration_summary(state: dict[str, Any]) -> str:
    """`47 succeeded, 3 failed, 0 active of 50` (then `, N queued` / `, N ended` when there are any)."""
    counts = state.get("counts") or {}
    active = counts.get("ACTIVE", 0) + counts.get("INACTIVE", 0)
    text = (
        f"{counts.get('SUCCEEDED', 0)} succeeded, {counts.get('FAILED', 0)} failed, {active} active "
        f"of {state.get('total', 0)}"
    )
    for status in ("QUEUED", "ENDED"):
        if counts.get(status):
            text += f", {counts[status]} {status.lower()}"
    return text


def iteration_fields(states: list[dict[str, Any]]) -> list[Field]:
    """One line per Map or Parallel state of `runs show`."""
    fields = []
    for state in states:
        kind = f" ({state['type']})" if state.get("type") else ""
        summary = iteration_summary(state)
        fields.append(Field(f"{state.get('state')}{kind}", ".", lambda _, text=summary: text))
    return fields


def _cause_or_reason(item: dict[str, Any]) -> str:
    """An item's error cause, or for an INACTIVE item (no error) why it waits: its `reason`."""
    return format_value(item.get("cause") or item.get("reason"))


ITEM_FIELDS = [
    Field("Index", "index", min_width=5),
    Field("Status", "status", min_width=9),
    Field("Started", "start_time", format_time_short, min_width=10),
    Field("Completed", "completion_time", format_time_short, min_width=10),
    Field("Error", "error", min_width=5),
    Field(
        "Cause",
        ".",
        _cause_or_reason,
        wrap=True,
        min_width=8,
    ),
]
ITEM_RECORD = [
    Field("Index", "index"),
    Field("State", "state"),
    Field("Status", "status"),
    Field("Started", "start_time", format_time),
    Field("Completed", "completion_time", format_time),
    Field("Error", "error"),
    Field("Cause", ".", _cause_or_reason, wrap=True),
    Field("Input", "input", lambda v: _json(v)),
    Field("Output", "output", lambda v: _json(v)),
]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


WITHIN_HELP = (
    "A nested iteration to look inside, as STATE[INDEX] (quote it: 'Outer[3]'); repeat it to go deeper "
    "(--within 'Outer[3]' --within 'Inner[0]': item 0 of Inner inside item 3 of Outer)."
)


@client_command(app, "iterations")
def iterations_command(
    opts: ClientOptions,
    run_id: RunId,
    state: Annotated[
        str | None,
        typer.Argument(help="The Map or Parallel state; without it, every such state with its counts."),
    ] = None,
    within: Annotated[
        list[str] | None, typer.Option("--within", metavar="STATE[INDEX]", help=WITHIN_HELP)
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only items with this status (e.g. failed); repeatable."),
    ] = None,
    item: Annotated[
        int | None, typer.Option("--item", min=0, help="Show this item: its input, output and error.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many items.")] = 100,
) -> None:
    """List the items of a run's Map or Parallel state (an OpenFlows extension), or show one; without STATE,
    count the items of each such state. --within looks inside an item: at the Map and Parallel states of its
    own sub-machine.

    Example: openflows runs iterations 0b8e3f5c-... Fan --status failed

    Example: openflows runs iterations 0b8e3f5c-... --within 'Fan[3]'
    """
    client = opts.flows_client()
    path_params: dict[str, Any] = {"within": list(within)} if within else {}
    if state is None:
        if item is not None or status:
            raise typer.BadParameter("--item and --status need a STATE", param_hint="STATE")
        summary = client.get(f"/runs/{run_id}/iterations", query_params=path_params).data
        if opts.format == "json":
            display(summary, format="json")
            return
        states = [one for one in summary.get("states") or [] if isinstance(one, dict)]
        if not states:
            where = f" inside {' > '.join(within)}" if within else ""
            typer.echo(f"No Map or Parallel state has items{where}.")
            return
        display(summary, format=opts.format, fields=iteration_fields(states))
        return
    path = f"/runs/{run_id}/iterations/items"
    if item is not None:
        doc = client.get(f"{path}/{item}", query_params={"state": state, **path_params}).data
        display(doc, format=opts.format, fields=ITEM_RECORD)
        return
    params: dict[str, Any] = {"state": state, "limit": min(limit, 100), **path_params}
    if status:
        params["status"] = ",".join(status)
    first = client.get(path, query_params=params).data
    items = list(first.get("items") or [])
    page = first
    while page.get("has_next_page") and len(items) < limit:
        page = client.get(path, query_params={"state": state, "marker": page["marker"], **path_params}).data
        items.extend(page.get("items") or [])
    more = len(items) > limit or bool(page.get("has_next_page"))
    document = {key: value for key, value in first.items() if key not in ("marker", "has_next_page")}
    document["items"] = items[:limit]
    if opts.format == "json":
        display(document, format="json")
        return
    typer.echo(f"{first.get('state')}: {iteration_summary(first)}")
    display(document, format=opts.format, items_key="items", fields=ITEM_FIELDS)
    if more:
        hint(f"(more items exist; raise --limit above {limit})")


def run_fields(run: dict[str, Any]) -> list[Field]:
    """The lines of `runs show`: RUN_FIELDS, then what the run's status means: the output of a SUCCEEDED
    run, why an INACTIVE run waits and the scope it needs, why a FAILED run failed (the provider's own
    description first), and the flow's description when it was asked for."""
    import json

    extra: list[Field] = []
    details = run.get("details") if isinstance(run.get("details"), dict) else {}
    status = run.get("status")
    if run.get("blocking_web_input_id"):
        extra.append(Field("Waits for web input", "blocking_web_input_id"))
    if isinstance(run.get("flow_description"), dict):
        extra.append(
            Field("Flow description", "flow_description.description", lambda v: v or "(none)", wrap=True)
        )
    if status == "SUCCEEDED" and "output" in details:
        extra.append(Field("Output", "details.output", lambda v: json.dumps(v, indent=2, ensure_ascii=False)))
    elif status == "INACTIVE":
        extra.append(Field("Waiting", ".", _waiting, wrap=True))
        if details.get("required_scope"):
            extra.append(Field("Required scope", "details.required_scope", wrap=True))
        elif _required_scopes(details):
            extra.append(
                Field("Required scopes", ".", lambda _: " ".join(_required_scopes(details)), wrap=True)
            )
        extra.append(Field("Resume with", "run_id", lambda v: f"openflows runs resume {v}"))
    elif (failure := failure_of(run)) is not None:
        where = f" (state {failure.state})" if failure.state else ""
        extra.append(Field("Error", ".", lambda _: failure.error + where))
        if failure.reason:
            extra.append(Field("Cause", ".", lambda _: failure.reason, wrap=True))
        if failure.has_more:
            extra.append(Field("Whole cause", "run_id", lambda v: f"openflows runs show {v} --format json"))
    elif details.get("code") and status != "ACTIVE":
        extra.append(Field("Details", "details.code"))
    elif details.get("code") == "FlowRedriven" and isinstance(details.get("details"), dict):
        extra.append(Field("Redriven", ".", lambda _: _redriven(details["details"])))
    return RUN_FIELDS + extra


def _redriven(info: dict[str, Any]) -> str:
    return f"from state {info.get('state_name')} (redrive {info.get('redrive_count')})"


def _required_scopes(details: dict[str, Any]) -> list[str]:
    """The scopes a GARE-style `details` asks consent for (`authorization_parameters.required_scopes`)."""
    params = details.get("authorization_parameters")
    scopes = params.get("required_scopes") if isinstance(params, dict) else None
    return [str(scope) for scope in scopes] if isinstance(scopes, list) else []


def _waiting(run: dict[str, Any]) -> str:
    details = run.get("details") or {}
    code, description = details.get("code"), details.get("description")
    return ": ".join(str(part) for part in (code, description) if part) or "a resume"


@client_command(app, "logs")
def logs_command(
    opts: ClientOptions,
    run_id: RunId,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many entries.")] = 100,
    reverse: Annotated[bool, typer.Option("--reverse", help="Newest first.")] = False,
    details: Annotated[bool, typer.Option("--details", help="Show each entry's details too.")] = False,
) -> None:
    """Show a run's log.

    Example: openflows runs logs 0b8e3f5c-... --details
    """
    from .flows import _collect

    paginator = opts.flows_client().paginated.get_run_logs(
        run_id, reverse_order=reverse, limit=min(limit, 100)
    )
    items, first, more = _collect(paginator, "entries", limit)
    document = dict(first)
    document["entries"] = items
    if opts.format == "json" or not details:
        display(document, format=opts.format, items_key="entries", fields=LOG_FIELDS)
    else:
        import json

        for entry in items:
            typer.echo(f"{format_time(entry.get('time'))}  {entry.get('code')}  {entry.get('description')}")
            typer.echo(_indent(json.dumps(entry.get("details"), indent=2)))
    if more:
        hint(f"(more entries exist; raise --limit above {limit})")


@client_command(app, "definition")
def definition_command(opts: ClientOptions, run_id: RunId) -> None:
    """Show the definition and input schema a run started with (always JSON).

    Example: openflows runs definition 0b8e3f5c-...
    """
    display(opts.flows_client().get_run_definition(run_id).data, format="json")


@client_command(app, "cancel")
def cancel_command(opts: ClientOptions, run_id: RunId) -> None:
    """Cancel a run.

    Example: openflows runs cancel 0b8e3f5c-...
    """
    run = opts.flows_client().cancel_run(run_id)
    display(run.data, format=opts.format, fields=run_fields(run.data))


@client_command(app, "resume")
def resume_command(
    opts: ClientOptions,
    run_id: RunId,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the run live after resuming.")] = False,
) -> None:
    """Resume an INACTIVE run (its flow's scope is needed).

    Example: openflows runs resume 0b8e3f5c-... --watch
    """
    flow_id = opts.flows_client().get_run(run_id).data["flow_id"]
    run = opts.specific_client(flow_id).resume_run(run_id)
    if watch:
        from .watch import watch_command_run

        raise typer.Exit(watch_command_run(opts, run_id))
    display(run.data, format=opts.format, fields=run_fields(run.data))


@client_command(app, "redrive")
def redrive_command(
    opts: ClientOptions,
    run_id: RunId,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the run after redriving.")] = False,
) -> None:
    """Run a FAILED run again from the state that failed, with the input it had there (an OpenFlows
    extension). The states that succeeded are not run again; the run keeps the definition it started with.

    Example: openflows runs redrive 0b8e3f5c-... --watch
    """
    flow_id = opts.flows_client().get_run(run_id).data["flow_id"]
    # the flow's own scope: the run's user may have to let it act as them again
    run = opts.specific_client(flow_id).redrive_run(run_id)
    if watch:
        from .watch import watch_command_run

        raise typer.Exit(watch_command_run(opts, run_id))
    display(run.data, format=opts.format, fields=run_fields(run.data))


@client_command(app, "update")
def update_command(
    opts: ClientOptions,
    run_id: RunId,
    label: Annotated[str | None, typer.Option("--label", help="New label.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tags (replace); repeatable; '' clears.")
    ] = None,
    manager: Principals = None,
    monitor: Principals = None,
    notify_on: Annotated[
        list[str] | None,
        typer.Option(
            "--notify-on",
            help="New activity notification policy: INACTIVE, SUCCEEDED, FAILED; repeatable; '' for none.",
        ),
    ] = None,
) -> None:
    """Update a run's label, tags, managers, monitors or activity notification policy (a list option
    replaces; pass '' to clear).

    Example: openflows runs update 0b8e3f5c-... --label nightly --tag prod --notify-on FAILED
    """

    def clean(values: list[str] | None) -> list[str] | None:
        return None if values is None else [v for v in values if v]

    kwargs = {
        "label": label,
        "tags": clean(tag),
        "run_managers": clean(manager),
        "run_monitors": clean(monitor),
    }
    extra = {}
    if notify_on is not None:
        extra["activity_notification_policy"] = {"status": [s.upper() for s in clean(notify_on) or []]}
    run = opts.flows_client().update_run(
        run_id, **{k: v for k, v in kwargs.items() if v is not None}, additional_fields=extra or None
    )
    display(run.data, format=opts.format, fields=run_fields(run.data))


@client_command(app, "delete")
def delete_command(opts: ClientOptions, run_id: RunId) -> None:
    """Delete (release) an ended run and its log.

    Example: openflows runs delete 0b8e3f5c-...
    """
    run = opts.flows_client().delete_run(run_id)
    display(run.data, format=opts.format, text=f"Deleted run {run_id}.")


@client_command(app, "watch")
def watch_command(
    opts: ClientOptions,
    run_id: RunId,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls.")] = 1.0,
) -> None:
    """Follow a run live: states as they start and finish, transfer progress, then the output or the error.
    Ctrl-C detaches (the run goes on). Exit status 0 when it succeeded, 1 otherwise.

    Example: openflows runs watch 0b8e3f5c-...
    """
    from .watch import watch_command_run

    raise typer.Exit(watch_command_run(opts, run_id, interval=interval))


@client_command(app, "graph")
def graph_command(
    opts: ClientOptions,
    run_id: RunId,
    dot: Annotated[
        bool, typer.Option("--dot", help="Print Graphviz DOT, states filled by what the run did.")
    ] = False,
) -> None:
    """Draw the run's state machine, states coloured by what the run did (done, running, failed, not
    reached).

    Example: openflows runs graph 0b8e3f5c-... --dot | dot -Tpng > run.png
    """
    from .graph import print_graph, state_marks, to_dot

    client = opts.flows_client()
    definition = client.get_run_definition(run_id).data["definition"]
    if opts.format == "json":
        display(definition, format="json")
        return
    entries = list(client.paginated.get_run_logs(run_id, limit=100).items())
    status = client.get_run(run_id).data["status"]
    if dot:
        typer.echo(to_dot(definition, marks=state_marks(entries, status), title=run_id), nl=False)
        return
    print_graph(definition, marks=state_marks(entries, status))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
