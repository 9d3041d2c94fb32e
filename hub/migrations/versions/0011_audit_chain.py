"""The audit log becomes a hash chain per workspace (and one for the hub), with each entry's
origin: client address and request id, or the operating-system user of a CLI command. Entries
without a workspace (a refusal of an unknown caller) are allowed. Existing entries are chained
in id order here.

The hash is timeline.audit_chain's: the one `switchboard audit verify` checks, not a copy.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14
"""

from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from timeline.audit_chain import GENESIS_HASH, entry_hash

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("workspace_id", existing_type=_BIG_ID, nullable=True)
        batch.add_column(sa.Column("client_address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("os_user", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("entry_hash", sa.String(64), nullable=True))
        batch.create_index("ix_audit_log_at", ["at"])
    _chain_existing_entries()
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("previous_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("entry_hash", existing_type=sa.String(64), nullable=False)


def _chain_existing_entries() -> None:
    columns = ("id", "workspace_id", "actor_user_id", "action", "entity_type", "entity_id")
    audit_log = sa.table(
        "audit_log",
        *(sa.column(name) for name in columns),
        sa.column("changes", sa.JSON()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("previous_hash"),
        sa.column("entry_hash"),
    )
    bind = op.get_bind()
    heads: dict[int | None, str] = {}
    for row in bind.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings().all():
        at = row["at"]
        entry = {
            **row,
            "at": at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
            "client_address": None,
            "request_id": None,
            "os_user": None,
            "previous_hash": heads.get(row["workspace_id"], GENESIS_HASH),
        }
        heads[row["workspace_id"]] = entry_hash(entry)
        bind.execute(
            sa.update(audit_log)
            .where(audit_log.c.id == row["id"])
            .values(previous_hash=entry["previous_hash"], entry_hash=heads[row["workspace_id"]])
        )


def downgrade() -> None:
    op.execute("DELETE FROM audit_log WHERE workspace_id IS NULL")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_at")
        batch.drop_column("entry_hash")
        batch.drop_column("previous_hash")
        batch.drop_column("os_user")
        batch.drop_column("request_id")
        batch.drop_column("client_address")
        batch.alter_column("workspace_id", existing_type=_BIG_ID, nullable=False)
