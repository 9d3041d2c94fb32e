"""API tokens get `permissions` (null: all their user's role allows) and `expires_at`.

Their `token_hash` becomes an HMAC keyed by the secret key; existing rows keep their bare
SHA-256 until their token's first use rehashes them (hub.tokens): without the tokens, which
only their holders have, they cannot be rehashed here.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("permissions", sa.JSON(), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("permissions")
