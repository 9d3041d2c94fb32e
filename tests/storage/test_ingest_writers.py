"""The two writers of an ingest plan leave the same state: the batch writer (PostgreSQL's) and
the plain reference (SQLite's), each run here on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import timeline.ingest
from hub.context import Hub
from storage.ingest_batch_writer import write_batch
from storage.ingest_plain_writer import write_plainly
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.events import ConsentChanged, MessageReceived, Threading, ThreadKey
from timeline.ingest import IngestRequest
from timeline.models import Consent, Conversation, Customer, ThreadKeyRecord, TimelineEvent

A, B = "+14155550123", "+14155550124"


def _with_thread(request: IngestRequest, thread: Threading) -> IngestRequest:
    (event,) = request.events
    assert isinstance(event, MessageReceived)
    return replace(request, events=[replace(event, thread=thread)])


def _stop(ws: SeededWorkspace, sid: str, sender: str) -> IngestRequest:
    request = sms_request(ws, sid, sender)
    (event,) = request.events
    consent = ConsentChanged(
        channel_account_id=event.channel_account_id,
        kind=event.kind,
        sender=event.sender,
        external_id=f"{sid}:consent",
        occurred_at=event.occurred_at,
        raw_ref=event.raw_ref,
        granted=False,
        keyword="STOP",
    )
    return replace(request, events=[event, consent])


async def _scenario(hub: Hub, ws: SeededWorkspace) -> dict[str, Any]:
    """Two batches: new senders, a consent, threads by sender and by key; then what is stored,
    ids replaced by the order rows were first seen in."""
    later = sms_request(ws, "x", A).events[0].occurred_at + timedelta(minutes=5)
    await hub.pipeline.ingest(
        [
            sms_request(ws, "1", A, body="one"),
            _stop(ws, "2", B),
            _with_thread(
                sms_request(ws, "3", A, body="keyed"),
                Threading(keys=(ThreadKey("k", "v", "ctx"),), continues_sender=False),
            ),
            sms_request(ws, "4", A, body="again"),
        ]
    )
    await hub.pipeline.ingest(
        [
            _with_thread(
                sms_request(ws, "5", B, body="names the key", at=later),
                Threading(refers_to=(ThreadKey("k", "v"),)),
            ),
            sms_request(ws, "6", A, body="later", at=later),
        ]
    )
    async with hub.engine.connect() as conn:
        events = (
            await conn.execute(
                select(TimelineEvent)
                .where(TimelineEvent.workspace_id == ws.id)
                .order_by(TimelineEvent.external_id)
            )
        ).all()
        conversations = {
            row.id: row
            for row in await conn.execute(
                select(Conversation).where(Conversation.workspace_id == ws.id)
            )
        }
        customers = {
            row.id: row
            for row in await conn.execute(select(Customer).where(Customer.workspace_id == ws.id))
        }
        keys = (
            await conn.execute(select(ThreadKeyRecord).where(ThreadKeyRecord.workspace_id == ws.id))
        ).all()
        consents = (await conn.execute(select(Consent).where(Consent.workspace_id == ws.id))).all()
    seen: dict[tuple[str, int | None], int] = {}

    def local(table: str, row_id: int | None) -> int:
        return seen.setdefault((table, row_id), len(seen))

    return {
        "events": [
            (
                e.external_id,
                e.kind,
                e.body,
                local("customer", e.customer_id),
                local("conversation", e.conversation_id),
            )
            for e in events
        ],
        "conversations": sorted(
            (
                local("conversation", c.id),
                c.messages_count,
                c.status,
                c.assignee_id is not None,
                c.waiting_since,
            )
            for c in conversations.values()
        ),
        "customers": sorted(
            (local("customer", c.id), c.events_count, c.last_seen_at) for c in customers.values()
        ),
        "keys": [
            (k.kind, k.key, k.reply_context, local("conversation", k.conversation_id)) for k in keys
        ],
        "consents": [(c.granted, c.keyword) for c in consents],
    }


@pytest.fixture(params=[write_batch, write_plainly], ids=["batch", "plain"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> object:
    """The pipeline made to use one writer whatever the database."""
    monkeypatch.setattr(timeline.ingest, "write_batch", request.param)
    monkeypatch.setattr(timeline.ingest, "write_plainly", request.param)
    return request.param


async def test_each_writer_leaves_what_the_reference_leaves(hub: Hub, writer: object) -> None:
    written = await _scenario(hub, await seed_workspace(hub, name="chosen"))
    with pytest.MonkeyPatch.context() as reference:
        reference.setattr(timeline.ingest, "write_batch", write_plainly)
        reference.setattr(timeline.ingest, "write_plainly", write_plainly)
        expected = await _scenario(hub, await seed_workspace(hub, name="reference"))
    assert written == expected
    conversation_of = {sid: conversation for sid, *_, conversation in written["events"]}
    assert conversation_of["4"] == conversation_of["1"] != conversation_of["3"]
    assert conversation_of["5"] == conversation_of["6"] == conversation_of["3"]
    assert len(written["conversations"]) == 3
    assert written["keys"] == [("k", "v", "ctx", conversation_of["3"])]
    assert written["consents"] == [(False, "STOP")]
