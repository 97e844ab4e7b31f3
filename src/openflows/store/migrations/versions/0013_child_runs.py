"""Child runs (issue 19: Map and Parallel): `runs.parent_run_id`, `parent_state`, `parent_visit` and
`iteration`, with the unique index that names each iteration of one visit of a state once.

Revision ID: 0013 Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_runs_parent_run_id_parent_state_parent_visit_iteration"


def upgrade() -> None:
    # plain ADD COLUMN, not a batch: on SQLite a batch rebuilds `runs`, and dropping the old table would
    # cascade to run_roles and run_logs. No foreign key either (SQLite cannot add one without a rebuild):
    # child runs end before their parent and the retention purge removes them like any finished run.
    op.add_column("runs", sa.Column("parent_run_id", sa.Uuid(), nullable=True))
    op.add_column("runs", sa.Column("parent_state", sa.String(128), nullable=True))
    op.add_column("runs", sa.Column("parent_visit", sa.String(32), nullable=True))
    op.add_column("runs", sa.Column("iteration", sa.Integer(), nullable=True))
    op.create_index(
        INDEX, "runs", ["parent_run_id", "parent_state", "parent_visit", "iteration"], unique=True
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="runs")
    for column in ("iteration", "parent_visit", "parent_state", "parent_run_id"):
        op.drop_column("runs", column)
