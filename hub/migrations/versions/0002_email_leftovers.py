"""Email leftovers: conversations' subject tokens; attachment blobs and their references;
pull channels' reader leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("subject_token", sa.String(length=16), nullable=True))
    op.create_index(
        "ix_conversations_subject_token",
        "conversations",
        ["subject_token", "channel_account_id"],
        unique=True,
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blobs")),
    )
    op.create_table(
        "event_attachments",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"], ["blobs.digest"], name=op.f("fk_event_attachments_digest_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["timeline_events.id"],
            name=op.f("fk_event_attachments_event_id_timeline_events"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_event_attachments_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("event_id", "position", name=op.f("pk_event_attachments")),
    )

    op.create_table(
        "pull_leases",
        sa.Column(
            "channel_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_pull_leases_channel_account_id_channel_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_pull_leases_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("channel_account_id", name=op.f("pk_pull_leases")),
    )


def downgrade() -> None:
    op.drop_table("pull_leases")
    op.drop_table("event_attachments")
    op.drop_table("blobs")
    op.drop_index("ix_conversations_subject_token", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("subject_token")
