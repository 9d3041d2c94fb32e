"""A send refused because the recipient cannot be reached fails the message and marks their
identity unreachable, with the reason, where agents look at the customer; the mark goes when
the customer writes from that identity again."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.base import OutboundMessage, PermanentSendError, RecipientUnreachable, SendResult
from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from hub.sending import send_message
from tests.conftest import bearer
from tests.workspace import SeededWorkspace, queued_reply, seed_workspace, sms_request
from timeline.models import Customer, Identity
from timeline.models import OutboundMessage as OutboundRow

REASON = "Forbidden: bot was blocked by the user"


async def _refused_with(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch, error: PermanentSendError
) -> tuple[SeededWorkspace, list[dict]]:
    """Reply to a customer through a provider refusing with `error`; the workspace, and the
    customer's identities as the API shows them."""

    async def refuse(self: TwilioSmsAdapter, message: OutboundMessage) -> SendResult:
        raise error

    monkeypatch.setattr(TwilioSmsAdapter, "send", refuse)
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    await send_message(hub, await queued_reply(hub, ws.id))
    async with hub.engine.connect() as conn:
        customer_id = (await conn.execute(select(Customer.id))).scalar_one()
    async with hub.engine.connect() as conn:
        row = (await conn.execute(select(OutboundRow.status, OutboundRow.error))).one()
    assert (row.status, row.error) == ("failed", str(error))
    answer = await client.get(f"/api/v1/customers/{customer_id}", headers=bearer(ws.token))
    assert answer.status == 200
    return ws, (await answer.json())["identities"]


async def test_an_unreachable_recipient_is_marked_with_the_reason(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, (identity,) = await _refused_with(hub, client, monkeypatch, RecipientUnreachable(REASON))
    assert identity["unreachable"] == REASON


async def test_the_mark_is_cleared_when_the_customer_writes_again(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, (identity,) = await _refused_with(hub, client, monkeypatch, RecipientUnreachable(REASON))
    assert identity["unreachable"] == REASON
    await hub.pipeline.ingest([sms_request(ws, "SM2", "+14155550123")])
    async with hub.engine.connect() as conn:
        marks = (
            await conn.execute(select(Identity.unreachable_reason, Identity.unreachable_since))
        ).all()
    assert [tuple(mark) for mark in marks] == [(None, None)]


async def test_another_permanent_refusal_marks_nothing(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, (identity,) = await _refused_with(hub, client, monkeypatch, PermanentSendError("bad body"))
    assert identity["unreachable"] is None
