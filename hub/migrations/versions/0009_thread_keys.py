"""Threading by keys: one table of typed thread keys per channel account; edits keep versions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

`thread_keys` gains the key's kind (the adapter's label), the message that carries it and what a
reply to that message needs (`reply_context`); what was kept elsewhere becomes keys: the thread
of each stored mail (`meta.thread` of its event: its Message-ID and References chain), our sent
Message-IDs (tied to their events) and the conversations' reply and subject tokens, whose
columns go. Messages get `edited_at` and `message_versions` for the texts edits replaced.
"""

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KEY_STRING = sa.String(length=300).with_variant(sa.String(length=300, collation="C"), "postgresql")
_HAS_TOKEN = sa.text("subject_token IS NOT NULL")
_MESSAGE_ID = "message-id"
_BATCH = 1000

_keys = sa.table(
    "thread_keys",
    sa.column("channel_account_id", _ID),
    sa.column("kind", sa.String()),
    sa.column("key", sa.String()),
    sa.column("workspace_id", _ID),
    sa.column("conversation_id", _ID),
    sa.column("event_id", _ID),
    sa.column("reply_context", sa.Text()),
)
_events = sa.table(
    "timeline_events",
    sa.column("id", _ID),
    sa.column("channel_account_id", _ID),
    sa.column("conversation_id", _ID),
    sa.column("direction", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("meta", sa.JSON()),
)
_conversations = sa.table(
    "conversations",
    sa.column("id", _ID),
    sa.column("workspace_id", _ID),
    sa.column("channel_account_id", _ID),
    sa.column("reply_token", sa.String()),
    sa.column("subject_token", sa.String()),
)
_outbound = sa.table(
    "outbound_messages",
    sa.column("event_id", _ID),
    sa.column("channel_account_id", _ID),
    sa.column("external_id", sa.String()),
)


def upgrade() -> None:
    op.create_table(
        "message_versions",
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("channel_account_id", _ID, nullable=False),
        sa.Column("external_id", _KEY_STRING, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_message_versions_channel_account_id_channel_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["timeline_events.id"],
            name=op.f("fk_message_versions_event_id_timeline_events"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_message_versions_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("event_id", "version", name=op.f("pk_message_versions")),
        sa.UniqueConstraint(
            "external_id",
            "channel_account_id",
            name=op.f("uq_message_versions_external_id_channel_account_id"),
        ),
    )
    op.add_column(
        "timeline_events", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True)
    )
    with op.batch_alter_table("thread_keys") as batch:
        batch.drop_constraint("pk_thread_keys", type_="primary")
        batch.add_column(
            sa.Column("kind", sa.String(length=40), nullable=False, server_default=_MESSAGE_ID)
        )
        batch.add_column(sa.Column("event_id", _ID, nullable=True))
        batch.add_column(sa.Column("reply_context", sa.Text(), nullable=True))
        batch.create_primary_key("pk_thread_keys", ["channel_account_id", "kind", "key"])
        batch.create_foreign_key(
            "fk_thread_keys_event_id_timeline_events", "timeline_events", ["event_id"], ["id"]
        )
        batch.create_index("ix_thread_keys_conversation", ["conversation_id"])
    with op.batch_alter_table("thread_keys") as batch:
        batch.alter_column("kind", server_default=None)
    bind = op.get_bind()
    _keys_from_stored_mail(bind)
    _our_sent_ids_to_their_events(bind)
    _tokens_to_keys(bind)
    op.drop_index("ix_conversations_subject_token", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_reply_token", type_="unique")
        batch.drop_column("reply_token")
        batch.drop_column("subject_token")


def _keys_from_stored_mail(bind: sa.Connection) -> None:
    """Each stored mail's Message-ID names its event, with the References chain a reply to it
    carries; the thread leaves the event's meta."""
    threaded = (
        sa.text("(meta -> 'thread') IS NOT NULL")
        if bind.dialect.name == "postgresql"
        else sa.text("json_extract(meta, '$.thread') IS NOT NULL")
    )
    rows = bind.execute(
        sa.select(
            _events.c.id, _events.c.channel_account_id, _events.c.conversation_id, _events.c.meta
        )
        .where(_events.c.direction == "inbound")
        .where(threaded)
        .order_by(_events.c.id)
    ).all()
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        owned, metas = [], []
        for row in chunk:
            meta = dict(row.meta)
            thread = meta.pop("thread")
            metas.append({"event": row.id, "new_meta": meta})
            if thread.get("message_id") and row.conversation_id is not None:
                chain = thread.get("references") or thread.get("in_reply_to") or []
                owned.append(
                    {
                        "account": row.channel_account_id,
                        "message_id": thread["message_id"],
                        "conversation": row.conversation_id,
                        "event": row.id,
                        "chain": " ".join(chain) or None,
                    }
                )
        if owned:
            bind.execute(
                sa.update(_keys)
                .where(_keys.c.channel_account_id == sa.bindparam("account"))
                .where(_keys.c.kind == _MESSAGE_ID)
                .where(_keys.c.key == sa.bindparam("message_id"))
                .where(_keys.c.conversation_id == sa.bindparam("conversation"))
                .values(event_id=sa.bindparam("event"), reply_context=sa.bindparam("chain")),
                owned,
            )
        bind.execute(
            sa.update(_events)
            .where(_events.c.id == sa.bindparam("event"))
            .values(meta=sa.bindparam("new_meta", type_=sa.JSON())),
            metas,
        )


def _our_sent_ids_to_their_events(bind: sa.Connection) -> None:
    """Our sent Message-IDs name the events of the replies that carried them."""
    sent = (
        sa.select(_outbound.c.event_id)
        .where(_outbound.c.channel_account_id == _keys.c.channel_account_id)
        .where(_outbound.c.external_id == _keys.c.key)
        .limit(1)
        .scalar_subquery()
    )
    bind.execute(
        sa.update(_keys)
        .where(_keys.c.event_id.is_(None))
        .where(_keys.c.kind == _MESSAGE_ID)
        .values(event_id=sent)
    )


def _tokens_to_keys(bind: sa.Connection) -> None:
    """The tokens of conversations that have sent mail (those given a subject token: both went
    out with their first reply) become keys of the conversation."""
    for kind, column in (("reply-token", "reply_token"), ("subject-token", "subject_token")):
        bind.execute(
            sa.insert(_keys).from_select(
                ["channel_account_id", "kind", "key", "workspace_id", "conversation_id"],
                sa.select(
                    _conversations.c.channel_account_id,
                    sa.literal(kind),
                    _conversations.c[column],
                    _conversations.c.workspace_id,
                    _conversations.c.id,
                ).where(_conversations.c.subject_token.is_not(None)),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("reply_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("subject_token", sa.String(length=16), nullable=True))
    bind = op.get_bind()
    _tokens_back_to_columns(bind)
    with op.batch_alter_table("conversations") as batch:
        batch.alter_column("reply_token", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint("uq_conversations_reply_token", ["reply_token"])
    op.create_index(
        "ix_conversations_subject_token",
        "conversations",
        ["subject_token", "channel_account_id"],
        unique=True,
        postgresql_where=_HAS_TOKEN,
        sqlite_where=_HAS_TOKEN,
    )
    _threads_back_to_meta(bind)
    bind.execute(sa.delete(_keys).where(_keys.c.kind != _MESSAGE_ID))
    with op.batch_alter_table("thread_keys") as batch:
        batch.drop_index("ix_thread_keys_conversation")
        batch.drop_constraint("fk_thread_keys_event_id_timeline_events", type_="foreignkey")
        batch.drop_constraint("pk_thread_keys", type_="primary")
        batch.drop_column("reply_context")
        batch.drop_column("event_id")
        batch.drop_column("kind")
        batch.create_primary_key("pk_thread_keys", ["channel_account_id", "key"])
    with op.batch_alter_table("timeline_events") as batch:
        batch.drop_column("edited_at")
    op.drop_table("message_versions")


def _tokens_back_to_columns(bind: sa.Connection) -> None:
    tokens: dict[int, dict[str, Any]] = {}
    for row in bind.execute(
        sa.select(_keys.c.conversation_id, _keys.c.kind, _keys.c.key)
        .where(_keys.c.kind.in_(["reply-token", "subject-token"]))
        .order_by(_keys.c.key)
    ):
        tokens.setdefault(row.conversation_id, {}).setdefault(row.kind, row.key)
    ids = bind.execute(sa.select(_conversations.c.id)).scalars().all()
    rows = [
        {
            "conversation": conversation_id,
            "reply": tokens.get(conversation_id, {}).get("reply-token") or secrets.token_hex(10),
            "subject": tokens.get(conversation_id, {}).get("subject-token"),
        }
        for conversation_id in ids
    ]
    if rows:
        bind.execute(
            sa.update(_conversations)
            .where(_conversations.c.id == sa.bindparam("conversation"))
            .values(reply_token=sa.bindparam("reply"), subject_token=sa.bindparam("subject")),
            rows,
        )


def _threads_back_to_meta(bind: sa.Connection) -> None:
    """The customers' mails get their thread back in meta (what a reply to them carries)."""
    rows = bind.execute(
        sa.select(
            _events.c.id, _events.c.meta, _events.c.subject, _keys.c.key, _keys.c.reply_context
        )
        .join(_keys, _keys.c.event_id == _events.c.id)
        .where(_keys.c.kind == _MESSAGE_ID)
        .where(_events.c.direction == "inbound")
    ).all()
    metas = [
        {
            "event": row.id,
            "new_meta": {
                **row.meta,
                "thread": {
                    "message_id": row.key,
                    "in_reply_to": [],
                    "references": (row.reply_context or "").split(),
                    "subject": row.subject or "",
                },
            },
        }
        for row in rows
    ]
    if metas:
        bind.execute(
            sa.update(_events)
            .where(_events.c.id == sa.bindparam("event"))
            .values(meta=sa.bindparam("new_meta", type_=sa.JSON())),
            metas,
        )
