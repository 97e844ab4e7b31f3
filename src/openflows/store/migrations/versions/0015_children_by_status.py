"""Iterations by status: an index of the child runs by parent, state, visit and status, so that a Map's
`children` item counts its iterations by status from the index alone and finds the next QUEUED ones by
index order without stepping over every iteration already started (store/children.py `count_children`,
`queued_iterations`): both read every iteration of the Map before, once per iteration that ended.

Revision ID: 0015 Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEX = "ix_runs_children_by_status"


def upgrade() -> None:
    op.create_index(INDEX, "runs", ["parent_run_id", "parent_state", "parent_visit", "status", "iteration"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="runs")
