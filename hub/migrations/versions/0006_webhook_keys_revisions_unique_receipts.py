"""Channels get an unguessable webhook key and a revision; a delivery status is kept once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Webhook URLs named the channel by its sequential id, which a stranger could enumerate; they now
carry `webhook_key` (random, unique). Existing channels get a key here: their provider's
webhook URL must be updated to the one `switchboard channel list` prints. `revision` lets
serving processes notice a channel's change (deactivated, credentials rotated) without a
restart. A provider replaying a status callback added a receipt row each time; duplicates
are removed and (channel, message, status) becomes unique.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    collation = "C" if bind.dialect.name == "postgresql" else None
    op.add_column("channel_accounts", sa.Column("webhook_key", sa.String(43, collation=collation)))
    op.add_column(
        "channel_accounts",
        sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    )
    accounts = sa.table("channel_accounts", sa.column("id"), sa.column("webhook_key"))
    for (channel_id,) in bind.execute(sa.select(accounts.c.id)).all():
        bind.execute(
            accounts.update()
            .where(accounts.c.id == channel_id)
            .values(webhook_key=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("channel_accounts") as batch:
        batch.alter_column(
            "webhook_key", existing_type=sa.String(43, collation=collation), nullable=False
        )
        batch.alter_column("revision", existing_type=sa.Integer(), server_default=None)
        batch.create_unique_constraint("uq_channel_accounts_webhook_key", ["webhook_key"])

    op.execute(
        "DELETE FROM delivery_receipts WHERE id NOT IN (SELECT min(id) FROM delivery_receipts"
        " GROUP BY channel_account_id, external_id, status)"
    )
    op.drop_index("ix_receipts_message", table_name="delivery_receipts")
    op.create_index(
        "uq_receipts_message_status",
        "delivery_receipts",
        ["channel_account_id", "external_id", "status"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_receipts_message_status", table_name="delivery_receipts")
    op.create_index(
        "ix_receipts_message", "delivery_receipts", ["channel_account_id", "external_id"]
    )
    with op.batch_alter_table("channel_accounts") as batch:
        batch.drop_constraint("uq_channel_accounts_webhook_key", type_="unique")
        batch.drop_column("revision")
        batch.drop_column("webhook_key")
