"""Identities a provider vouches are the sender's: joined to the sender's customer, making one
customer of two when another already had one."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from hub.context import Hub
from tests.lock_waits import until_a_session_waits_for_a_lock
from tests.timeline.conversation_helpers import admin
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.customer_fields import define_field, set_values
from timeline.events import ExternalIdentity, IdentityKind, MessageReceived
from timeline.ingest import IngestRequest
from timeline.models import AuditEntry, Conversation, Customer, Identity, TimelineEvent

CHAT_USER = ExternalIdentity(IdentityKind.TELEGRAM, "123456789")


def vouching(ws: SeededWorkspace, external_id: str, phone: str | None) -> IngestRequest:
    """A message from the chat user, vouching `phone` is theirs (when one is given)."""
    request = sms_request(ws, external_id, "+10000000000")
    (event,) = request.events
    assert isinstance(event, MessageReceived)
    vouched = (ExternalIdentity(IdentityKind.PHONE, phone),) if phone else ()
    return replace(request, events=[replace(event, sender=CHAT_USER, vouched=vouched)])


async def _customers(hub: Hub) -> list[tuple[int, int]]:
    async with hub.engine.connect() as conn:
        rows = await conn.execute(select(Customer.id, Customer.events_count))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_vouched_phone_joins_the_sender_to_that_phones_history(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    await hub.pipeline.ingest([sms_request(ws, "SM2", "+14155550123")])
    await hub.pipeline.ingest([vouching(ws, "chat-1", None)])
    assert len(await _customers(hub)) == 2

    await hub.pipeline.ingest([vouching(ws, "chat-2", "+1 (415) 555-0123")])
    ((customer_id, events),) = await _customers(hub)
    assert events == 4
    async with hub.engine.connect() as conn:
        owners = set((await conn.execute(select(TimelineEvent.customer_id))).scalars())
        owners |= set((await conn.execute(select(Conversation.customer_id))).scalars())
        identities = (
            await conn.execute(select(Identity.kind, Identity.value, Identity.customer_id))
        ).all()
        merged = (
            await conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "customer.merged")
            )
        ).scalar_one()
    assert owners == {customer_id}
    assert sorted(identities) == [
        ("phone", "+14155550123", customer_id),
        ("telegram", "123456789", customer_id),
    ]
    assert merged == 1


async def test_an_unknown_vouched_phone_becomes_the_senders_and_later_texts_find_them(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([vouching(ws, "chat-1", "+14155550123")])
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    ((_, events),) = await _customers(hub)
    assert events == 2


async def test_one_batch_vouching_twice_makes_one_customer(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    await hub.pipeline.ingest(
        [vouching(ws, "chat-1", "+14155550123"), vouching(ws, "chat-2", "+14155550123")]
    )
    ((_, events),) = await _customers(hub)
    assert events == 3


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one writer
async def test_a_field_value_set_while_a_merge_runs_is_kept(hub: Hub) -> None:
    """A merge writes the custom field values of the customer that stays: it reads them only
    once no other change of that customer is under way, so none is overwritten."""
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    await hub.pipeline.ingest([vouching(ws, "chat-1", None)])
    async with hub.engine.begin() as conn:
        phone_customer = (await conn.execute(select(func.min(Customer.id)))).scalar_one()
        await define_field(conn, admin(ws), "tier", sensitive=False)
    async with hub.engine.begin() as setting:
        await set_values(setting, admin(ws), phone_customer, {"tier": "gold"})
        merge = asyncio.create_task(
            hub.pipeline.ingest([vouching(ws, "chat-2", "+1 (415) 555-0123")])
        )
        await until_a_session_waits_for_a_lock(hub.engine)
    await merge
    async with hub.engine.connect() as conn:
        (attributes,) = (await conn.execute(select(Customer.attributes))).scalars()
    assert attributes == {"tier": "gold"}
