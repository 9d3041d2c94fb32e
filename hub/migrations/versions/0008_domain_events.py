"""The domain-event log, listeners' cursors, and the response-time facts the first one keeps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

`domain_events` is written in the transaction of each change (the outbox pattern); its ids
ascend in commit order (storage.bulk.append_rows). Each listener's `listener_cursors` row holds
the position it has handled and its lease. `conversation_responses` and `customer_waits` are
reports' facts, filled from the log (from its start, for conversations before this revision
only from their next event).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_events")),
    )
    op.create_index("ix_domain_events_workspace", "domain_events", ["workspace_id", "id"])
    op.create_table(
        "listener_cursors",
        sa.Column("listener", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("listener", name=op.f("pk_listener_cursors")),
    )
    op.create_table(
        "conversation_responses",
        sa.Column("conversation_id", _ID, autoincrement=False, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("first_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_message_position", sa.BigInteger(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_responses_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversation_responses_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_responses")),
    )
    op.create_table(
        "customer_waits",
        sa.Column("message_event_id", _ID, autoincrement=False, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_customer_waits_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_customer_waits_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("message_event_id", name=op.f("pk_customer_waits")),
    )
    op.create_index(
        "ix_customer_waits_conversation", "customer_waits", ["conversation_id", "position"]
    )


def downgrade() -> None:
    op.drop_index("ix_customer_waits_conversation", table_name="customer_waits")
    op.drop_table("customer_waits")
    op.drop_table("conversation_responses")
    op.drop_table("listener_cursors")
    op.drop_index("ix_domain_events_workspace", table_name="domain_events")
    op.drop_table("domain_events")
