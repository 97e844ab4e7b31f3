"""Retention of built-in provider actions: an index on `provider_actions.released_at`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_provider_actions_released_at", "provider_actions", ["released_at"])


def downgrade() -> None:
    op.drop_index("ix_provider_actions_released_at", table_name="provider_actions")
