"""A change's domain events are logged in its transaction and published after its commit
(hub/publishing.py): a change that rolls back leaves neither."""

from __future__ import annotations

import pytest

from hub.context import Hub
from hub.publishing import change
from tests.timeline.conversation_helpers import admin, text
from tests.workspace import seed_workspace
from timeline.event_log import read_after


async def test_a_change_is_logged_with_its_commit_and_published_after_it(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, "+14155550123", "SM1")
    async with hub.engine.connect() as conn:
        before = await read_after(conn, 0, limit=100)
    heard = await hub.bus.subscribe()

    with pytest.raises(RuntimeError):
        async with change(hub) as changing:
            changing.caused(
                await hub.conversations.resolve(changing.conn, admin(ws), conversation_id)
            )
            raise RuntimeError("something after the change failed")
    async with hub.engine.connect() as conn:
        assert await read_after(conn, 0, limit=100) == before

    async with change(hub) as changing:
        changing.caused(await hub.conversations.resolve(changing.conn, admin(ws), conversation_id))
    async with hub.engine.connect() as conn:
        logged = await read_after(conn, before[-1].id, limit=100)
    assert [(e.type, e.data) for e in logged] == [
        ("conversation.resolved", {"conversation_id": conversation_id})
    ]
    assert await heard.next() == logged  # only the committed change rang


async def test_the_ingest_logs_what_it_publishes(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    heard = await hub.bus.subscribe()
    conversation_id = await text(hub, ws, "+14155550123", "SM1")
    async with hub.engine.connect() as conn:
        logged = await read_after(conn, 0, limit=100)
    assert await heard.next() == logged
    assert [e.type for e in logged] == [
        "conversation.opened",
        "timeline.event_appended",
        "conversation.assigned",
    ]
    appended = logged[1].data
    assert (appended["kind"], appended["conversation_id"]) == ("message_received", conversation_id)
    assert appended["occurred_at"] == "2026-11-20T09:00:00+00:00"
    assert "automated" not in appended
