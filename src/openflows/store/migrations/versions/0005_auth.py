"""The Auth surface (issue 13): OAuth clients with credentials and redirect URIs, projects, scopes and their
dependencies, consents, authorization codes, token lineage, sign-in sessions, local accounts, links to
upstream OpenID Connect identities, sign-in attempts and ID-token signing keys.

Existing client secrets move from `oauth_clients.secret_hash` to `client_credentials` (one credential each).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: timezone-aware timestamp (store.types.UTCDateTime)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="access"))
        batch.add_column(sa.Column("client_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("resource_server", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("consent_ids", JSON, nullable=True))
        batch.add_column(sa.Column("last_used_at", TIMESTAMP, nullable=True))
        batch.create_index("ix_tokens_parent_id", ["parent_id"])

    # SQLite's batch mode recreates oauth_clients, which would cascade-delete credentials made before it:
    # read the secrets first, alter the table, then create and fill client_credentials
    secrets = _client_secrets()
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("secret_hash")
        batch.add_column(sa.Column("name", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("public_client", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("client_type", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("redirect_uris", JSON, nullable=True))
        batch.add_column(sa.Column("visibility", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("parent_client_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_oauth_clients_project_id", ["project_id"])

    op.create_table(
        "client_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name="fk_client_credentials_client_id_oauth_clients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_client_credentials"),
    )
    op.create_index("ix_client_credentials_client_id", "client_credentials", ["client_id"])
    _insert_credentials(secrets)
    op.create_table(
        "auth_projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("contact_email", sa.String(length=256), nullable=False),
        sa.Column("admin_ids", JSON, nullable=False),
        sa.Column("admin_group_ids", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_projects"),
    )
    op.create_table(
        "auth_scopes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope_string", sa.String(length=512), nullable=False),
        sa.Column("resource_server", sa.String(length=256), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("scope_suffix", sa.String(length=256), nullable=True),
        sa.Column("advertised", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("allows_refresh_token", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("required_domains", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_scopes"),
        sa.UniqueConstraint("scope_string", name="uq_auth_scopes_scope_string"),
    )
    op.create_index("ix_auth_scopes_client_id", "auth_scopes", ["client_id"])
    op.create_table(
        "auth_scope_dependencies",
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.Column("dependent_scope_id", sa.Uuid(), nullable=False),
        sa.Column("optional", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("requires_refresh_token", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["auth_scopes.id"],
            name="fk_auth_scope_dependencies_scope_id_auth_scopes",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dependent_scope_id"],
            ["auth_scopes.id"],
            name="fk_auth_scope_dependencies_dependent_scope_id_auth_scopes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scope_id", "dependent_scope_id", name="pk_auth_scope_dependencies"),
    )
    op.create_table(
        "auth_consents",
        sa.Column("id", BIGINT, nullable=False, autoincrement=True),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", BIGINT, nullable=True),
        sa.Column("dependency_path", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="approved"),
        sa.Column("allows_refresh", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("auto_approved", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("atomically_revocable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_auth_consents_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["auth_scopes.id"], name="fk_auth_consents_scope_id_auth_scopes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_auth_consents"),
    )
    op.create_index("ix_auth_consents_identity_id_client_id", "auth_consents", ["identity_id", "client_id"])
    op.create_index("ix_auth_consents_parent_id", "auth_consents", ["parent_id"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("consent_ids", JSON, nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=16), nullable=True),
        sa.Column("nonce", sa.String(length=256), nullable=True),
        sa.Column("access_type", sa.String(length=16), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_authorization_codes_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("idp", sa.String(length=512), nullable=False),
        sa.Column("auth_time", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_auth_sessions_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_auth_sessions_token_hash"),
    )
    op.create_index("ix_auth_sessions_identity_id", "auth_sessions", ["identity_id"])
    op.create_table(
        "local_accounts",
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("disabled_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_local_accounts_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("identity_id", name="pk_local_accounts"),
    )
    op.create_table(
        "identity_links",
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_identity_links_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name="pk_identity_links"),
    )
    op.create_index("ix_identity_links_identity_id", "identity_links", ["identity_id"])
    op.create_table(
        "auth_attempts",
        sa.Column("id", BIGINT, nullable=False, autoincrement=True),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_attempts"),
    )
    op.create_index("ix_auth_attempts_key_at", "auth_attempts", ["key", "at"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_jwk", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("retired_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )


def _client_secrets() -> list[Any]:
    """`(id, secret_hash, created_at)` of every existing client."""
    clients = sa.table(
        "oauth_clients",
        sa.column("id", sa.Uuid()),
        sa.column("secret_hash", sa.String()),
        sa.column("created_at", TIMESTAMP),
    )
    return list(op.get_bind().execute(sa.select(clients.c.id, clients.c.secret_hash, clients.c.created_at)))


def _insert_credentials(rows: list[Any]) -> None:
    """One `client_credentials` row per client that existed, holding its secret's hash."""
    credentials = sa.table(
        "client_credentials",
        sa.column("id", sa.Uuid()),
        sa.column("client_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("secret_hash", sa.String()),
        sa.column("created_at", TIMESTAMP),
    )
    for row in rows:
        op.get_bind().execute(
            sa.insert(credentials).values(
                id=uuid.uuid4(),
                client_id=row.id,
                name="default",
                secret_hash=row.secret_hash,
                created_at=row.created_at,
            )
        )


def downgrade() -> None:
    for table in (
        "signing_keys",
        "auth_attempts",
        "identity_links",
        "local_accounts",
        "auth_sessions",
        "authorization_codes",
        "auth_consents",
        "auth_scope_dependencies",
        "auth_scopes",
        "auth_projects",
    ):
        op.drop_table(table)
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_index("ix_oauth_clients_project_id")
        for column in (
            "name",
            "public_client",
            "client_type",
            "redirect_uris",
            "visibility",
            "project_id",
            "parent_client_id",
            "builtin",
        ):
            batch.drop_column(column)
        batch.add_column(sa.Column("secret_hash", sa.String(length=64), nullable=False, server_default=""))
    op.drop_table("client_credentials")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_parent_id")
        for column in ("kind", "client_id", "resource_server", "parent_id", "session_id", "consent_ids"):
            batch.drop_column(column)
        batch.drop_column("last_used_at")
