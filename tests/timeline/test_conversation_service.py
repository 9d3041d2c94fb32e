"""The conversation service on SQLite and PostgreSQL: replies, notes, assignment, refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from channels.base import Capabilities
from hub.context import Hub
from tests.held_calls import HeldCall
from tests.timeline.conversation_helpers import (
    admin,
    agent,
    assigned,
    assignees,
    audit_actions,
    committed,
    conversation,
    held_with_a_team_for_the_other,
    text,
)
from tests.workspace import seed_workspace, sms_request
from timeline.conversation_service import ReplyDraft, service
from timeline.errors import Conflict, Forbidden, Invalid, NotFound
from timeline.events import Attachment, ConsentChanged, ExternalIdentity, IdentityKind
from timeline.ingest import IngestRequest
from timeline.models import OutboundMessage, TimelineEvent
from timeline.models.people import Availability

SMS = Capabilities(max_body_length=1600)
MAIL = Capabilities(html=True, max_outbound_file_bytes=10)
CUSTOMER = "+14155550123"


def _file(size: int) -> Attachment:
    return Attachment(filename="a.txt", content_type="text/plain", size=size, content=b"x" * size)


async def _outbox_rows(hub: Hub) -> int:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(OutboundMessage))).scalar_one()


async def test_a_reply_is_queued_with_its_event_sanitized_and_audited(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    draft = ReplyDraft("Shipped!", html="<p onclick='x()'>Shipped!</p><script>x()</script>")
    replied = await committed(
        hub, lambda conn: hub.conversations.reply(conn, admin(ws), conversation_id, draft, MAIL)
    )
    async with hub.engine.connect() as conn:
        event = (
            await conn.execute(select(TimelineEvent).where(TimelineEvent.id == replied.event_id))
        ).one()
        message = (await conn.execute(select(OutboundMessage))).one()
    assert (event.kind, event.author_user_id, event.body) == (
        "message_sent",
        ws.admin_id,
        "Shipped!",
    )
    assert event.meta == {"html": "<p>Shipped!</p>"}
    assert (message.id, message.event_id, message.status) == (
        replied.message_id,
        replied.event_id,
        "queued",
    )
    assert [(e.type, e.data) for e in replied.events] == [
        (
            "timeline.event_appended",
            {
                "event_id": replied.event_id,
                "kind": "message_sent",
                "conversation_id": conversation_id,
                "occurred_at": event.occurred_at.isoformat(),
            },
        )
    ]
    after = await conversation(hub, conversation_id)
    assert after.waiting_since is None and after.first_response_at is not None
    assert (await audit_actions(hub))[-1] == "conversation.replied"


@pytest.mark.parametrize(
    ("draft", "capabilities", "field"),
    [
        (ReplyDraft("x" * 1601), SMS, "body"),
        (ReplyDraft("hi", html="<b>hi</b>"), SMS, "html"),
        (ReplyDraft("hi", attachments=[_file(1)]), SMS, "attachments"),
        (ReplyDraft("hi", attachments=[_file(6), _file(5)]), MAIL, "attachments"),
    ],
)
async def test_a_reply_its_channel_cannot_carry_is_invalid_and_nothing_is_kept(
    hub: Hub, draft: ReplyDraft, capabilities: Capabilities, field: str
) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    with pytest.raises(Invalid) as refused:
        await committed(
            hub,
            lambda conn: hub.conversations.reply(
                conn, admin(ws), conversation_id, draft, capabilities
            ),
        )
    assert set(refused.value.fields) == {field}
    assert await _outbox_rows(hub) == 0


async def test_what_a_channel_carries_is_sent(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    for draft, capabilities in [
        (ReplyDraft("x" * 1600), SMS),
        (ReplyDraft("hi", html="<b>hi</b>", attachments=[_file(6), _file(4)]), MAIL),
    ]:
        await committed(
            hub,
            lambda conn, d=draft, c=capabilities: hub.conversations.reply(
                conn, admin(ws), conversation_id, d, c
            ),
        )
    assert await _outbox_rows(hub) == 2


async def test_a_customer_who_opted_out_is_not_replied_to(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    request = sms_request(ws, "SM2", CUSTOMER, body="STOP")
    stop = ConsentChanged(
        channel_account_id=ws.sms_channel_id,
        kind="sms",
        sender=ExternalIdentity(IdentityKind.PHONE, CUSTOMER),
        external_id="SM2:consent",
        occurred_at=request.events[0].occurred_at,
        raw_ref=request.raw.digest,
        granted=False,
        keyword="STOP",
    )
    await hub.pipeline.ingest([IngestRequest(request.channel, request.raw, [stop])])
    with pytest.raises(Conflict) as refused:
        await committed(
            hub,
            lambda conn: hub.conversations.reply(
                conn, admin(ws), conversation_id, ReplyDraft("hi"), SMS
            ),
        )
    assert refused.value.code == "opted_out" and "STOP" in refused.value.message
    assert await _outbox_rows(hub) == 0


async def test_a_note_is_kept_for_agents_and_told_of(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    noted = await committed(
        hub, lambda conn: hub.conversations.note(conn, admin(ws), conversation_id, "VIP")
    )
    async with hub.engine.connect() as conn:
        event = (
            await conn.execute(select(TimelineEvent).where(TimelineEvent.id == noted.event_id))
        ).one()
    assert (event.kind, event.direction, event.body) == ("note", "internal", "VIP")
    assert [(e.type, e.data) for e in noted.events] == [
        (
            "timeline.event_appended",
            {
                "event_id": noted.event_id,
                "kind": "note",
                "conversation_id": conversation_id,
                "occurred_at": event.occurred_at.isoformat(),
            },
        )
    ]
    assert (await audit_actions(hub))[-1] == "conversation.noted"


async def test_another_workspaces_conversations_and_agents_are_not_found(hub: Hub) -> None:
    ours = await seed_workspace(hub, name="ours")
    theirs = await seed_workspace(hub, name="theirs")
    conversation_id = await text(hub, theirs, CUSTOMER, "SM1")
    service, actor = hub.conversations, admin(ours)
    later = datetime.now(UTC) + timedelta(hours=1)
    for call in [
        lambda conn: service.reply(conn, actor, conversation_id, ReplyDraft("hi"), SMS),
        lambda conn: service.note(conn, actor, conversation_id, "hi"),
        lambda conn: service.assign(conn, actor, conversation_id, None),
        lambda conn: service.transfer(conn, actor, conversation_id, None),
        lambda conn: service.resolve(conn, actor, conversation_id),
        lambda conn: service.reopen(conn, actor, conversation_id),
        lambda conn: service.snooze(conn, actor, conversation_id, later),
        lambda conn: service.mark_pending(conn, actor, conversation_id),
        lambda conn: service.set_availability(conn, actor, theirs.agent_ids[0], Availability.AWAY),
    ]:
        with pytest.raises(NotFound):
            await committed(hub, call)
    before = await conversation(hub, conversation_id)
    assert before.status == "open" and before.assignee_id is not None
    assert not [action for action in await audit_actions(hub) if action.startswith("conversation")]


async def test_agents_take_and_let_go_only_managers_give_to_others(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    (holder,) = await assignees(hub, conversation_id)
    other = next(a for a in ws.agent_ids if a != holder)
    service = hub.conversations
    with pytest.raises(Forbidden) as given:
        await committed(
            hub, lambda conn: service.assign(conn, agent(ws, holder), conversation_id, other)
        )
    assert given.value.code == "reassign_not_allowed"
    with pytest.raises(Forbidden) as taken_from_colleague:
        await committed(
            hub, lambda conn: service.assign(conn, agent(ws, other), conversation_id, other)
        )
    assert taken_from_colleague.value.code == "not_yours"
    let_go = await committed(
        hub, lambda conn: service.assign(conn, agent(ws, holder), conversation_id, None)
    )
    assert let_go.conversation.assignee_id is None
    assert assigned(let_go.events) == [(conversation_id, None)]
    taken = await committed(
        hub, lambda conn: service.assign(conn, agent(ws, other), conversation_id, other)
    )
    assert taken.conversation.assignee_id == other
    assert assigned(taken.events) == [(conversation_id, other)]
    with pytest.raises(Invalid) as refused:
        await committed(hub, lambda conn: service.assign(conn, admin(ws), conversation_id, 10**12))
    assert set(refused.value.fields) == {"agent_id"}
    assert (await audit_actions(hub))[-2:] == ["conversation.assigned", "conversation.assigned"]


async def test_a_transfer_leaves_the_agent_for_the_teams_next_one(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    conversation_id, holder, other, team_id = await held_with_a_team_for_the_other(
        hub, ws, CUSTOMER
    )
    service = hub.conversations
    with pytest.raises(Forbidden):
        await committed(
            hub, lambda conn: service.transfer(conn, agent(ws, other), conversation_id, team_id)
        )
    with pytest.raises(Invalid) as refused:
        await committed(
            hub, lambda conn: service.transfer(conn, admin(ws), conversation_id, team_id + 1000)
        )
    assert set(refused.value.fields) == {"team_id"}
    moved = await committed(
        hub, lambda conn: service.transfer(conn, agent(ws, holder), conversation_id, team_id)
    )
    assert (moved.conversation.team_id, moved.conversation.assignee_id) == (team_id, other)
    assert [e.type for e in moved.events] == ["conversation.transferred", "conversation.assigned"]
    assert assigned(moved.events) == [(conversation_id, other)]


async def test_resolving_or_reopening_twice_changes_nothing_the_second_time(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    service = hub.conversations
    first = await committed(hub, lambda conn: service.resolve(conn, admin(ws), conversation_id))
    again = await committed(hub, lambda conn: service.resolve(conn, admin(ws), conversation_id))
    assert first.conversation.status == again.conversation.status == "resolved"
    assert [e.type for e in first.events] == ["conversation.resolved"] and again.events == []
    reopened = await committed(hub, lambda conn: service.reopen(conn, admin(ws), conversation_id))
    reopened_again = await committed(
        hub, lambda conn: service.reopen(conn, admin(ws), conversation_id)
    )
    assert reopened.conversation.status == "open" and reopened_again.events == []
    assert [e.type for e in reopened.events] == ["conversation.reopened", "conversation.assigned"]
    actions = await audit_actions(hub)
    assert actions.count("conversation.resolved") == actions.count("conversation.reopened") == 1


async def test_a_reply_s_html_is_sanitized_while_the_event_loop_goes_on(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nh3 takes seconds on deeply nested HTML; held here until the test lets it go, which the
    test could not do if the sanitizing held the loop (the hold would run out instead)."""
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    held_clean = HeldCall(service.nh3.clean)
    monkeypatch.setattr(service.nh3, "clean", held_clean)
    draft = ReplyDraft("Shipped!", html="<p>Shipped!</p>")
    replying = asyncio.create_task(
        committed(
            hub, lambda conn: hub.conversations.reply(conn, admin(ws), conversation_id, draft, MAIL)
        )
    )
    assert await held_clean.reached()
    await asyncio.sleep(0)  # the loop goes on
    held_clean.release()
    await replying
    assert held_clean.outcomes == [True], "the HTML was sanitized on the event loop, holding it"
