"""The whole schema (SQLAlchemy Core). Alembic migrations under `migrations/` must produce exactly this.

Tables (DESIGN.md "Data model"): identities, groups, group_members, tokens; flows, flow_versions,
flow_roles; runs, run_roles, run_logs; work_items; provider_actions; and the tables of the built-in providers
and the Auth surface below. Role rows duplicate the role lists kept as JSON on flows and runs so that role
filters are indexed queries; the two are always written in the same transaction.
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
    sa.Index(None, "identity_id"),
)

oauth_clients = sa.Table(
    "oauth_clients",
    metadata,
    #: the client id (`openflows clients create`), used with the Globus-Auth-compatible token endpoint
    sa.Column("id", sa.Uuid(), primary_key=True),
    #: sha256 hex of the client secret; the secret itself is never stored
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("identity_id", sa.Uuid(), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("description", sa.String(256), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Index(None, "identity_id"),
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
    #: ACTIVE | INACTIVE | SUCCEEDED | FAILED | ENDED
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

# --- execution ----------------------------------------------------------------------------------------------

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    #: step | poll | timer | cancel | resume | release (engine-defined)
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
