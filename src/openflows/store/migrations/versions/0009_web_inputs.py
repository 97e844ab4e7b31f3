"""People in the loop (issue 16): web inputs with their role rows, the URL suffixes of weboption actions,
and the notifications outbox (activity notifications and web input notices).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "web_inputs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("flow_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("state_name", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("viewer_urns", JSON, nullable=False),
        sa.Column("respondent_urns", JSON, nullable=False),
        sa.Column("creator_urn", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("edited_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_web_inputs_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_inputs"),
    )
    op.create_index("ix_web_inputs_run_id", "web_inputs", ["run_id"])
    op.create_index("ix_web_inputs_flow_id", "web_inputs", ["flow_id"])
    op.create_index("ix_web_inputs_created_at_id", "web_inputs", ["created_at", "id"])
    op.create_table(
        "web_input_roles",
        sa.Column("web_input_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["web_input_id"],
            ["web_inputs.id"],
            name="fk_web_input_roles_web_input_id_web_inputs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("web_input_id", "role", "principal", name="pk_web_input_roles"),
    )
    op.create_index("ix_web_input_roles_principal_role", "web_input_roles", ["principal", "role"])
    op.create_table(
        "weboption_urls",
        sa.Column("suffix", sa.String(length=256), nullable=False),
        sa.Column("web_input_id", sa.Uuid(), nullable=False),
        sa.Column("option_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["web_input_id"],
            ["web_inputs.id"],
            name="fk_weboption_urls_web_input_id_web_inputs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("suffix", name="pk_weboption_urls"),
    )
    op.create_index("ix_weboption_urls_web_input_id", "weboption_urls", ["web_input_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_urn", sa.String(length=128), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("delivery", sa.String(length=256), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_notifications_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index("ix_notifications_run_id", "notifications", ["run_id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("weboption_urls")
    op.drop_table("web_input_roles")
    op.drop_table("web_inputs")
