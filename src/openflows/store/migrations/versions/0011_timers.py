"""Timers (the Globus Timers API, docs/timers.md): the `timers` and `timer_runs` tables, and timer work items:
`work_items.timer_id` (a timer's item has no run, so `run_id` becomes nullable) with the index the timer
claim uses.

Revision ID: 0011 Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: JSON everywhere, JSONB on PostgreSQL (store.types.JSONType)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)
TIMER_DUE = "timer_id IS NOT NULL AND lease_owner IS NULL"


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("timer_type", sa.String(16), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("schedule", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inactive_reason", JSON, nullable=True),
        sa.Column("next_occurrence", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_run", TIMESTAMP, nullable=True),
        sa.Column("number_of_runs", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("number_of_errors", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("number_of_missed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_ran_at", TIMESTAMP, nullable=True),
        sa.Column("submitted_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
    )
    op.create_index("ix_timers_owner_submitted_at_id", "timers", ["owner", "submitted_at", "id"])
    op.create_table(
        "timer_runs",
        sa.Column("timer_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("ran_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("action_id", sa.Uuid(), nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("missed", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["timer_id"], ["timers.id"], name="fk_timer_runs_timer_id_timers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("timer_id", "occurrence", name="pk_timer_runs"),
    )
    op.create_index("ix_timer_runs_ran_at", "timer_runs", ["ran_at"])
    with op.batch_alter_table("work_items") as batch:
        batch.alter_column("run_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("timer_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_work_items_timer_id_timers", "timers", ["timer_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_work_items_timer_id", "work_items", ["timer_id"])
    op.create_index(
        "ix_work_items_timer_due",
        "work_items",
        ["due_at"],
        postgresql_where=sa.text(TIMER_DUE),
        sqlite_where=sa.text(TIMER_DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_work_items_timer_due", table_name="work_items")
    op.drop_index("ix_work_items_timer_id", table_name="work_items")
    op.execute("DELETE FROM work_items WHERE timer_id IS NOT NULL")
    with op.batch_alter_table("work_items") as batch:
        batch.drop_constraint("fk_work_items_timer_id_timers", type_="foreignkey")
        batch.drop_column("timer_id")
        batch.alter_column("run_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index("ix_timer_runs_ran_at", table_name="timer_runs")
    op.drop_table("timer_runs")
    op.drop_index("ix_timers_owner_submitted_at_id", table_name="timers")
    op.drop_table("timers")
