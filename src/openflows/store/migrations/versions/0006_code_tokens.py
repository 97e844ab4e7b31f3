"""Authorization codes remember the tokens they were exchanged for (`authorization_codes.issued_token_ids`),
so that a code presented a second time revokes them (RFC 6749 §4.1.2).

Revision ID: 0006 Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("issued_token_ids", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("issued_token_ids")
