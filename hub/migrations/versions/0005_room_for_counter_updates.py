"""Conversations and customers leave a fifth of each page free (PostgreSQL's fillfactor 80).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Every inbound message updates its conversation's and its customer's counters. PostgreSQL can
keep the new row version on the same page without touching the indexes (a HOT update,
timeline.models.base.ROOM_FOR_UPDATES) only if the page has room: with full pages 37-48% of
conversation updates wrote all seven of its indexes again (16-20% with this setting). Pages
written from now on keep the room; SQLite has no such setting.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("conversations", "customers")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
