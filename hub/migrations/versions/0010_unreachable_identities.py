"""Identities get `unreachable_reason` and `unreachable_since`: why and since when nothing sent
to that handle arrives (a Telegram user who blocked the bot).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("identities", sa.Column("unreachable_reason", sa.String(500), nullable=True))
    op.add_column(
        "identities", sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("unreachable_since")
        batch.drop_column("unreachable_reason")
