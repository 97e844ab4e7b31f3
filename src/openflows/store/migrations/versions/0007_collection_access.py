"""Collections have owners and access rules (issue 14): `collections.owner` and `collection_rules`.

Existing collections keep a NULL owner, which means "the local administrator" (username `admin`), looked up
when a collection is loaded: the administrator's identity may not exist yet when this runs (it is made by
the first `openflows serve`), and a NULL owner needs no rewrite if it is made later. They get no rules, so
after this upgrade only the local administrator may use them until rules are added
(`openflows collections allow`).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("collections", sa.Column("owner", sa.String(length=128), nullable=True))
    op.create_table(
        "collection_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("permissions", sa.String(length=2), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_collection_rules_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collection_rules"),
        sa.UniqueConstraint(
            "collection_id",
            "principal",
            "path",
            name="uq_collection_rules_collection_id_principal_path",
        ),
    )


def downgrade() -> None:
    op.drop_table("collection_rules")
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("owner")
