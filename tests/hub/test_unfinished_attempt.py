"""A send whose worker stopped before recording the answer: sent again where resending is safe,
failed with the reason where it is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from hub.sending import UNKNOWN_OUTCOME, send_message
from tests.channels.sms.fake_twilio import FakeTwilio
from tests.workspace import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, seed_workspace, sms_request
from timeline.models import Conversation, OutboundMessage
from timeline.outbox import claim, queue_reply


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(account_sid=SMS_ACCOUNT_SID, auth_token=SMS_AUTH_TOKEN)
    await fake.start()
    yield fake
    await fake.close()


async def _interrupted_reply(hub: Hub, twilio: FakeTwilio) -> int:
    """A reply whose first attempt claimed it and stopped without an answer, its lease over."""
    ws = await seed_workspace(hub, provider_base_url=twilio.base_url)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.begin() as conn:
        conversation_id = (await conn.execute(select(Conversation.id))).scalar_one()
        queued = await queue_reply(
            conn,
            workspace_id=ws.id,
            conversation_id=conversation_id,
            author_user_id=None,
            body="hi",
        )
        assert await claim(conn, queued.message_id) is not None
        await conn.execute(
            update(OutboundMessage).values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    return queued.message_id


async def _outcome(hub: Hub) -> tuple[str, str | None]:
    async with hub.engine.connect() as conn:
        row = (await conn.execute(select(OutboundMessage.status, OutboundMessage.error))).one()
    return row.status, row.error


async def test_where_resending_is_safe_the_message_is_sent_again(
    hub: Hub, twilio: FakeTwilio
) -> None:
    await send_message(hub, await _interrupted_reply(hub, twilio))
    assert len([r for r in twilio.requests if r.method == "POST"]) == 1
    assert (await _outcome(hub))[0] == "queued"  # sent; receipts move it on


async def test_where_it_is_not_the_message_fails_with_the_reason(
    hub: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsafe = replace(TwilioSmsAdapter.capabilities, resends_safely=False)
    monkeypatch.setattr(TwilioSmsAdapter, "capabilities", unsafe)
    await send_message(hub, await _interrupted_reply(hub, twilio))
    assert [r for r in twilio.requests if r.method == "POST"] == []
    assert await _outcome(hub) == ("failed", UNKNOWN_OUTCOME)
