"""Field history: `field_changes` keeps each changed field of a customer or a conversation,
its value before and after, who changed it (a user, or the hub itself: `source`) and when,
read per record newest first.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "field_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.Column("actor_user_id", _ID, nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("changed_at", _AT, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_field_changes_workspace_id_workspaces"
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name="fk_field_changes_actor_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_field_changes"),
    )
    op.create_index(
        "ix_field_changes_record",
        "field_changes",
        ["workspace_id", "record_type", "record_id", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_field_changes_record", table_name="field_changes")
    op.drop_table("field_changes")
