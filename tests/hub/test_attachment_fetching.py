"""An adapter that fetches its payloads' files has them stored with the events, whether the
payload came by webhook or by a pull."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from channels.sms.simulate import inbound_sms_form
from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from hub.intake import take_in
from hub.pull import ChannelPullSink
from tests.workspace import OUR_NUMBER, SMS_ACCOUNT_SID, seed_workspace
from timeline.events import Attachment, InboundEvent, MessageReceived, RawPayload
from timeline.models import Blob, EventAttachment

CONTENT = b"the bytes the provider only names"


async def fetch_attachments(
    self: TwilioSmsAdapter, raw: RawPayload, events: list[InboundEvent]
) -> list[InboundEvent]:
    file = Attachment(
        "named.txt",
        "text/plain",
        size=len(CONTENT),
        digest=hashlib.sha256(CONTENT).hexdigest(),
        content=CONTENT,
    )
    return [
        replace(event, attachments=(file,)) if isinstance(event, MessageReceived) else event
        for event in events
    ]


def _text(sid: str) -> RawPayload:
    fields = inbound_sms_form(
        sender="+14155550123",
        recipient=OUR_NUMBER,
        body="hi",
        message_sid=sid,
        account_sid=SMS_ACCOUNT_SID,
    )
    return RawPayload("application/x-www-form-urlencoded", urlencode(fields).encode())


async def test_fetched_files_are_stored_by_webhook_and_by_pull(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TwilioSmsAdapter, "fetch_attachments", fetch_attachments, raising=False)
    ws = await seed_workspace(hub)
    channel = await hub.channels.get(ws.sms_channel_id)
    await take_in(hub, channel, _text("SM" + "1" * 32), batched=False)
    await ChannelPullSink(hub, channel).commit([_text("SM" + "2" * 32)], {"position": 1})
    async with hub.engine.connect() as conn:
        kept = (
            (
                await conn.execute(
                    select(Blob.content).join(
                        EventAttachment, EventAttachment.digest == Blob.digest
                    )
                )
            )
            .scalars()
            .all()
        )
    assert kept == [CONTENT, CONTENT]
