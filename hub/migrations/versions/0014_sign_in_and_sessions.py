"""Sign-in: cookie sessions, two-factor secrets, recovery codes, password-reset links, and the
workspace's list of roles that must use two-factor. Outbound messages may be notices, mail to a
member of the workspace on no conversation (the reset links): their event and conversation are
null, and they carry their own subject.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=f"fk_{table}_user_id_users")


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("two_factor_roles", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("enrolling", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("last_seen_at", _AT, nullable=False),
        sa.Column("ended_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_user_sessions_workspace_id_workspaces"
        ),
        _user_fk("user_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id", "ended_at"])
    op.create_table(
        "two_factor_secrets",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("sealed_secret", sa.String(500), nullable=False),
        sa.Column("confirmed_at", _AT, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        _user_fk("two_factor_secrets"),
        sa.PrimaryKeyConstraint("user_id", name="pk_two_factor_secrets"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", _AT, nullable=True),
        _user_fk("recovery_codes"),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.UniqueConstraint("code_hash", name="uq_recovery_codes_code_hash"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "password_reset_links",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("used_at", _AT, nullable=True),
        _user_fk("password_reset_links"),
        sa.PrimaryKeyConstraint("id", name="pk_password_reset_links"),
        sa.UniqueConstraint("token_hash", name="uq_password_reset_links_token_hash"),
    )
    op.create_index("ix_password_reset_links_user_id", "password_reset_links", ["user_id"])
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("event_id", existing_type=_ID, nullable=True)
        batch.alter_column("conversation_id", existing_type=_ID, nullable=True)
        batch.add_column(sa.Column("subject", sa.String(500), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM outbound_messages WHERE conversation_id IS NULL")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("subject")
        batch.alter_column("conversation_id", existing_type=_ID, nullable=False)
        batch.alter_column("event_id", existing_type=_ID, nullable=False)
    op.drop_table("password_reset_links")
    op.drop_table("recovery_codes")
    op.drop_table("two_factor_secrets")
    op.drop_table("user_sessions")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("two_factor_roles")
