"""Outbound messages: where each one is in delivery, and why it failed if it did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from hub.api.framework import ApiRoutes, Call
from hub.errors import not_found
from hub.web_keys import HUB
from timeline.models import OutboundMessage
from timeline.policy import Permission

routes = ApiRoutes()
outbound = OutboundMessage.__table__


class MessageOut(BaseModel):
    id: int
    event_id: int
    conversation_id: int
    channel_account_id: int
    status: str
    external_id: str | None
    error: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime


@routes.add(
    "GET",
    "/messages/{message_id}",
    summary="An outbound message's delivery status",
    tag="messages",
    response=MessageOut,
    permission=Permission.CONVERSATIONS_READ,
)
async def get_message(call: Call[Any, Any]) -> MessageOut:
    async with call.request.app[HUB].reads.connect() as conn:
        row = (
            await conn.execute(
                select(*[outbound.c[n] for n in MessageOut.model_fields])
                .where(outbound.c.id == call.ids["message_id"])
                .where(outbound.c.workspace_id == call.principal.workspace_id)
                # Notices (password-reset links) are their recipient's alone.
                .where(outbound.c.conversation_id.is_not(None))
            )
        ).first()
    if row is None:
        raise not_found("message")
    return MessageOut.model_validate(row._mapping)
