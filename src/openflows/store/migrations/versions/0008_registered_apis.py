"""Registered APIs (issue 15): `registered_apis` and their indexed role rows `registered_api_roles`.

Revision ID: 0008 Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: JSON everywhere, JSONB on PostgreSQL (store.types.JSONType)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registered_apis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=4096), server_default="", nullable=False),
        sa.Column("target", JSON, nullable=False),
        sa.Column("data_templates", JSON, nullable=False),
        sa.Column("state_input_schema", JSON, nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("owners", JSON, nullable=False),
        sa.Column("administrators", JSON, nullable=False),
        sa.Column("viewers", JSON, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("edited_at", TIMESTAMP, nullable=True),
        sa.Column("scheduled_deletion_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registered_apis"),
    )
    op.create_index("ix_registered_apis_updated_at_id", "registered_apis", ["updated_at", "id"])
    op.create_index("ix_registered_apis_created_at_id", "registered_apis", ["created_at", "id"])
    op.create_index("ix_registered_apis_name_id", "registered_apis", ["name", "id"])
    op.create_table(
        "registered_api_roles",
        sa.Column("registered_api_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_api_id"],
            ["registered_apis.id"],
            name="fk_registered_api_roles_registered_api_id_registered_apis",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("registered_api_id", "role", "principal", name="pk_registered_api_roles"),
    )
    op.create_index("ix_registered_api_roles_principal_role", "registered_api_roles", ["principal", "role"])


def downgrade() -> None:
    op.drop_index("ix_registered_api_roles_principal_role", table_name="registered_api_roles")
    op.drop_table("registered_api_roles")
    op.drop_index("ix_registered_apis_name_id", table_name="registered_apis")
    op.drop_index("ix_registered_apis_created_at_id", table_name="registered_apis")
    op.drop_index("ix_registered_apis_updated_at_id", table_name="registered_apis")
    op.drop_table("registered_apis")
