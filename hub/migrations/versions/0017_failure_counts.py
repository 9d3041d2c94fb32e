"""Failure counts in the database: the sign-in lockout and reset-link limits of a hub without
Redis, shared by its processes and kept across restarts (a row per counted pair, named by its
keyed hash, deleted once its window has passed).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failure_counts",
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_ends", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_failure_counts"),
    )
    op.create_index("ix_failure_counts_window_ends", "failure_counts", ["window_ends"])


def downgrade() -> None:
    op.drop_index("ix_failure_counts_window_ends", table_name="failure_counts")
    op.drop_table("failure_counts")
