"""Initial schema: every table of `openflows.store.schema` (identities, tokens, flows, runs, logs, work...).

Hand-written, dialect-neutral operations. Column types are spelled out here, not imported from the app,
so this revision keeps producing the same schema when the application's types change.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: JSON everywhere, JSONB on PostgreSQL (store.types.JSONType)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_owner", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("subtitle", sa.String(length=128), server_default="", nullable=False),
        sa.Column("description", sa.String(length=4096), server_default="", nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("input_schema", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("flow_viewers", JSON, nullable=False),
        sa.Column("flow_starters", JSON, nullable=False),
        sa.Column("flow_administrators", JSON, nullable=False),
        sa.Column("run_managers", JSON, nullable=False),
        sa.Column("run_monitors", JSON, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("authentication_policy_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_flows"),
    )
    op.create_index("ix_flows_created_at_id", "flows", ["created_at", "id"])
    op.create_index("ix_flows_title_id", "flows", ["title", "id"])
    op.create_index("ix_flows_updated_at_id", "flows", ["updated_at", "id"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("name", name="uq_groups_name"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("username", name="uq_identities_username"),
    )
    op.create_table(
        "provider_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("creator_id", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("display_status", sa.String(length=64), nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("monitor_by", JSON, nullable=False),
        sa.Column("manage_by", JSON, nullable=False),
        sa.Column("start_time", TIMESTAMP, nullable=False),
        sa.Column("completion_time", TIMESTAMP, nullable=True),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("release_after", sa.String(length=32), nullable=True),
        sa.Column("released_at", TIMESTAMP, nullable=True),
        sa.Column("state", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_provider_actions"),
        sa.UniqueConstraint(
            "provider", "creator_id", "request_id", name="uq_provider_actions_provider_creator_id_request_id"
        ),
    )
    op.create_index(
        "ix_provider_actions_provider_status_due_at", "provider_actions", ["provider", "status", "due_at"]
    )
    op.create_table(
        "flow_roles",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name="fk_flow_roles_flow_id_flows", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("flow_id", "role", "principal", name="pk_flow_roles"),
    )
    op.create_index("ix_flow_roles_principal_role", "flow_roles", ["principal", "role"])
    op.create_table(
        "flow_versions",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("input_schema", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name="fk_flow_versions_flow_id_flows", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("flow_id", "version", name="pk_flow_versions"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_group_members_group_id_groups", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_group_members_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "identity_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_identity_id", "group_members", ["identity_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("run_owner", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("run_managers", JSON, nullable=False),
        sa.Column("run_monitors", JSON, nullable=False),
        sa.Column("activity_notification_policy", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.Column("input", JSON, nullable=False),
        sa.Column("run_state", JSON, nullable=True),
        sa.Column("cursor", JSON, nullable=False),
        sa.Column("context", JSON, nullable=False),
        sa.Column("start_time", TIMESTAMP, nullable=False),
        sa.Column("completion_time", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("log_seq", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["flow_id"], ["flows.id"], name="fk_runs_flow_id_flows"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_flow_id_start_time_id", "runs", ["flow_id", "start_time", "id"])
    op.create_index("ix_runs_run_owner_start_time_id", "runs", ["run_owner", "start_time", "id"])
    op.create_index("ix_runs_start_time_id", "runs", ["start_time", "id"])
    op.create_index("ix_runs_status_completion_time", "runs", ["status", "completion_time"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("description", sa.String(length=256), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name="fk_tokens_identity_id_identities", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_index("ix_tokens_identity_id", "tokens", ["identity_id"])
    op.create_table(
        "run_logs",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time", TIMESTAMP, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_logs_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_run_logs"),
    )
    op.create_table(
        "run_roles",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_roles_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "role", "principal", name="pk_run_roles"),
    )
    op.create_index("ix_run_roles_principal_role", "run_roles", ["principal", "role"])
    op.create_table(
        "work_items",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_work_items_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
    )
    op.create_index(
        "ix_work_items_due_unleased",
        "work_items",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("lease_owner IS NULL"),
        sqlite_where=sa.text("lease_owner IS NULL"),
    )
    op.create_index("ix_work_items_lease_until", "work_items", ["lease_until"])
    op.create_index("ix_work_items_run_id", "work_items", ["run_id"])


def downgrade() -> None:
    op.drop_table("work_items")
    op.drop_table("run_roles")
    op.drop_table("run_logs")
    op.drop_table("tokens")
    op.drop_table("runs")
    op.drop_table("group_members")
    op.drop_table("flow_versions")
    op.drop_table("flow_roles")
    op.drop_table("provider_actions")
    op.drop_table("identities")
    op.drop_table("groups")
    op.drop_table("flows")
