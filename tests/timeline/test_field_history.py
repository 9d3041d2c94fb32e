"""Field history written by the core in the transaction of each change: the conversation
service's operations, routing, the scheduler's wake-ups, the ingest, custom field values and
merges; each entry with the value before, who changed it and when; unchanged values write
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from hub.context import Hub
from tests.timeline.conversation_helpers import (
    admin,
    agent,
    assignees,
    committed,
    held_with_a_team_for_the_other,
    let_time_pass,
    text,
)
from tests.timeline.test_vouched_identities import vouching
from tests.workspace import seed_workspace, sms_request
from timeline.customer_fields import define_field, set_values
from timeline.models import Conversation, Customer, FieldChange

CUSTOMER = "+14155550123"
History = list[tuple[str, Any, Any, int | None, str]]


async def _history(hub: Hub, record_type: str, record_id: int) -> History:
    """(field, previous, new, actor, source) of the record's entries, oldest first."""
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(
                FieldChange.field,
                FieldChange.previous,
                FieldChange.new,
                FieldChange.actor_user_id,
                FieldChange.source,
            )
            .where(FieldChange.record_type == record_type)
            .where(FieldChange.record_id == record_id)
            .order_by(FieldChange.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_assigning_keeps_the_agent_before_who_and_when(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    assert await _history(hub, "conversation", conversation_id) == []  # opened: no change
    (holder,) = await assignees(hub, conversation_id)
    other = next(a for a in ws.agent_ids if a != holder)
    before = datetime.now(UTC)
    service = hub.conversations
    await committed(hub, lambda conn: service.assign(conn, admin(ws), conversation_id, other))
    await committed(hub, lambda conn: service.assign(conn, admin(ws), conversation_id, other))
    await committed(hub, lambda conn: service.assign(conn, agent(ws, other), conversation_id, None))
    assert await _history(hub, "conversation", conversation_id) == [
        ("assignee_id", holder, other, ws.admin_id, "user"),
        ("assignee_id", other, None, other, "user"),
    ]
    async with hub.engine.connect() as conn:
        times = (await conn.execute(select(FieldChange.changed_at))).scalars().all()
    assert all(before <= at <= datetime.now(UTC) for at in times)


async def test_a_transfer_keeps_the_team_and_agent_and_routing_the_next_agent(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    conversation_id, holder, other, team_id = await held_with_a_team_for_the_other(
        hub, ws, CUSTOMER
    )
    await committed(
        hub, lambda conn: hub.conversations.transfer(conn, admin(ws), conversation_id, team_id)
    )
    assert await _history(hub, "conversation", conversation_id) == [
        ("assignee_id", holder, None, ws.admin_id, "user"),
        ("team_id", None, team_id, ws.admin_id, "user"),
        ("assignee_id", None, other, None, "routing"),
    ]


async def test_status_changes_keep_the_status_and_snooze_time_before(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    (holder,) = await assignees(hub, conversation_id)
    service, by = hub.conversations, admin(ws)
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    await committed(hub, lambda conn: service.snooze(conn, by, conversation_id, until))
    await committed(hub, lambda conn: service.mark_pending(conn, by, conversation_id))
    await committed(hub, lambda conn: service.mark_pending(conn, by, conversation_id))
    await committed(hub, lambda conn: service.resolve(conn, by, conversation_id))
    await committed(hub, lambda conn: service.resolve(conn, by, conversation_id))
    await committed(hub, lambda conn: service.reopen(conn, by, conversation_id))
    me = ws.admin_id
    assert await _history(hub, "conversation", conversation_id) == [
        ("status", "open", "snoozed", me, "user"),
        ("snoozed_until", None, until.isoformat(), me, "user"),
        ("status", "snoozed", "pending", me, "user"),
        ("snoozed_until", until.isoformat(), None, me, "user"),
        ("status", "pending", "resolved", me, "user"),
        ("status", "resolved", "open", me, "user"),
        ("assignee_id", holder, None, me, "user"),
        ("assignee_id", None, holder, None, "routing"),  # back to its last agent
    ]


async def test_the_schedulers_wake_up_is_the_hubs_change(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    until = datetime.now(UTC) + timedelta(hours=1)
    await committed(
        hub, lambda conn: hub.conversations.snooze(conn, admin(ws), conversation_id, until)
    )
    await let_time_pass(hub, conversation_id)
    async with hub.engine.connect() as conn:
        due_at = (
            await conn.execute(
                select(Conversation.snoozed_until).where(Conversation.id == conversation_id)
            )
        ).scalar_one()
    await committed(hub, hub.conversations.wake_due)
    assert (await _history(hub, "conversation", conversation_id))[-2:] == [
        ("status", "snoozed", "open", None, "scheduler"),
        ("snoozed_until", due_at.isoformat(), None, None, "scheduler"),
    ]


async def test_a_customers_message_reopening_a_conversation_is_the_ingests_change(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    at = datetime.now(UTC)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1", at=at)
    await text(hub, ws, CUSTOMER, "SM2", at=at)  # open already: nothing changes
    assert await _history(hub, "conversation", conversation_id) == []
    async with hub.engine.begin() as conn:  # resolved, and its agent has left it meanwhile
        await conn.execute(
            update(Conversation).values(status="resolved", resolved_at=at, assignee_id=None)
        )
    assert await text(hub, ws, CUSTOMER, "SM3", at=at + timedelta(hours=1)) == conversation_id
    (now_holder,) = await assignees(hub, conversation_id)
    assert now_holder is not None
    assert await _history(hub, "conversation", conversation_id) == [
        ("status", "resolved", "open", None, "ingest"),
        ("assignee_id", None, now_holder, None, "ingest"),
    ]


async def test_custom_field_values_keep_the_value_before(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await text(hub, ws, CUSTOMER, "SM1")
    by = agent(ws, ws.agent_ids[0])
    async with hub.engine.begin() as conn:
        await define_field(conn, admin(ws), "tier", sensitive=False)
        customer_id = (await conn.execute(select(Customer.id))).scalar_one()
    for value in ("gold", "gold", "silver", None):
        await committed(hub, lambda conn, v=value: set_values(conn, by, customer_id, {"tier": v}))
    assert await _history(hub, "customer", customer_id) == [
        ("field:tier", None, "gold", by.user_id, "user"),
        ("field:tier", "gold", "silver", by.user_id, "user"),
        ("field:tier", "silver", None, by.user_id, "user"),
    ]


async def test_a_merge_is_kept_in_the_history_of_the_customer_that_stays(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", CUSTOMER)])
    await hub.pipeline.ingest([vouching(ws, "chat-1", None)])
    async with hub.engine.connect() as conn:
        phone_customer, chat_customer = (
            await conn.execute(select(Customer.id).order_by(Customer.id))
        ).scalars()
    await hub.pipeline.ingest([vouching(ws, "chat-2", "+1 (415) 555-0123")])
    assert await _history(hub, "customer", phone_customer) == [
        ("merged_customer", None, chat_customer, None, "ingest"),
        ("telegram", None, "123456789", None, "ingest"),
    ]


async def test_a_merge_gives_the_customer_that_stays_what_it_lacked_and_the_others_history(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", CUSTOMER)])
    await hub.pipeline.ingest([vouching(ws, "chat-1", None)])
    by = agent(ws, ws.agent_ids[0])
    async with hub.engine.begin() as conn:
        phone_customer, chat_customer = (
            await conn.execute(select(Customer.id).order_by(Customer.id))
        ).scalars()
        for name in ("tier", "order"):
            await define_field(conn, admin(ws), name, sensitive=False)
        await conn.execute(
            update(Customer).where(Customer.id == chat_customer).values(timezone="Asia/Tehran")
        )
        await set_values(conn, by, phone_customer, {"tier": "gold"})
        await set_values(conn, by, chat_customer, {"tier": "silver", "order": "4821"})
    await hub.pipeline.ingest([vouching(ws, "chat-2", "+1 (415) 555-0123")])

    async with hub.engine.connect() as conn:
        (kept,) = (await conn.execute(select(Customer.attributes, Customer.timezone))).all()
    assert tuple(kept) == ({"tier": "gold", "order": "4821"}, "Asia/Tehran")
    assert await _history(hub, "customer", phone_customer) == [
        ("field:tier", None, "gold", by.user_id, "user"),
        ("field:order", None, "4821", by.user_id, "user"),  # the chat customer's, moved
        ("field:tier", None, "silver", by.user_id, "user"),
        ("merged_customer", None, chat_customer, None, "ingest"),
        ("telegram", None, "123456789", None, "ingest"),
        ("field:order", None, "4821", None, "ingest"),
    ]
    assert await _history(hub, "customer", chat_customer) == []


async def test_a_vouched_identity_new_to_the_workspace_is_kept_as_added(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([vouching(ws, "chat-1", CUSTOMER)])
    async with hub.engine.connect() as conn:
        customer_id = (await conn.execute(select(Customer.id))).scalar_one()
    assert await _history(hub, "customer", customer_id) == [
        ("phone", None, CUSTOMER, None, "ingest")
    ]
