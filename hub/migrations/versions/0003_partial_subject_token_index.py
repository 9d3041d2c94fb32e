"""Conversations' subject-token index holds only the conversations that have a token.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAS_TOKEN = sa.text("subject_token IS NOT NULL")


def upgrade() -> None:
    _recreate_index(postgresql_where=_HAS_TOKEN, sqlite_where=_HAS_TOKEN)


def downgrade() -> None:
    _recreate_index()


def _recreate_index(**where: sa.TextClause) -> None:
    op.drop_index("ix_conversations_subject_token", table_name="conversations")
    op.create_index(
        "ix_conversations_subject_token",
        "conversations",
        ["subject_token", "channel_account_id"],
        unique=True,
        **where,
    )
