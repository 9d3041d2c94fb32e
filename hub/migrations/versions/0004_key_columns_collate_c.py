"""The keys the ingest looks up and inserts by compare byte by byte (PostgreSQL's `C` collation).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

See `timeline.models.base.key_string`. SQLite compares bytes already: nothing to do there.
Changing a column's collation rebuilds the indexes on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_COLUMNS = (
    ("timeline_events", "external_id", 300, True),
    ("raw_payloads", "digest", 64, False),
    ("identities", "kind", 20, False),
    ("identities", "value", 320, False),
)


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _KEY_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length, collation=collation),
            existing_nullable=nullable,
        )
