"""Conversations get `snoozed_until`, and an index of the snoozed ones by when they wake.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

The scheduler wakes snoozed conversations when their time comes; it finds them through a
partial index that holds only conversations whose status is snoozed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SNOOZED = sa.text("status = 'snoozed'")


def upgrade() -> None:
    op.add_column(
        "conversations", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_conversations_snoozed",
        "conversations",
        ["snoozed_until"],
        postgresql_where=_SNOOZED,
        sqlite_where=_SNOOZED,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_snoozed", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("snoozed_until")
