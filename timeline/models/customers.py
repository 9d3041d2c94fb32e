"""Customers, their identities on each channel, and their consent to be messaged."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import ROOM_FOR_UPDATES, Base, BigId, key_string, utcnow


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_birthday", "workspace_id", "birth_month", "birth_day"),
        Index("ix_customers_name", "workspace_id", "name_folded"),
        ROOM_FOR_UPDATES,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    name_folded: Mapped[str] = mapped_column(String(200), default="")
    birthday: Mapped[date | None]
    birth_month: Mapped[int | None]
    birth_day: Mapped[int | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    events_count: Mapped[int] = mapped_column(default=0)
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("value", "kind", "workspace_id"),)  # selective column first

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(key_string(20))
    value: Mapped[str] = mapped_column(key_string(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    unreachable_reason: Mapped[str | None] = mapped_column(String(500))
    """Why nothing sent to this handle arrives (the customer blocked a bot), as the provider
    said; None: reachable as far as the hub knows."""
    unreachable_since: Mapped[datetime | None]


class Consent(Base):
    """Whether a customer's identity may be messaged on one channel account."""

    __tablename__ = "consents"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), primary_key=True)
    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    granted: Mapped[bool]
    keyword: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[datetime]
