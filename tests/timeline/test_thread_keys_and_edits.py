"""The pipeline threads by the keys an adapter gives, whatever they mean, and applies edits:
the new text in place, each text replaced kept as a version, a redelivery applied once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from hub.context import Hub
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.events import MessageEdited, MessageReceived, Threading, ThreadKey
from timeline.ingest import IngestRequest
from timeline.models import Conversation, MessageVersion, ThreadKeyRecord, TimelineEvent
from timeline.thread_keys import reply_reference

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SENDER = "+14155550123"


def threaded(ws: SeededWorkspace, sid: str, thread: Threading, **options: object) -> IngestRequest:
    request = sms_request(ws, sid, SENDER, **options)  # type: ignore[arg-type]
    (event,) = request.events
    assert isinstance(event, MessageReceived)
    return replace(request, events=[replace(event, thread=thread)])


def edit(ws: SeededWorkspace, original: str, body: str, at: datetime) -> IngestRequest:
    request = sms_request(ws, original, SENDER)
    (event,) = request.events
    edited = MessageEdited(
        channel_account_id=event.channel_account_id,
        kind=event.kind,
        sender=event.sender,
        external_id=f"{original}:edit:{at.isoformat()}",
        occurred_at=at,
        raw_ref=event.raw_ref,
        original_id=original,
        body=body,
    )
    return replace(request, events=[edited])


async def _conversations(hub: Hub, *sids: str) -> list[int | None]:
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(TimelineEvent.external_id, TimelineEvent.conversation_id).where(
                TimelineEvent.external_id.in_(sids)
            )
        )
        found = {row.external_id: row.conversation_id for row in rows}
    return [found[sid] for sid in sids]


async def test_messages_naming_a_registered_key_join_its_conversation(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    first = Threading(keys=(ThreadKey("post", "p1", "ctx"),), continues_sender=False)
    answer = Threading(refers_to=(ThreadKey("post", "unknown"), ThreadKey("post", "p1")))
    await hub.pipeline.ingest([threaded(ws, "A", first)])
    await hub.pipeline.ingest(
        [
            threaded(ws, "B", Threading(continues_sender=False)),  # a new matter
            threaded(ws, "C", answer),
            threaded(ws, "D", Threading(refers_to=(ThreadKey("other kind", "p1"),))),
        ]
    )
    a, b, c, d = await _conversations(hub, "A", "B", "C", "D")
    assert c == a
    assert b not in (None, a)
    assert d == b, "nothing it names is known: it continues its sender's newest conversation"
    async with hub.engine.connect() as conn:
        keys = (await conn.execute(select(ThreadKeyRecord))).all()
        assert [(k.kind, k.key, k.conversation_id, k.reply_context) for k in keys] == [
            ("post", "p1", a, "ctx")
        ]
        reference = await reply_reference(conn, a)  # type: ignore[arg-type]
    assert reference.answering == ()  # the customer's newest message there (C) has no keys
    assert reference.subject is None


async def test_keys_registered_in_a_batch_thread_its_later_messages(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest(
        [
            threaded(ws, "A", Threading(keys=(ThreadKey("id", "a"),), continues_sender=False)),
            threaded(ws, "B", Threading(continues_sender=False)),
            threaded(ws, "C", Threading(refers_to=(ThreadKey("id", "a"),), continues_sender=False)),
        ]
    )
    a, b, c = await _conversations(hub, "A", "B", "C")
    assert c == a != b


async def test_an_edit_replaces_the_text_and_keeps_the_versions(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", SENDER, body="helo", at=T0)])
    later = T0 + timedelta(minutes=1)
    outcome = await hub.pipeline.ingest([edit(ws, "SM1", "hello", later)])
    assert (outcome.appended, outcome.edits, outcome.duplicates) == (0, 1, 0)
    assert [e.type for e in outcome.domain_events] == ["timeline.message_edited"]
    again = await hub.pipeline.ingest([edit(ws, "SM1", "hello", later)])
    assert (again.edits, again.duplicates) == (0, 1)
    older = await hub.pipeline.ingest([edit(ws, "SM1", "hell", T0 + timedelta(seconds=30))])
    assert older.edits == 1
    async with hub.engine.connect() as conn:
        event = (await conn.execute(select(TimelineEvent))).one()
        versions = (
            await conn.execute(select(MessageVersion).order_by(MessageVersion.version))
        ).all()
    assert (event.body, event.edited_at) == ("hello", later)
    assert [(v.version, v.body, v.written_at) for v in versions] == [
        (1, "helo", T0),
        (2, "hell", T0 + timedelta(seconds=30)),
    ]


async def test_an_edit_arriving_with_its_message_is_applied(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    outcome = await hub.pipeline.ingest(
        [
            edit(ws, "SM1", "second", T0 + timedelta(minutes=2)),
            sms_request(ws, "SM1", SENDER, body="first", at=T0),
        ]
    )
    assert (outcome.appended, outcome.edits) == (1, 1)
    async with hub.engine.connect() as conn:
        event = (await conn.execute(select(TimelineEvent))).one()
    assert event.body == "second"


async def test_the_edit_of_a_message_never_stored_is_kept_on_the_timeline(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    outcome = await hub.pipeline.ingest([edit(ws, "SM404", "edited text", T0)])
    assert (outcome.appended, outcome.edits) == (1, 0)
    again = await hub.pipeline.ingest([edit(ws, "SM404", "edited text", T0)])
    assert (again.appended, again.duplicates) == (0, 1)
    async with hub.engine.connect() as conn:
        event = (await conn.execute(select(TimelineEvent))).one()
    assert (event.kind, event.body) == ("message_edited", "edited text")
    assert event.conversation_id is None
    assert event.meta["edit_of"] == "SM404"


async def test_a_place_key_follows_the_conversation_opened_after_its_holder_closed(
    hub: Hub,
) -> None:
    """A key a message both refers to and registers (a group chat) moves to the conversation
    the message opened when its holder was resolved beyond the window; a message's own key,
    which it never refers to (an email's Message-ID), stays with the first conversation."""
    ws = await seed_workspace(hub)
    place = ThreadKey("chat", "group-1")

    def in_place(sid: str) -> Threading:
        return Threading(
            keys=(ThreadKey("message", sid), place), refers_to=(place,), continues_sender=False
        )

    await hub.pipeline.ingest([threaded(ws, "A", in_place("A"))])
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(Conversation).values(status="resolved", resolved_at=T0 - timedelta(days=365))
        )
    await hub.pipeline.ingest([threaded(ws, "B", in_place("B"))])
    await hub.pipeline.ingest([threaded(ws, "C", in_place("C")), threaded(ws, "D", in_place("D"))])
    await hub.pipeline.ingest(
        [threaded(ws, "E", Threading(refers_to=(ThreadKey("message", "A"),)))]
    )
    a, b, c, d, e = await _conversations(hub, "A", "B", "C", "D", "E")
    assert b != a and c == d == b
    assert e != b  # "A"'s own key still names the old conversation, which E could not reopen
    async with hub.engine.connect() as conn:
        holders = dict(
            (await conn.execute(select(ThreadKeyRecord.key, ThreadKeyRecord.conversation_id))).all()
        )
    assert holders["group-1"] == b and holders["A"] == a
