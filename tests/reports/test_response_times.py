"""The response-time facts (reports/response_times.py): each conversation's first message and
first response, each customer message's wait; hearing the same events again changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from channels.base import Capabilities
from hub.context import Hub
from hub.dispatch import Dispatcher
from hub.publishing import change
from reports.models import ConversationResponse, CustomerWait
from reports.response_times import RESPONSE_TIMES, keep_response_times
from tests.timeline.conversation_helpers import T0, admin, text
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.conversation_service import ReplyDraft
from timeline.event_log import read_after

CUSTOMER = "+14155550123"
SMS = Capabilities(max_body_length=1600)


async def reply(hub: Hub, ws: SeededWorkspace, conversation_id: int) -> int:
    """An agent's note (no response to the customer) and reply through the service, logged as
    the API logs them; the reply's event id."""
    async with change(hub) as changing:
        changing.caused(
            await hub.conversations.note(changing.conn, admin(ws), conversation_id, "internal")
        )
        replied = changing.caused(
            await hub.conversations.reply(
                changing.conn, admin(ws), conversation_id, ReplyDraft("On it"), SMS
            )
        )
    return replied.event_id


async def facts(hub: Hub) -> tuple[list[Any], list[Any]]:
    async with hub.engine.connect() as conn:
        responses = (await conn.execute(select(ConversationResponse))).all()
        waits = (
            await conn.execute(select(CustomerWait).order_by(CustomerWait.message_event_id))
        ).all()
    return list(responses), list(waits)


async def hear_everything(hub: Hub) -> None:
    dispatcher = Dispatcher(hub.engine, hub.bus, [RESPONSE_TIMES])
    while await dispatcher.run_once(RESPONSE_TIMES):
        pass


async def test_first_response_and_each_wait_until_the_next_reply(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1", at=T0)
    await text(hub, ws, CUSTOMER, "SM2", at=T0 + timedelta(minutes=1))
    await text(hub, ws, CUSTOMER, "SM3", at=T0 + timedelta(minutes=2), automated=True)
    answer = await reply(hub, ws, conversation_id)
    await text(hub, ws, CUSTOMER, "SM4", at=T0 + timedelta(minutes=3))
    await hear_everything(hub)

    [response], waits = await facts(hub)
    assert (response.conversation_id, response.first_message_at) == (conversation_id, T0)
    assert response.first_response_event_id == answer
    replied_at = response.first_response_at
    assert replied_at is not None
    assert [(w.received_at - T0, w.answered_at, w.answer_event_id) for w in waits] == [
        (timedelta(0), replied_at, answer),
        (timedelta(minutes=1), replied_at, answer),
        (timedelta(minutes=3), None, None),  # the automated message started no wait
    ]


async def test_hearing_the_same_events_again_changes_nothing(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1", at=T0)
    await reply(hub, ws, conversation_id)
    await text(hub, ws, CUSTOMER, "SM2", at=T0 + timedelta(minutes=5))
    await hear_everything(hub)
    before = await facts(hub)
    async with hub.engine.begin() as conn:
        events = await read_after(conn, 0, limit=100)
        await keep_response_times(conn, [e for e in events if e.type in RESPONSE_TIMES.types])
    assert await facts(hub) == before
    assert len(before[1]) == 2
