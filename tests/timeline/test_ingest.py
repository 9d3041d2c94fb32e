"""The ingest pipeline on SQLite and PostgreSQL: dedupe, identities, conversations, routing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from hub.context import Hub
from tests.workspace import seed_workspace, sms_request
from timeline.events import (
    ConsentChanged,
    ExternalIdentity,
    IdentityKind,
)
from timeline.ingest import IngestRequest
from timeline.models import Consent, Conversation, Customer, Identity, TimelineEvent, User

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _count(hub: Hub, model: type, *where: object) -> int:
    async with hub.engine.connect() as conn:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return (await conn.execute(query)).scalar_one()


async def test_the_same_provider_id_three_times_is_one_event(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    outcomes = [
        await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")]) for _ in range(3)
    ]
    assert [o.appended for o in outcomes] == [1, 0, 0]
    assert [o.duplicates for o in outcomes] == [0, 1, 1]
    assert await _count(hub, TimelineEvent) == 1
    both = await hub.pipeline.ingest([sms_request(ws, "SM2", "+14155550123")] * 2)
    assert (both.appended, both.duplicates) == (1, 1)


async def test_every_way_of_writing_a_number_finds_one_customer(hub: Hub) -> None:
    ws = await seed_workspace(hub, country="IR")
    spellings = [
        "0912 345 6789",
        "+98 912 345 6789",
        "۰۹۱۲ ۳۴۵ ۶۷۸۹",
        "٠٩١٢-٣٤٥-٦٧٨٩",
        "00989123456789",
    ]
    for index, spelling in enumerate(spellings):
        await hub.pipeline.ingest([sms_request(ws, f"SM{index}", spelling, country="IR")])
    assert await _count(hub, Customer) == 1
    async with hub.engine.connect() as conn:
        values = (await conn.execute(select(Identity.value))).scalars().all()
    assert values == ["+989123456789"]
    assert await _count(hub, Conversation) == 1


async def test_a_resolved_conversation_reopens_only_within_the_window(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    window = timedelta(days=2)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123", reopen_window=window)])
    async with hub.engine.begin() as conn:
        await conn.execute(update(Conversation).values(status="resolved", resolved_at=T0))
    await hub.pipeline.ingest(
        [sms_request(ws, "SM2", "+14155550123", at=T0 + timedelta(days=1), reopen_window=window)]
    )
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(select(Conversation.status))).scalars().all()
    assert rows == ["open"]
    async with hub.engine.begin() as conn:
        await conn.execute(update(Conversation).values(status="resolved", resolved_at=T0))
    await hub.pipeline.ingest(
        [sms_request(ws, "SM3", "+14155550123", at=T0 + timedelta(days=3), reopen_window=window)]
    )
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(select(Conversation.status).order_by(Conversation.id))).all()
    assert [r.status for r in rows] == ["resolved", "open"]


async def test_an_automated_message_never_reopens_nor_waits(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(Conversation).values(status="resolved", resolved_at=T0, waiting_since=None)
        )
    await hub.pipeline.ingest([sms_request(ws, "SM2", "+14155550123", automated=True)])
    async with hub.engine.connect() as conn:
        conversation = (await conn.execute(select(Conversation))).one()
    assert conversation.status == "resolved"
    assert conversation.waiting_since is None
    assert conversation.messages_count == 2


async def test_stop_is_recorded_as_consent_on_the_timeline(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    request = sms_request(ws, "SM9", "+14155550123", body="STOP")
    consent = ConsentChanged(
        channel_account_id=ws.sms_channel_id,
        kind="sms",
        sender=ExternalIdentity(IdentityKind.PHONE, "+14155550123"),
        external_id="SM9:consent",
        occurred_at=T0,
        raw_ref=request.raw.digest,
        granted=False,
        keyword="STOP",
    )
    await hub.pipeline.ingest(
        [IngestRequest(request.channel, request.raw, [*request.events, consent])]
    )
    async with hub.engine.connect() as conn:
        granted = (await conn.execute(select(Consent.granted))).scalars().all()
        kinds = (
            (await conn.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        )
    assert granted == [False]
    assert kinds == ["message_received", "consent_changed"]


async def test_concurrent_customers_are_each_assigned_once_within_capacity(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=3, capacity=4)
    await hub.start()
    requests = [
        sms_request(ws, f"SM{customer}-{n}", f"+1415555{customer:04d}")
        for customer in range(15)
        for n in range(3)
    ]
    await asyncio.gather(*(hub.batcher.submit(request) for request in requests))
    async with hub.engine.connect() as conn:
        conversations = (await conn.execute(select(Conversation))).all()
        agents = (
            await conn.execute(
                select(User.id, User.open_conversations, User.capacity).where(
                    User.id.in_(ws.agent_ids)
                )
            )
        ).all()
    assert len(conversations) == 15
    assigned = [c for c in conversations if c.assignee_id is not None]
    assert len(assigned) == 12  # 3 agents x capacity 4; the other three wait for a free agent
    for agent in agents:
        held = sum(1 for c in assigned if c.assignee_id == agent.id)
        assert held == agent.open_conversations <= agent.capacity
    assert await _count(hub, TimelineEvent) == 45


async def test_a_batch_counts_its_messages_on_new_and_existing_rows_alike(hub: Hub) -> None:
    """New customers and conversations are inserted already counted; existing ones are bumped."""
    ws = await seed_workspace(hub)
    known, new = "+14155550123", "+14155550199"
    await hub.pipeline.ingest([sms_request(ws, "SM0", known, at=T0)])
    await hub.pipeline.ingest(
        [
            sms_request(ws, "SM1", new, at=T0 + timedelta(minutes=2)),
            sms_request(ws, "SM2", known, at=T0 + timedelta(minutes=3)),
            sms_request(ws, "SM3", new, at=T0 + timedelta(minutes=1)),
            sms_request(ws, "SM4", new, at=T0 + timedelta(minutes=5)),
        ]
    )
    async with hub.engine.connect() as conn:
        customers = {
            row.value: row
            for row in await conn.execute(
                select(Identity.value, Customer.events_count, Customer.last_seen_at).join(
                    Customer, Customer.id == Identity.customer_id
                )
            )
        }
        conversations = {
            row.value: row
            for row in await conn.execute(
                select(
                    Identity.value,
                    Conversation.messages_count,
                    Conversation.waiting_since,
                    Conversation.last_message_at,
                ).join(Conversation, Conversation.identity_id == Identity.id)
            )
        }
    assert (customers[known].events_count, customers[new].events_count) == (2, 3)
    assert customers[known].last_seen_at == T0 + timedelta(minutes=3)
    assert customers[new].last_seen_at == T0 + timedelta(minutes=5)
    assert (conversations[known].messages_count, conversations[new].messages_count) == (2, 3)
    assert conversations[new].waiting_since == T0 + timedelta(minutes=1)
    assert conversations[new].last_message_at == T0 + timedelta(minutes=5)
    assert conversations[known].waiting_since == T0
    assert conversations[known].last_message_at == T0 + timedelta(minutes=3)


async def test_a_batch_with_a_forwarded_message_files_it_under_the_forwarded_author(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    sms = sms_request(ws, "FWD1", "+14155550123")
    forwarded = replace(
        sms.events[0],
        sender=ExternalIdentity(IdentityKind.EMAIL, "Agent0@Acme.test"),  # a colleague
        forwarded_from=ExternalIdentity(IdentityKind.EMAIL, "ann@customer.test"),
    )
    outcome = await hub.pipeline.ingest(
        [IngestRequest(sms.channel, sms.raw, [forwarded]), sms_request(ws, "SM2", "+14155550199")]
    )
    assert outcome.appended == 2
    async with hub.engine.connect() as conn:
        senders = set((await conn.execute(select(Identity.value))).scalars().all())
    assert senders == {"ann@customer.test", "+14155550199"}


async def test_a_forward_and_its_author_writing_at_once_make_one_customer(hub: Hub) -> None:
    """The batch filing a colleague's forward under its author holds that author's lock from
    the start, so a concurrent batch of the author's own mail cannot create them a second time."""
    ws = await seed_workspace(hub)
    for round_ in range(8):
        author = f"author{round_}@customer.test"
        sms = sms_request(ws, f"FWD-{round_}", "+14155550123")
        forwarded = replace(
            sms.events[0],
            sender=ExternalIdentity(IdentityKind.EMAIL, "agent0@acme.test"),  # a colleague
            forwarded_from=ExternalIdentity(IdentityKind.EMAIL, author),
        )
        own = sms_request(ws, f"OWN-{round_}", "+14155550123")
        own_mail = replace(own.events[0], sender=ExternalIdentity(IdentityKind.EMAIL, author))
        outcomes = await asyncio.gather(
            hub.pipeline.ingest([IngestRequest(sms.channel, sms.raw, [forwarded])]),
            hub.pipeline.ingest([IngestRequest(own.channel, own.raw, [own_mail])]),
        )
        assert [o.appended for o in outcomes] == [1, 1]
        assert await _count(hub, Identity, Identity.value == author) == 1
