"""Delegation (issue 14): every flow stores its scope's dependent scopes (`flows.dependent_scopes`), runs
hold their user's delegated refresh tokens sealed (`run_delegations`), and the scopes external action
providers advertise are cached for every process (`provider_scopes`).

Revision ID: 0010 Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("flows") as batch:
        batch.add_column(sa.Column("dependent_scopes", JSON, nullable=True))
    op.create_table(
        "run_delegations",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("resource_server", sa.String(length=256), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "resource_server", name="pk_run_delegations"),
        sa.UniqueConstraint("grant_id", name="uq_run_delegations_grant_id"),
    )
    op.create_table(
        "provider_scopes",
        sa.Column("action_url", sa.String(length=1024), nullable=False),
        sa.Column("scope", sa.String(length=512), nullable=True),
        sa.Column("fetched_at", TIMESTAMP, nullable=False),
        sa.Column("error", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("action_url", name="pk_provider_scopes"),
    )


def downgrade() -> None:
    op.drop_table("provider_scopes")
    op.drop_table("run_delegations")
    with op.batch_alter_table("flows") as batch:
        batch.drop_column("dependent_scopes")
