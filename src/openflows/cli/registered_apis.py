"""`openflows registered-apis ...`: create (from an OpenAPI document and one operation, as `gra build` +
`gra publish` do), list, show, update and delete registered APIs (docs/registered-apis.md).

`create` reads the OpenAPI 3.1 document (JSON or YAML file, or an http(s) URL), keeps the one operation
`METHOD PATH` with the components it references (language/openapi_target.reduce_document: bounded, so a huge
or hostile document is refused quickly), adds `--scope` as a GlobusAuth requirement when given, and sends it
with `POST /registered_apis`; the server checks it again and derives the rest.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .common import CLIError
from .options import ClientOptions, client_command
from .output import Field, display, format_time

app = typer.Typer(
    name="registered-apis",
    help="Register operations of OpenAPI documents for flows to call; list, show, update, delete them.",
    no_args_is_help=True,
)

FIELDS = [
    Field("ID", "id"),
    Field("Name", "name"),
    Field("Description", "description", wrap=True),
    Field("Status", "status"),
    Field("Method", "_method"),
    Field("URL", "_url", wrap=True),
    Field("Owners", "_owners"),
    Field("Administrators", "_administrators"),
    Field("Viewers", "_viewers"),
    Field("Created", "created_timestamp", format_time),
    Field("Updated", "updated_timestamp", format_time),
    Field("Deleted for good at", "scheduled_deletion_timestamp", format_time),
]
LIST_FIELDS = [
    Field("ID", "id", min_width=36),
    Field("Name", "name", wrap=True),
    Field("Updated", "updated_timestamp", format_time),
]

Roles = Annotated[list[str] | None, typer.Option(help="Identity or group URN; repeatable.")]


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """Nested keys as dotted keys, for the table view."""
    out = dict(doc)
    destination = (doc.get("target") or {}).get("destination") or {}
    out["_method"] = str(destination.get("method", "")).upper()
    out["_url"] = destination.get("url")
    for role in ("owners", "administrators", "viewers"):
        out[f"_{role}"] = (doc.get("roles") or {}).get(role)
    return out


def _show(doc: dict[str, Any], opts: ClientOptions) -> None:
    """The document as JSON (unchanged) or as a table of the main fields."""
    display(doc if opts.format == "json" else _flatten(doc), format=opts.format, fields=FIELDS)


def load_openapi(source: str) -> Any:
    """An OpenAPI document from a file (JSON or YAML) or an http(s) URL."""
    import yaml

    if source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(source, timeout=30, follow_redirects=False)
        if response.status_code != 200:
            raise CLIError(f"{source} answered {response.status_code}")
        text = response.text
    else:
        try:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CLIError(f"cannot read {source}: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CLIError(f"{source} is neither JSON nor YAML: {exc}") from exc


def build_target(
    document: Any, operation: str, base_url: str | None, scope: list[str] | None
) -> dict[str, Any]:
    from ..language.openapi_target import reduce_document

    parts = operation.split()
    if len(parts) != 2:
        raise CLIError(f"the operation must be 'METHOD /path', not {operation!r}")
    target, problems = reduce_document(document, parts[0], parts[1], base_url=base_url)
    if target is None:
        raise CLIError("; ".join(f"{'.'.join(map(str, p.loc)) or '$'}: {p.msg}" for p in problems))
    if scope:
        security = list(target["specification"].get("security") or [])
        target["specification"]["security"] = [{"GlobusAuth": [s]} for s in scope] + security
    return target


@client_command(app, "create")
def create_command(
    opts: ClientOptions,
    openapi: Annotated[str, typer.Argument(help="OpenAPI 3.1 document: a JSON/YAML file or an http(s) URL.")],
    operation: Annotated[str, typer.Argument(help="The operation, e.g. 'GET /things/{thing_id}'.")],
    name: Annotated[str, typer.Option("--name", help="Name of the registered API.")],
    description: Annotated[str, typer.Option("--description")] = "",
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="The API's base URL (default: the document's first server)."),
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Globus Auth scope the operation needs; repeatable.")
    ] = None,
    owner: Roles = None,
    administrator: Roles = None,
    viewer: Roles = None,
    subscription_id: Annotated[str | None, typer.Option("--subscription-id")] = None,
) -> None:
    """Register one operation of an OpenAPI document.

    Example: openflows registered-apis create openapi.json 'GET /flows' --name list-flows
    """
    target = build_target(load_openapi(openapi), operation, base_url, scope)
    body: dict[str, Any] = {"name": name, "description": description, "target": target}
    roles = {
        k: v for k, v in (("owners", owner), ("administrators", administrator), ("viewers", viewer)) if v
    }
    if roles:
        body["roles"] = roles
    if subscription_id:
        body["subscription_id"] = subscription_id
    response = opts.flows_client().post("/registered_apis", data=body)
    _show(response.data, opts)


@client_command(app, "list")
def list_command(
    opts: ClientOptions,
    filter_role: Annotated[
        list[str] | None, typer.Option("--filter-role", help="owner, administrator or viewer; repeatable.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 25,
) -> None:
    """List the registered APIs you hold a role on (owner by default).

    Example: openflows registered-apis list --filter-role owner --filter-role viewer
    """
    items: list[Any] = []
    query: dict[str, Any] = {"per_page": min(limit, 100)}
    if filter_role:
        query["filter_roles"] = ",".join(filter_role)
    client = opts.flows_client()
    while True:
        page = client.get("/registered_apis", query_params=query).data
        items.extend(page.get("registered_apis") or [])
        if not page.get("has_next_page") or len(items) >= limit:
            break
        query = {"marker": page["marker"]}
    document = {"registered_apis": items[:limit]}
    display(document, format=opts.format, items_key="registered_apis", fields=LIST_FIELDS)


@client_command(app, "show")
def show_command(
    opts: ClientOptions, api_id: Annotated[str, typer.Argument(help="Registered API ID.")]
) -> None:
    """Show a registered API (use --format json for its target, templates and input schema)."""
    display(
        _flatten(opts.flows_client().get(f"/registered_apis/{api_id}").data),
        format=opts.format,
        fields=FIELDS,
    )


@client_command(app, "update")
def update_command(
    opts: ClientOptions,
    api_id: Annotated[str, typer.Argument(help="Registered API ID.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    openapi: Annotated[
        str | None, typer.Option("--openapi", help="A new OpenAPI document (with --operation).")
    ] = None,
    operation: Annotated[str | None, typer.Option("--operation", help="'METHOD /path' in --openapi.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Scope; repeatable.")] = None,
    owner: Roles = None,
    administrator: Roles = None,
    viewer: Roles = None,
) -> None:
    """Change a registered API: only the options given change (role options replace the lists)."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if (openapi is None) != (operation is None):
        raise CLIError("--openapi and --operation go together")
    if openapi is not None and operation is not None:
        body["target"] = build_target(load_openapi(openapi), operation, base_url, scope)
    roles = {
        k: v for k, v in (("owners", owner), ("administrators", administrator), ("viewers", viewer)) if v
    }
    if roles:
        body["roles"] = roles
    response = opts.flows_client().patch(f"/registered_apis/{api_id}", data=body)
    _show(response.data, opts)


@client_command(app, "delete")
def delete_command(
    opts: ClientOptions, api_id: Annotated[str, typer.Argument(help="Registered API ID.")]
) -> None:
    """Delete a registered API (owners): it is marked for deletion, and gone after the grace period."""
    display(
        _flatten(opts.flows_client().delete(f"/registered_apis/{api_id}").data),
        format=opts.format,
        fields=FIELDS,
    )
