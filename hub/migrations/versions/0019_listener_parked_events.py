"""Parked events: a logged event a listener fails on again and again is set aside, so that one
bad event never stops a listener, and handed to it again by `switchboard listener replay`.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listener_parked_events",
        sa.Column("listener", sa.String(100), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("listener", "event_id", name="pk_listener_parked_events"),
    )


def downgrade() -> None:
    op.drop_table("listener_parked_events")
