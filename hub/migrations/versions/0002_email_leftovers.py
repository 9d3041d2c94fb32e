"""Email leftovers: conversations' subject tokens.

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


def downgrade() -> None:
    op.drop_index("ix_conversations_subject_token", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("subject_token")
