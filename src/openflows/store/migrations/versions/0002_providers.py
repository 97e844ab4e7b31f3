"""Built-in providers' data: local collections, registered compute functions, the search index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: JSON everywhere, JSONB on PostgreSQL (store.types.JSONType)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
    )
    op.create_table(
        "compute_functions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_compute_functions"),
    )
    op.create_table(
        "search_entries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("search_index", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("entry_id", sa.String(length=256), nullable=False),
        sa.Column("visible_to", JSON, nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_search_entries"),
        sa.UniqueConstraint(
            "search_index", "subject", "entry_id", name="uq_search_entries_search_index_subject_entry_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("search_entries")
    op.drop_table("compute_functions")
    op.drop_table("collections")
