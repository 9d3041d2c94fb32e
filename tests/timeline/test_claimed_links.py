"""A link token a sender presents: a valid one makes the sender the customer it names (one
customer, the named one keeping everything); an invalid or foreign one changes nothing, and
the message is stored either way."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import func, select

from hub.context import Hub
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.events import ExternalIdentity, IdentityKind, MessageReceived
from timeline.ingest import IngestRequest
from timeline.models import AuditEntry, Customer, Identity, TimelineEvent

CHAT_USER = ExternalIdentity(IdentityKind.TELEGRAM, "123456789")


def claiming(ws: SeededWorkspace, external_id: str, token: str | None) -> IngestRequest:
    """A message from the chat user presenting `token`."""
    request = sms_request(ws, external_id, "+10000000000")
    (event,) = request.events
    assert isinstance(event, MessageReceived)
    return replace(request, events=[replace(event, sender=CHAT_USER, claimed_link=token)])


async def _owners(hub: Hub) -> tuple[set[int], dict[str, int]]:
    """The customers owning the timeline, and each identity's customer."""
    async with hub.engine.connect() as conn:
        events = set((await conn.execute(select(TimelineEvent.customer_id))).scalars())
        identities = dict((await conn.execute(select(Identity.value, Identity.customer_id))).all())
    return events, identities  # type: ignore[return-value]


async def _customer_of(hub: Hub, phone: str) -> int:
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(select(Identity.customer_id).where(Identity.value == phone))
        ).scalar_one()


async def test_a_valid_token_makes_the_sender_the_customer_it_names(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    customer_id = await _customer_of(hub, "+14155550123")
    await hub.pipeline.ingest([claiming(ws, "chat-1", None)])  # a customer of its own first
    token = hub.link_tokens.issue(ws.id, customer_id, datetime.now(UTC)).token

    outcome = await hub.pipeline.ingest([claiming(ws, "chat-2", token)])

    assert outcome.appended == 1
    events, identities = await _owners(hub)
    assert events == {customer_id}
    assert identities == {"+14155550123": customer_id, "123456789": customer_id}
    async with hub.engine.connect() as conn:
        counts = (await conn.execute(select(Customer.id, Customer.events_count))).all()
        merged = (
            await conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "customer.merged")
            )
        ).scalar_one()
    assert [tuple(row) for row in counts] == [(customer_id, 3)]
    assert merged == 1


async def test_a_new_sender_with_a_valid_token_joins_at_once(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    customer_id = await _customer_of(hub, "+14155550123")
    token = hub.link_tokens.issue(ws.id, customer_id, datetime.now(UTC)).token
    await hub.pipeline.ingest([claiming(ws, "chat-1", token)])
    await hub.pipeline.ingest([claiming(ws, "chat-2", token)])  # presented again: nothing to do
    events, identities = await _owners(hub)
    assert events == {customer_id} and set(identities.values()) == {customer_id}


async def test_an_invalid_or_foreign_token_changes_nothing_and_the_message_is_stored(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    other = await seed_workspace(hub, name="Other")
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    await hub.pipeline.ingest([sms_request(other, "SM1", "+14155550199")])
    ours = await _customer_of(hub, "+14155550123")
    theirs = await _customer_of(hub, "+14155550199")
    now = datetime.now(UTC)
    valid = hub.link_tokens.issue(ws.id, ours, now).token
    tokens = [
        hub.link_tokens.issue(other.id, theirs, now).token,  # another workspace's customer
        hub.link_tokens.issue(other.id, ours, now).token,  # ours, but issued for another
        valid[:-1] + ("A" if valid[-1] != "A" else "B"),  # altered
        "not-a-token",
    ]
    for number, token in enumerate(tokens):
        outcome = await hub.pipeline.ingest([claiming(ws, f"chat-{number}", token)])
        assert outcome.appended == 1
    _, identities = await _owners(hub)
    assert identities["123456789"] not in (ours, theirs)
    assert identities["+14155550123"] == ours and identities["+14155550199"] == theirs
