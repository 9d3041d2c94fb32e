"""Response-time facts, kept by the listener in reports/response_times.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models import Base
from timeline.models.base import BigId


class ConversationResponse(Base):
    """A conversation's first customer message and the first agent reply after it."""

    __tablename__ = "conversation_responses"

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id"), primary_key=True, autoincrement=False
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    first_message_at: Mapped[datetime]
    first_message_position: Mapped[int] = mapped_column(BigInteger)
    """The log position of the first message's event: a reply logged after it answers it."""
    first_response_at: Mapped[datetime | None]
    first_response_event_id: Mapped[int | None] = mapped_column(BigInteger)


class CustomerWait(Base):
    """A customer's message and how long it waited: until the first agent reply logged after
    it (None while unanswered)."""

    __tablename__ = "customer_waits"
    __table_args__ = (Index("ix_customer_waits_conversation", "conversation_id", "position"),)

    message_event_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    """The customer's message (a timeline event)."""
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    position: Mapped[int] = mapped_column(BigInteger)
    """The log position of the message's event."""
    received_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answer_event_id: Mapped[int | None] = mapped_column(BigInteger)
