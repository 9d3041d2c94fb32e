"""Thread keys: the keys channels thread by, each naming one conversation on a channel account."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base


class ThreadKeyRecord(Base):
    """A key (a message id, a token, a chat id: its kind is the adapter's label) and the
    conversation it names on one channel account; the first conversation to register a key
    keeps it."""

    __tablename__ = "thread_keys"
    __table_args__ = (Index("ix_thread_keys_conversation", "conversation_id"),)

    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("timeline_events.id"))
    """The message that carries the key (the customer's, or our reply); None for a key of the
    conversation itself (a token the channel minted for it)."""
    reply_context: Mapped[str | None] = mapped_column(Text)
    """What a reply answering that message carries besides the key, opaque to the core."""
