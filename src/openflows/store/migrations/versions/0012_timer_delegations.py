"""Flow timers act as their owners (issue 17): `timer_delegations` holds each flow timer's sealed refresh
token for its flow's scope, obtained through the Timers scope's dependency.

Revision ID: 0012 Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: JSON everywhere, JSONB on PostgreSQL (store.types.JSONType)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "timer_delegations",
        sa.Column("timer_id", sa.Uuid(), nullable=False),
        sa.Column("resource_server", sa.String(length=256), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("timer_id", name="pk_timer_delegations"),
        sa.UniqueConstraint("grant_id", name="uq_timer_delegations_grant_id"),
    )


def downgrade() -> None:
    op.drop_table("timer_delegations")
