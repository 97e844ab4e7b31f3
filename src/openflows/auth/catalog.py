"""The built-in resource servers, scopes and clients of OpenFlows' Auth (pure data; no I/O).

The real clients ask for these exact strings (auth-protocol notes §1.4, §9): `globus login` must get a token
for every resource server it names, gladier always asks for Globus Compute (`funcx_service`), and the
documented action-provider set-up names the Groups scope by its id. So they exist out of the box, with ids
that never change: a scope's id is `uuid5(NAMESPACE_URL, scope_string)` unless Globus' own id is known and
relied on (`GROUPS_VIEW_SCOPE_ID`). `store.auth_scopes.ensure_catalog` writes them at start-up (idempotently).

Resource server names are those globus-sdk stores tokens under (`flows.globus.org`, `funcx_service`, the
Timers id...). A flow's own scope (`https://auth.globus.org/scopes/<flow id>/flow_<id>_user`) is not listed
here: its row is made when first needed and its resource server is the flow id.
"""

from __future__ import annotations

import dataclasses
import uuid

from . import scopes as flows_scopes

#: the literal prefix of URL scope strings, kept on any host (globus-sdk hard-codes it)
SCOPE_URL_PREFIX = "https://auth.globus.org/scopes/"
#: resource server of Globus Auth's own scopes
AUTH_RESOURCE_SERVER = "auth.globus.org"
GROUPS_RESOURCE_SERVER = "groups.api.globus.org"
TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org"
SEARCH_RESOURCE_SERVER = "search.api.globus.org"
TIMERS_RESOURCE_SERVER = "524230d7-ea86-4a52-8312-86065a9e0417"
COMPUTE_RESOURCE_SERVER = "funcx_service"
COMPUTE_CLIENT_ID = "facd7ccc-c5f4-42aa-916b-a0e270e2c2a9"

#: Globus Groups' `view_my_groups_and_memberships` scope id, hard-coded by the action-provider set-up guide
GROUPS_VIEW_SCOPE_ID = uuid.UUID("73320ffe-4cb4-4b25-a0a3-83d53d59ce4f")

OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
VIEW_IDENTITY_SET = "urn:globus:auth:scope:auth.globus.org:view_identity_set"
VIEW_IDENTITIES = "urn:globus:auth:scope:auth.globus.org:view_identities"
MANAGE_PROJECTS = "urn:globus:auth:scope:auth.globus.org:manage_projects"
GROUPS_ALL = "urn:globus:auth:scope:groups.api.globus.org:all"
GROUPS_VIEW = "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships"
TRANSFER_ALL = "urn:globus:auth:scope:transfer.api.globus.org:all"
SEARCH_ALL = "urn:globus:auth:scope:search.api.globus.org:all"
SEARCH_SEARCH = "urn:globus:auth:scope:search.api.globus.org:search"
TIMERS_TIMER = f"{SCOPE_URL_PREFIX}{TIMERS_RESOURCE_SERVER}/timer"
assert TIMERS_TIMER == flows_scopes.TIMERS
COMPUTE_ALL = f"{SCOPE_URL_PREFIX}{COMPUTE_CLIENT_ID}/all"

#: the globus CLI's native template client (production); `globus login` makes a confidential instance of it
GLOBUS_CLI_TEMPLATE_ID = uuid.UUID("95fdeba8-fac2-42bd-a357-e068d82ff78e")
GLADIER_CLIENT_ID = uuid.UUID("f1631610-d9e4-4db2-81ba-7f93ad4414e3")
GRA_CLIENT_ID = uuid.UUID("5fde3f3e-78b3-4459-aea2-a91dfd9ace1a")
#: the web dashboard signs in as this public client of its own server (redirect `<base>ui/callback`)
DASHBOARD_CLIENT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "openflows:dashboard")
#: the `openflows` command line: consents recorded by `openflows tokens create --scope <flow scope>` are
#: granted to this client (the administrator consents for the person the token is made for)
OPENFLOWS_CLI_CLIENT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "openflows:cli")
#: where Globus shows a code to paste (`{base}v2/web/auth-code`), relative to the service's base URL
AUTH_CODE_PAGE = "v2/web/auth-code"
DASHBOARD_CALLBACK = "ui/callback"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceServer:
    """A service tokens are issued for, and the client id that stands for it (owns its scopes)."""

    name: str
    client_id: uuid.UUID
    title: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuiltinScope:
    scope_string: str
    resource_server: str
    name: str
    description: str
    id: uuid.UUID | None = None  # None: uuid5 of the scope string
    #: (scope string, optional) of the scopes consent to this one includes
    dependencies: tuple[tuple[str, bool], ...] = ()

    @property
    def scope_id(self) -> uuid.UUID:
        return self.id or scope_id_for(self.scope_string)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuiltinClient:
    id: uuid.UUID
    name: str
    #: paths under the service's base URL that are exact redirect URIs of the client
    redirect_paths: tuple[str, ...] = (AUTH_CODE_PAGE,)
    #: a template: anyone may make a confidential instance of it (`create_native_app_instance`)
    template: bool = False


def scope_id_for(scope_string: str) -> uuid.UUID:
    """The stable id of a scope that has no id of its own."""
    return uuid.uuid5(uuid.NAMESPACE_URL, scope_string)


def _named(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, name)


RESOURCE_SERVERS: tuple[ResourceServer, ...] = (
    ResourceServer(name=AUTH_RESOURCE_SERVER, client_id=_named(AUTH_RESOURCE_SERVER), title="Auth"),
    ResourceServer(
        name=flows_scopes.FLOWS_RESOURCE_SERVER,
        client_id=uuid.UUID(flows_scopes.FLOWS_CLIENT_ID),
        title="Flows",
    ),
    ResourceServer(name=GROUPS_RESOURCE_SERVER, client_id=_named(GROUPS_RESOURCE_SERVER), title="Groups"),
    ResourceServer(
        name=TRANSFER_RESOURCE_SERVER, client_id=_named(TRANSFER_RESOURCE_SERVER), title="Transfer"
    ),
    ResourceServer(name=SEARCH_RESOURCE_SERVER, client_id=_named(SEARCH_RESOURCE_SERVER), title="Search"),
    ResourceServer(name=TIMERS_RESOURCE_SERVER, client_id=uuid.UUID(TIMERS_RESOURCE_SERVER), title="Timers"),
    ResourceServer(name=COMPUTE_RESOURCE_SERVER, client_id=uuid.UUID(COMPUTE_CLIENT_ID), title="Compute"),
    # the built-in action providers (providers/*), under the Globus-hosted providers' scope strings
    ResourceServer(name="actions.globus.org", client_id=_named("actions.globus.org"), title="Hello World"),
    ResourceServer(
        name="5fac2e64-c734-4e6b-90ea-ff12ddbf9653",
        client_id=uuid.UUID("5fac2e64-c734-4e6b-90ea-ff12ddbf9653"),
        title="Globus-hosted action providers",
    ),
    ResourceServer(
        name="b3db7e59-a6f1-4947-95c2-59d6b7a70f8c",
        client_id=uuid.UUID("b3db7e59-a6f1-4947-95c2-59d6b7a70f8c"),
        title="Compute action provider",
    ),
)
_BY_NAME = {server.name: server for server in RESOURCE_SERVERS}


def _flows(suffix: str, name: str, description: str) -> BuiltinScope:
    return BuiltinScope(
        scope_string=flows_scopes.SCOPE_PREFIX + suffix,
        resource_server=flows_scopes.FLOWS_RESOURCE_SERVER,
        name=name,
        description=description,
    )


def _ap(scope_string: str, name: str, description: str) -> BuiltinScope:
    server = scope_string.removeprefix(SCOPE_URL_PREFIX).split("/")[0]
    return BuiltinScope(scope_string=scope_string, resource_server=server, name=name, description=description)


SCOPES: tuple[BuiltinScope, ...] = (
    BuiltinScope(
        scope_string=OPENID,
        resource_server=AUTH_RESOURCE_SERVER,
        name="Know who you are",
        description="Know your identity (who you signed in as).",
    ),
    BuiltinScope(
        scope_string=PROFILE,
        resource_server=AUTH_RESOURCE_SERVER,
        name="View your profile",
        description="See your name, username and organization.",
    ),
    BuiltinScope(
        scope_string=EMAIL,
        resource_server=AUTH_RESOURCE_SERVER,
        name="View your email address",
        description="See the email address of your identity.",
    ),
    BuiltinScope(
        scope_string=VIEW_IDENTITY_SET,
        resource_server=AUTH_RESOURCE_SERVER,
        name="View your linked identities",
        description="See every identity linked to your account.",
    ),
    BuiltinScope(
        scope_string=VIEW_IDENTITIES,
        resource_server=AUTH_RESOURCE_SERVER,
        name="View identities",
        description="Look up identities by id or username.",
    ),
    BuiltinScope(
        scope_string=MANAGE_PROJECTS,
        resource_server=AUTH_RESOURCE_SERVER,
        name="Manage your Auth projects",
        description="Create and change projects, clients, credentials and scopes you administer.",
    ),
    _flows("all", "Manage and run flows", "Create, view, run and manage flows and runs as you."),
    _flows("manage_flows", "Manage flows", "Create, update and delete flows you administer."),
    _flows("view_flows", "View flows", "See the flows you may view."),
    _flows("run", "Start flows", "Start runs of flows as you."),
    _flows("run_status", "View runs", "See the status and logs of runs you may monitor."),
    _flows("run_manage", "Manage runs", "Cancel, resume, relabel and delete runs you manage."),
    _flows("web_input_view", "View web inputs", "See the questions flows ask you or show you."),
    _flows("web_input_respond", "Answer web inputs", "Answer the questions flows ask you, as you."),
    BuiltinScope(
        scope_string=GROUPS_ALL,
        resource_server=GROUPS_RESOURCE_SERVER,
        name="Manage your groups",
        description="View and manage your groups and memberships.",
    ),
    BuiltinScope(
        scope_string=GROUPS_VIEW,
        resource_server=GROUPS_RESOURCE_SERVER,
        name="View your groups",
        description="See the groups you belong to and your memberships.",
        id=GROUPS_VIEW_SCOPE_ID,
    ),
    BuiltinScope(
        scope_string=TRANSFER_ALL,
        resource_server=TRANSFER_RESOURCE_SERVER,
        name="Transfer files",
        description="Move, list and delete files on the collections you may use.",
    ),
    BuiltinScope(
        scope_string=SEARCH_ALL,
        resource_server=SEARCH_RESOURCE_SERVER,
        name="Manage search indexes",
        description="Search, ingest into and manage search indexes.",
    ),
    BuiltinScope(
        scope_string=SEARCH_SEARCH,
        resource_server=SEARCH_RESOURCE_SERVER,
        name="Search",
        description="Query the search indexes you may see.",
    ),
    BuiltinScope(
        scope_string=TIMERS_TIMER,
        resource_server=TIMERS_RESOURCE_SERVER,
        name="Manage timers",
        description="Create and manage timers that act as you later.",
    ),
    BuiltinScope(
        scope_string=COMPUTE_ALL,
        resource_server=COMPUTE_RESOURCE_SERVER,
        name="Run functions",
        description="Register and run functions on compute endpoints as you.",
    ),
    _ap(
        "https://auth.globus.org/scopes/actions.globus.org/hello_world",
        "Hello World action",
        "Run the Hello World action provider.",
    ),
    _ap(
        "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/expression",
        "Expression evaluation action",
        "Evaluate expressions in flows.",
    ),
    _ap(
        "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/search",
        "Search actions",
        "Ingest into and delete from search indexes from flows.",
    ),
    _ap(
        "https://auth.globus.org/scopes/actions.globus.org/search/ingest",
        "Search ingest action",
        "Ingest documents into search indexes from flows as you.",
    ),
    _ap(
        "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/search_delete",
        "Search delete action",
        "Delete documents from search indexes from flows as you.",
    ),
    _ap(
        "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/notification_notify",
        "Notification action",
        "Send notifications from flows as you.",
    ),
    _ap(
        "https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/weboption_wait_for_option",
        "Wait for a choice action",
        "Offer options at web pages and wait until one is chosen, from flows as you.",
    ),
    _ap(
        "https://auth.globus.org/scopes/b3db7e59-a6f1-4947-95c2-59d6b7a70f8c/action_all",
        "Compute action",
        "Run functions from flows as you.",
    ),
)

CLIENTS: tuple[BuiltinClient, ...] = (
    BuiltinClient(id=GLOBUS_CLI_TEMPLATE_ID, name="Globus CLI", template=True),
    BuiltinClient(id=GLADIER_CLIENT_ID, name="Gladier Client"),
    BuiltinClient(id=GRA_CLIENT_ID, name="globus-registered-api"),
    BuiltinClient(id=DASHBOARD_CLIENT_ID, name="OpenFlows dashboard", redirect_paths=(DASHBOARD_CALLBACK,)),
    BuiltinClient(id=OPENFLOWS_CLI_CLIENT_ID, name="OpenFlows command line"),
)
TEMPLATE_CLIENT_IDS = frozenset(client.id for client in CLIENTS if client.template)


def resource_server(name: str) -> ResourceServer | None:
    """The built-in resource server with this name, or None."""
    return _BY_NAME.get(name)


def client_of_resource_server(name: str) -> uuid.UUID | None:
    """The client id standing for a resource server: built-in ones from the table, a client's own resource
    server (named by the client id) or a flow's (the flow id) from the name itself."""
    server = _BY_NAME.get(name)
    if server is not None:
        return server.client_id
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


_SCOPE_SERVER = {scope.scope_string: scope.resource_server for scope in SCOPES}
_URL_ID_SERVER = {
    flows_scopes.FLOWS_CLIENT_ID: flows_scopes.FLOWS_RESOURCE_SERVER,
    COMPUTE_CLIENT_ID: "funcx_service",
}


def resource_server_of(scope_string: str) -> str:
    """The resource server a scope string names, without the database: built-in scopes from the table, a
    flow's scope the flow id, others from the string (`urn:globus:auth:scope:<rs>:<name>`,
    `https://auth.globus.org/scopes/<rs>/<name>`). For scopes registered through the developer API, read
    `auth_scopes.resource_server` instead (`scope_registry.resolve`)."""
    if scope_string in _SCOPE_SERVER:
        return _SCOPE_SERVER[scope_string]
    flow_id = flows_scopes.parse_flow_scope(scope_string)
    if flow_id is not None:
        return str(flow_id)
    if scope_string.startswith("urn:globus:auth:scope:"):
        parts = scope_string.split(":")
        return parts[4] if len(parts) > 5 else scope_string
    if scope_string.startswith(SCOPE_URL_PREFIX):
        server = scope_string.removeprefix(SCOPE_URL_PREFIX).split("/")[0]
        return _URL_ID_SERVER.get(server, server)
    return scope_string
