"""The whole schema (SQLAlchemy Core). Alembic migrations under `migrations/` must produce exactly this.

Tables (DESIGN.md "Data model"): identities, groups, group_members, tokens; flows, flow_versions,
flow_roles; runs, run_roles, run_logs; timers, timer_runs; work_items; provider_actions; and the tables of the
built-in providers and the Auth surface below. Role rows duplicate the role lists kept as JSON on flows and
runs so that role filters are indexed queries; the two are always written in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from .types import JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- identities and auth ------------------------------------------------------------------------------------

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("username", sa.String(256), nullable=False, unique=True),
    sa.Column("name", sa.String(256), nullable=True),
    sa.Column("email", sa.String(256), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Uuid(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "identity_id"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    #: sha256 hex of the bearer token; the token itself is never stored
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    #: list of scope strings the token holds
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("description", sa.String(256), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    #: "access" or "refresh" (a refresh token is never accepted as a bearer token)
    sa.Column("kind", sa.String(16), nullable=False, server_default="access"),
    #: the OAuth client the token was issued to (None: made by an administrator, `openflows tokens create`)
    sa.Column("client_id", sa.Uuid(), nullable=True),
    #: the resource server the token is for (None: administrator tokens, which may hold scopes of several)
    sa.Column("resource_server", sa.String(256), nullable=True),
    #: the token this one was issued from: the refresh token of a refresh grant, the user's token of a
    #: dependent-token grant; revoking a token revokes everything issued from it
    sa.Column("parent_id", sa.Uuid(), nullable=True),
    #: the sign-in session (auth_sessions.id) behind a token issued by an authorization-code grant
    sa.Column("session_id", sa.Uuid(), nullable=True),
    #: ids of the consents (auth_consents.id) the token's scopes rest on (roots of the consent forest)
    sa.Column("consent_ids", JSONType, nullable=True),
    #: refresh tokens: when last used (unused for longer than the configured period, they expire)
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Index(None, "identity_id"),
    sa.Index(None, "parent_id"),
)

oauth_clients = sa.Table(
    "oauth_clients",
    metadata,
    #: the client id; a client is also an identity with the same id (`<id>@clients.auth.globus.org`)
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("description", sa.String(256), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("name", sa.String(256), nullable=True),
    #: a public (native) client has no secret and must use PKCE
    sa.Column("public_client", sa.Boolean(), nullable=False, server_default=sa.false()),
    #: Globus client type (public_installed_client, confidential_client, resource_server, ...)
    sa.Column("client_type", sa.String(64), nullable=True),
    #: exact redirect URIs; native clients also accept loopback URIs on any port
    sa.Column("redirect_uris", JSONType, nullable=True),
    sa.Column("visibility", sa.String(16), nullable=True),
    sa.Column("project_id", sa.Uuid(), nullable=True),
    #: the template a native-app instance was made from (`create_native_app_instance`)
    sa.Column("parent_client_id", sa.Uuid(), nullable=True),
    #: built-in clients (the globus CLI, gladier, ...) are registered by OpenFlows itself
    sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index(None, "identity_id"),
    sa.Index(None, "project_id"),
)

#: client secrets (a client may have several); only their hashes are stored
client_credentials = sa.Table(
    "client_credentials",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("client_id", sa.Uuid(), sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=True),
    #: sha256 hex of the secret
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "client_id"),
)

#: projects of the Auth developer API (they group clients and name their administrators)
auth_projects = sa.Table(
    "auth_projects",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("contact_email", sa.String(256), nullable=False),
    #: identity ids and group ids (strings) of the administrators
    sa.Column("admin_ids", JSONType, nullable=False),
    sa.Column("admin_group_ids", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: scopes: built-in ones (Auth, Flows, Groups, Transfer, ...), those clients create, and flows' own scopes
auth_scopes = sa.Table(
    "auth_scopes",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("scope_string", sa.String(512), nullable=False, unique=True),
    #: the resource server name tokens for this scope carry (`flows.globus.org`, a client id, a flow id...)
    sa.Column("resource_server", sa.String(256), nullable=False),
    #: the client that owns the scope (None for built-in scopes)
    sa.Column("client_id", sa.Uuid(), nullable=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False),
    sa.Column("scope_suffix", sa.String(256), nullable=True),
    sa.Column("advertised", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("allows_refresh_token", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("required_domains", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "client_id"),
)

auth_scope_dependencies = sa.Table(
    "auth_scope_dependencies",
    metadata,
    sa.Column("scope_id", sa.Uuid(), sa.ForeignKey("auth_scopes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "dependent_scope_id", sa.Uuid(), sa.ForeignKey("auth_scopes.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("optional", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("requires_refresh_token", sa.Boolean(), nullable=False, server_default=sa.false()),
)

#: what people consented to: a forest per (identity, client); a child is a dependent scope of its parent,
#: consented for the client that owns the parent scope (Globus Auth's consent model)
auth_consents = sa.Table(
    "auth_consents",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    #: the client that may use the scope: the app for a root, the parent scope's client for a child
    sa.Column("client_id", sa.Uuid(), nullable=False),
    sa.Column("scope_id", sa.Uuid(), sa.ForeignKey("auth_scopes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    #: ids from the root to this consent (the last is this one's)
    sa.Column("dependency_path", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="approved"),
    sa.Column("allows_refresh", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("auto_approved", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("atomically_revocable", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=False),
    sa.Index(None, "identity_id", "client_id"),
    sa.Index(None, "parent_id"),
)

#: authorization codes of the authorization-code grant: single use, short-lived, stored hashed
authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    #: sha256 hex of the code
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.Uuid(), nullable=False),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("session_id", sa.Uuid(), nullable=True),
    sa.Column("redirect_uri", sa.Text(), nullable=False),
    #: the requested scope string, dependent scopes in brackets included
    sa.Column("scope", sa.Text(), nullable=False),
    #: ids of the root consents the grant rests on
    sa.Column("consent_ids", JSONType, nullable=False),
    sa.Column("code_challenge", sa.String(128), nullable=True),
    sa.Column("code_challenge_method", sa.String(16), nullable=True),
    sa.Column("nonce", sa.String(256), nullable=True),
    #: "offline" asks for refresh tokens
    sa.Column("access_type", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    #: ids (strings) of the tokens the code was exchanged for: a code presented again revokes them
    sa.Column("issued_token_ids", JSONType, nullable=True),
)

#: browser sign-in sessions (the cookie holds a random value; its hash is stored)
auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    #: how the person signed in: "password", "oidc" or "local_admin"
    sa.Column("method", sa.String(32), nullable=False),
    #: the identity provider: "local" or the upstream issuer URL
    sa.Column("idp", sa.String(512), nullable=False),
    sa.Column("auth_time", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Index(None, "identity_id"),
)

#: local accounts (laptops, air-gapped sites): an identity that signs in with a password (Argon2id hash)
local_accounts = sa.Table(
    "local_accounts",
    metadata,
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
)

#: people signed in through an upstream OpenID Connect provider: one identity per (issuer, sub), for good
identity_links = sa.Table(
    "identity_links",
    metadata,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("subject", sa.String(256), primary_key=True),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Index(None, "identity_id"),
)

#: failed sign-in attempts, for rate limiting (by username and by client address)
auth_attempts = sa.Table(
    "auth_attempts",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    #: "user:<username>" or "addr:<address>"
    sa.Column("key", sa.String(320), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "key", "at"),
)

#: keys that sign ID tokens (RS256/RS512); the private key is encrypted with the service's secret key
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_key", sa.Text(), nullable=False),
    sa.Column("public_jwk", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("retired_at", UTCDateTime(), nullable=True),
)

# --- flows --------------------------------------------------------------------------------------------------

flows = sa.Table(
    "flows",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("flow_owner", sa.String(128), nullable=False),  # identity URN
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("title", sa.String(128), nullable=False),
    sa.Column("subtitle", sa.String(128), nullable=False, server_default=""),
    sa.Column("description", sa.String(4096), nullable=False, server_default=""),
    sa.Column("keywords", JSONType, nullable=False),
    #: current definition and input schema (also in flow_versions)
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("input_schema", JSONType, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),  # current flow_versions.version
    #: role lists as given (URNs, "public", "all_authenticated_users"); mirrored in flow_roles
    sa.Column("flow_viewers", JSONType, nullable=False),
    sa.Column("flow_starters", JSONType, nullable=False),
    sa.Column("flow_administrators", JSONType, nullable=False),
    sa.Column("run_managers", JSONType, nullable=False),
    sa.Column("run_monitors", JSONType, nullable=False),
    sa.Column("subscription_id", sa.String(64), nullable=True),
    sa.Column("authentication_policy_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: soft delete: runs keep referencing deleted flows
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    #: the flow scope's dependent scopes: the scopes of its `RunAs: "User"` Action states, computed when the
    #: flow is created or updated (None: a flow stored before they were computed)
    sa.Column("dependent_scopes", JSONType, nullable=True),
    sa.Index(None, "updated_at", "id"),
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "title", "id"),
)

flow_versions = sa.Table(
    "flow_versions",
    metadata,
    sa.Column("flow_id", sa.Uuid(), sa.ForeignKey("flows.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("input_schema", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

flow_roles = sa.Table(
    "flow_roles",
    metadata,
    sa.Column("flow_id", sa.Uuid(), sa.ForeignKey("flows.id", ondelete="CASCADE"), primary_key=True),
    #: flow_owner | flow_administrator | flow_starter | flow_viewer | run_manager | run_monitor (singular)
    sa.Column("role", sa.String(32), primary_key=True),
    #: identity or group URN, or "public" / "all_authenticated_users"
    sa.Column("principal", sa.String(128), primary_key=True),
    sa.Index(None, "principal", "role"),
)

# --- runs ---------------------------------------------------------------------------------------------------

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("flow_id", sa.Uuid(), sa.ForeignKey("flows.id"), nullable=False),
    sa.Column("flow_version", sa.Integer(), nullable=False),
    sa.Column("run_owner", sa.String(128), nullable=False),  # identity URN of the starter
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("label", sa.String(256), nullable=True),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("run_managers", JSONType, nullable=False),
    sa.Column("run_monitors", JSONType, nullable=False),
    sa.Column("activity_notification_policy", JSONType, nullable=True),
    #: ACTIVE | INACTIVE | SUCCEEDED | FAILED | ENDED; a child run waiting for its turn (MaxConcurrency) is
    #: QUEUED
    sa.Column("status", sa.String(16), nullable=False),
    #: the run document's `details` (FlowStarting / FlowSucceeded / FlowFailed / GARE...)
    sa.Column("details", JSONType, nullable=True),
    #: the run input (`body`), kept for redrive and the FlowStarting details
    sa.Column("input", JSONType, nullable=False),
    #: the current run state (JSON document the states read and write)
    sa.Column("run_state", JSONType, nullable=True),
    #: language.model.Cursor.as_dict(): current state, attempt, in-flight action
    sa.Column("cursor", JSONType, nullable=False),
    #: language.model.RunContext fields ($._context)
    sa.Column("context", JSONType, nullable=False),
    sa.Column("start_time", UTCDateTime(), nullable=False),
    sa.Column("completion_time", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: optimistic concurrency: every transition does UPDATE ... WHERE version = :seen
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
    #: next run_logs.seq for this run
    sa.Column("log_seq", sa.Integer(), nullable=False, server_default="0"),
    #: a child run (one iteration of a Map or Parallel state, store/children.py): its parent run, the
    #: parent's state, which visit and attempt of it (`<visit>/<attempt>`), and the iteration's index. NULL
    #: for the runs users start. Child runs are not listed or shown as runs. (No foreign key: SQLite cannot
    #: add one to `runs` without rebuilding it; children end before their parent and are purged like it.)
    sa.Column("parent_run_id", sa.Uuid(), nullable=True),
    sa.Column("parent_state", sa.String(128), nullable=True),
    sa.Column("parent_visit", sa.String(32), nullable=True),
    sa.Column("iteration", sa.Integer(), nullable=True),
    sa.Index(None, "parent_run_id", "parent_state", "parent_visit", "iteration", unique=True),
    #: a Map's iterations by status: counted from the index alone, the next QUEUED ones found in index order
    sa.Index(
        "ix_runs_children_by_status", "parent_run_id", "parent_state", "parent_visit", "status", "iteration"
    ),
    #: the INACTIVE iterations of a run (children.sync_ancestors, a resume): found without reading the others
    sa.Index(
        "ix_runs_inactive_children",
        "parent_run_id",
        "iteration",
        postgresql_where=sa.text("status = 'INACTIVE' AND parent_run_id IS NOT NULL"),
        sqlite_where=sa.text("status = 'INACTIVE' AND parent_run_id IS NOT NULL"),
    ),
    sa.Index(None, "flow_id", "start_time", "id"),
    sa.Index(None, "start_time", "id"),
    sa.Index(None, "run_owner", "start_time", "id"),
    sa.Index(None, "status", "completion_time"),
)

run_roles = sa.Table(
    "run_roles",
    metadata,
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    #: run_owner | run_manager | run_monitor (singular)
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("principal", sa.String(128), primary_key=True),
    sa.Index(None, "principal", "role"),
)

run_logs = sa.Table(
    "run_logs",
    metadata,
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("time", UTCDateTime(), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False),
    sa.Column("details", JSONType, nullable=False),
)

#: what a run may do as its user (issue 14): one refresh token per resource server, obtained through the
#: dependent-token grant when the run started (or was resumed after new consent), sealed with the service's
#: secret key. No foreign key to runs: the rows of a released or purged run stay until their tokens are
#: revoked (`engine.delegation`).
run_delegations = sa.Table(
    "run_delegations",
    metadata,
    sa.Column("run_id", sa.Uuid(), primary_key=True),
    sa.Column("resource_server", sa.String(256), primary_key=True),
    #: names this grant (the engine caches access tokens by it)
    sa.Column("grant_id", sa.Uuid(), nullable=False, unique=True),
    #: the scope strings the tokens hold
    sa.Column("scopes", JSONType, nullable=False),
    #: the local Auth's row of the refresh token (tokens.id); None for tokens of an upstream Auth
    sa.Column("token_id", sa.Uuid(), nullable=True),
    #: the refresh token, sealed (auth.keys.SecretBox, AES-256-GCM); never stored in clear
    sa.Column("refresh_token", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: the `globus_auth_scope` of external action providers, from their introspection document (`GET
#: <ActionUrl>`), shared by every process; a failed fetch is remembered briefly (scope None, `error`)
provider_scopes = sa.Table(
    "provider_scopes",
    metadata,
    #: the normalised action URL (providers.base.normalize_url)
    sa.Column("action_url", sa.String(1024), primary_key=True),
    sa.Column("scope", sa.String(512), nullable=True),
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
    sa.Column("error", sa.String(256), nullable=True),
)

# --- timers -------------------------------------------------------------------------------------------------

#: scheduled and recurring runs of flows and transfers (the Globus Timers API, docs/timers.md)
timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    #: identity URN of the owner: the timer starts its runs and transfers as this identity
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    #: "flow" | "transfer"
    sa.Column("timer_type", sa.String(16), nullable=False),
    #: the flow a flow timer runs (None for a transfer timer)
    sa.Column("flow_id", sa.Uuid(), nullable=True),
    #: flow: the run request (body, label, tags, run_managers, run_monitors); transfer: the TransferData
    sa.Column("body", JSONType, nullable=False),
    #: the schedule document as shown (`engine.schedules`): once at a time, or recurring every N seconds
    sa.Column("schedule", JSONType, nullable=False),
    #: new | loaded | inactive | ended
    sa.Column("status", sa.String(16), nullable=False),
    #: why an inactive timer is inactive: {"cause": "user" | "error" | ..., "detail": ...}
    sa.Column("inactive_reason", JSONType, nullable=True),
    #: index of the next occurrence of the schedule (occurrence k is due at start + k * interval)
    sa.Column("next_occurrence", sa.Integer(), nullable=False, server_default="0"),
    #: when the next occurrence is due (None when the timer will not fire again)
    sa.Column("next_run", UTCDateTime(), nullable=True),
    sa.Column("number_of_runs", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("number_of_errors", sa.Integer(), nullable=False, server_default="0"),
    #: occurrences skipped because no worker was running when they were due (docs/timers.md)
    sa.Column("number_of_missed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_ran_at", UTCDateTime(), nullable=True),
    sa.Column("submitted_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: optimistic concurrency, as runs: every change does UPDATE ... WHERE version = :seen
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "owner", "submitted_at", "id"),
)

#: a flow timer's grant (issue 17): its owner's refresh token for the flow's scope, issued to the Timers
#: service through the Timers scope's dependency (engine.delegation); each firing's run starts with a token
#: from it
timer_delegations = sa.Table(
    "timer_delegations",
    metadata,
    sa.Column("timer_id", sa.Uuid(), primary_key=True),
    sa.Column("resource_server", sa.String(256), nullable=False),
    sa.Column("grant_id", sa.Uuid(), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False),
    #: the local Auth's row of the refresh token (tokens.id); None for tokens of an upstream Auth
    sa.Column("token_id", sa.Uuid(), nullable=True),
    #: the refresh token, sealed (auth.keys.SecretBox, AES-256-GCM); never stored in clear
    sa.Column("refresh_token", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: one row per occurrence a timer fired: its key (timer, occurrence) makes a firing happen at most once
timer_runs = sa.Table(
    "timer_runs",
    metadata,
    sa.Column("timer_id", sa.Uuid(), sa.ForeignKey("timers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("occurrence", sa.Integer(), primary_key=True, autoincrement=False),
    #: when the occurrence was due, and when it fired
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("ran_at", UTCDateTime(), nullable=False),
    #: "started" (a run or a transfer task was created) or "error" (nothing could start)
    sa.Column("status", sa.String(16), nullable=False),
    #: the run a flow timer started, the transfer task (provider action) a transfer timer started
    sa.Column("run_id", sa.Uuid(), nullable=True),
    sa.Column("action_id", sa.Uuid(), nullable=True),
    #: why nothing started: {"code", "detail"}
    sa.Column("error", JSONType, nullable=True),
    #: occurrences skipped just before this one (no worker was running when they were due)
    sa.Column("missed", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "ran_at"),
)

# --- execution ----------------------------------------------------------------------------------------------

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    #: the run the item belongs to (None for a timer's item)
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    #: step | poll | timer | cancel | resume | release | timer_fire (engine-defined)
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("payload", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(
        "ix_work_items_due_unleased",
        "due_at",
        postgresql_where=sa.text("lease_owner IS NULL"),
        sqlite_where=sa.text("lease_owner IS NULL"),
    ),
    sa.Index(None, "run_id"),
    sa.Index(None, "lease_until"),
    #: the timer whose next occurrence the item fires (kind timer_fire; such an item has no run)
    sa.Column("timer_id", sa.Uuid(), sa.ForeignKey("timers.id", ondelete="CASCADE"), nullable=True),
    sa.Index(None, "timer_id"),
    #: claiming timer items (`store.timers.claim_timer_items`) walks only the due, unleased timer items
    sa.Index(
        "ix_work_items_timer_due",
        "due_at",
        postgresql_where=sa.text("timer_id IS NOT NULL AND lease_owner IS NULL"),
        sqlite_where=sa.text("timer_id IS NOT NULL AND lease_owner IS NULL"),
    ),
)

# --- built-in action providers ------------------------------------------------------------------------------

provider_actions = sa.Table(
    "provider_actions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),  # the action_id
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("creator_id", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(256), nullable=False),
    #: ACTIVE | INACTIVE | SUCCEEDED | FAILED
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("display_status", sa.String(64), nullable=True),
    sa.Column("body", JSONType, nullable=False),
    sa.Column("details", JSONType, nullable=True),
    sa.Column("label", sa.String(64), nullable=True),
    sa.Column("monitor_by", JSONType, nullable=False),
    sa.Column("manage_by", JSONType, nullable=False),
    sa.Column("start_time", UTCDateTime(), nullable=False),
    sa.Column("completion_time", UTCDateTime(), nullable=True),
    #: when an asynchronous built-in action is due to make progress or finish (e.g. hello_world sleep_time)
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.Column("release_after", sa.String(32), nullable=True),
    sa.Column("released_at", UTCDateTime(), nullable=True),
    #: provider-private working data (never shown)
    sa.Column("state", JSONType, nullable=True),
    sa.UniqueConstraint("provider", "creator_id", "request_id"),
    sa.Index(None, "provider", "status", "due_at"),
    #: retention deletes released actions by this
    sa.Index(None, "released_at"),
)

# --- registered APIs (issue 15) ---------------------------------------------------------------------------

#: one operation of an OpenAPI document, registered once and called by Action states with a RegisteredAPI
#: Handler; the role lists are mirrored in registered_api_roles for indexed role filters
registered_apis = sa.Table(
    "registered_apis",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(4096), nullable=False, server_default=""),
    #: {"type": "openapi", "openapi_version", "destination": {"method", "url"}, "specification", ...}
    sa.Column("target", JSONType, nullable=False),
    #: {"request": {...}, "response": {...}}: how state parameters become a request and answers a result
    sa.Column("data_templates", JSONType, nullable=False),
    #: the JSON Schema of the Parameters an Action state gives the operation
    sa.Column("state_input_schema", JSONType, nullable=False),
    #: Globus Auth scopes from the operation's `security`, in order (the first is the one requested)
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("owners", JSONType, nullable=False),
    sa.Column("administrators", JSONType, nullable=False),
    sa.Column("viewers", JSONType, nullable=False),
    sa.Column("subscription_id", sa.String(64), nullable=True),
    #: ACTIVE, or DELETE_PENDING once deleted (gone for good after scheduled_deletion_at)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: the last PATCH (null until the first one)
    sa.Column("edited_at", UTCDateTime(), nullable=True),
    sa.Column("scheduled_deletion_at", UTCDateTime(), nullable=True),
    sa.Index(None, "updated_at", "id"),
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "name", "id"),
)

registered_api_roles = sa.Table(
    "registered_api_roles",
    metadata,
    sa.Column(
        "registered_api_id",
        sa.Uuid(),
        sa.ForeignKey("registered_apis.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    #: owner | administrator | viewer
    sa.Column("role", sa.String(16), primary_key=True),
    #: identity or group URN
    sa.Column("principal", sa.String(128), primary_key=True),
    sa.Index(None, "principal", "role"),
)

# --- built-in providers' data -------------------------------------------------------------------------------

#: local collections: a collection id (the `endpoint` of Transfer-shaped requests) names a root directory
collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    #: absolute, resolved root directory; every path of the collection resolves inside it
    sa.Column("root", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: the owner's identity URN; NULL: the local administrator (`admin`), looked up when the collection is
    #: loaded (collections added before owners existed, and those added without `--owner`)
    sa.Column("owner", sa.String(128), nullable=True),
)

#: access rules of local collections (shared/collection_access.py): `principal` may read (`r`) or read and
#: write (`rw`) everything below `path`
collection_rules = sa.Table(
    "collection_rules",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "collection_id", sa.Uuid(), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False
    ),
    #: an identity or group URN, `all_authenticated_users` or `public`
    sa.Column("principal", sa.String(128), nullable=False),
    #: a directory prefix as shown: `/` or `/a/b/`
    sa.Column("path", sa.Text(), nullable=False),
    #: `r` or `rw`
    sa.Column("permissions", sa.String(2), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("collection_id", "principal", "path"),
)

#: functions an administrator registered for the compute provider (`module:callable`)
compute_functions = sa.Table(
    "compute_functions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: the search provider's local index: one entry per (index, subject, entry id)
search_entries = sa.Table(
    "search_entries",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("search_index", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(1024), nullable=False),
    #: the entry id within the subject ("" for the default entry)
    sa.Column("entry_id", sa.String(256), nullable=False),
    sa.Column("visible_to", JSONType, nullable=False),
    sa.Column("content", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("search_index", "subject", "entry_id"),
)

# --- people in the loop: web inputs and notifications -------------------------------------------------------

#: web inputs (a question with options for named respondents), opened by CreateWebInput states and by the
#: weboption provider; answered through `POST /web_inputs/{id}/respond` or a weboption URL
web_inputs = sa.Table(
    "web_inputs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    #: the run that opened it (None: a weboption action started outside any run)
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    sa.Column("flow_id", sa.Uuid(), nullable=True),
    #: "state" (a CreateWebInput state) or "weboption" (the weboption provider)
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("state_name", sa.String(128), nullable=True),
    #: open | closed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("input_type", sa.String(32), nullable=False),
    #: the context's title (what summaries show)
    sa.Column("title", sa.String(256), nullable=False),
    #: the document as opened: context, options, input_schema, flow title and run label at that time
    sa.Column("document", JSONType, nullable=False),
    sa.Column("viewer_urns", JSONType, nullable=False),
    sa.Column("respondent_urns", JSONType, nullable=False),
    sa.Column("creator_urn", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("edited_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    #: why it closed: answered | timeout | run_ended
    sa.Column("close_reason", sa.String(16), nullable=True),
    #: the answer: `language.webinputs.response_document` (+ weboption `parameters`)
    sa.Column("response", JSONType, nullable=True),
    sa.Index(None, "run_id"),
    sa.Index(None, "flow_id"),
    sa.Index(None, "created_at", "id"),
)

#: who may see (viewer) or answer (respondent) a web input, one row per principal, for indexed role filters
web_input_roles = sa.Table(
    "web_input_roles",
    metadata,
    sa.Column(
        "web_input_id", sa.Uuid(), sa.ForeignKey("web_inputs.id", ondelete="CASCADE"), primary_key=True
    ),
    #: viewer | respondent
    sa.Column("role", sa.String(16), primary_key=True),
    #: identity or group URN
    sa.Column("principal", sa.String(128), primary_key=True),
    sa.Index(None, "principal", "role"),
)

#: the URL suffixes of weboption actions (`/weboption/option/<suffix>`, `/weboption/landing_page/<suffix>`)
weboption_urls = sa.Table(
    "weboption_urls",
    metadata,
    sa.Column("suffix", sa.String(256), primary_key=True),
    sa.Column("web_input_id", sa.Uuid(), sa.ForeignKey("web_inputs.id", ondelete="CASCADE"), nullable=False),
    #: the option the URL selects; None for the landing page
    sa.Column("option_index", sa.Integer(), nullable=True),
    sa.Index(None, "web_input_id"),
)

#: notifications to send (the outbox of the executor): one row per message, written in the transaction of
#: the status change or web input that causes it, delivered by a `notify` work item
notifications = sa.Table(
    "notifications",
    metadata,
    #: uuid5 of `dedupe_key`
    sa.Column("id", sa.Uuid(), primary_key=True),
    #: what makes it unique: "activity:<run id>:<run version>" or "web_input:<id>:<recipient>"
    sa.Column("dedupe_key", sa.String(320), nullable=False, unique=True),
    #: activity | web_input
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    #: the identity the message is for
    sa.Column("recipient_urn", sa.String(128), nullable=False),
    #: what the message says (rendered when it is sent): status, reason, titles, ids
    sa.Column("payload", JSONType, nullable=False),
    #: pending | sent | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(1024), nullable=True),
    #: where it went: the outbox file name or the SMTP host
    sa.Column("delivery", sa.String(256), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Index(None, "run_id"),
)
