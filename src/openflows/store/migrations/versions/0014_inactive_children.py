"""Iterations that wait for their user: a partial index of the INACTIVE child runs by parent, so that a child
entering or leaving INACTIVE finds its siblings that wait (store/children.py `sync_ancestors`), and a resume
the iterations to resume, without reading every iteration of a large Map.

Revision ID: 0014 Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_runs_inactive_children"
WHERE = "status = 'INACTIVE' AND parent_run_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "runs",
        ["parent_run_id", "iteration"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="runs")
