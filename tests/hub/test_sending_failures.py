"""Sends that did not end as foreseen. One whose worker stopped before recording the answer is
sent again where resending is safe, failed with the reason where it is not; one nobody foresaw
failing (a bug in an adapter, a worker killed by the message itself) is retried a bounded number
of times or failed with a reason: never tried again forever, never sent twice where resending is
unsafe."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, select, update

from channels.base import OutboundMessage as Outbound
from channels.base import SendResult
from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from hub.sending import MAX_ATTEMPTS, MAY_HAVE_ARRIVED, UNKNOWN_OUTCOME, send_message
from tests.channels.sms.fake_twilio import FakeTwilio
from tests.workspace import queued_reply, seed_workspace, sms_request
from timeline.models import OutboundMessage
from timeline.outbox import claim


async def _reply(hub: Hub, twilio: FakeTwilio) -> int:
    ws = await seed_workspace(hub, provider_base_url=twilio.base_url)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    return await queued_reply(hub, ws.id)


async def _interrupted(hub: Hub, message_id: int, times: int = 1) -> int:
    """`times` attempts claimed the message and stopped without an answer, their leases over."""
    for _ in range(times):
        async with hub.engine.begin() as conn:
            assert await claim(conn, message_id) is not None
        await _due_now(hub)
    return message_id


async def _due_now(hub: Hub) -> None:
    """Its retry's time, or the lease of an attempt that never finished, is over."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(OutboundMessage)
            .where(OutboundMessage.claimed_until.is_not(None))
            .values(claimed_until=past)
        )
        await conn.execute(update(OutboundMessage).values(next_attempt_at=past))


def _posts(twilio: FakeTwilio) -> int:
    return len([r for r in twilio.requests if r.method == "POST"])


async def _outcome(hub: Hub) -> tuple[str, str | None]:
    async with hub.engine.connect() as conn:
        row = (await conn.execute(select(OutboundMessage.status, OutboundMessage.error))).one()
    return row.status, row.error


async def test_where_resending_is_safe_the_message_is_sent_again(
    hub: Hub, twilio: FakeTwilio
) -> None:
    await send_message(hub, await _interrupted(hub, await _reply(hub, twilio)))
    assert _posts(twilio) == 1
    assert (await _outcome(hub))[0] == "queued"  # sent; receipts move it on


async def test_where_it_is_not_the_message_fails_with_the_reason(
    hub: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsafe = replace(TwilioSmsAdapter.capabilities, resends_safely=False)
    monkeypatch.setattr(TwilioSmsAdapter, "capabilities", unsafe)
    await send_message(hub, await _interrupted(hub, await _reply(hub, twilio)))
    assert _posts(twilio) == 0
    assert await _outcome(hub) == ("failed", UNKNOWN_OUTCOME)


@pytest.fixture
def broken_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    async def send(self: TwilioSmsAdapter, message: Outbound) -> SendResult:
        raise RuntimeError("a bug")

    monkeypatch.setattr(TwilioSmsAdapter, "send", send)


async def _row(hub: Hub) -> Row[Any]:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(OutboundMessage.__table__))).one()


UNFORESEEN_SEND = "sending it failed unexpectedly (RuntimeError; the hub's log has the details)"


@pytest.mark.usefixtures("broken_adapter")
async def test_an_adapter_failing_unexpectedly_is_retried_then_given_up(
    hub: Hub, twilio: FakeTwilio
) -> None:
    message_id = await _reply(hub, twilio)
    await send_message(hub, message_id)
    row = await _row(hub)
    assert (row.status, row.claimed_until, row.error) == ("queued", None, UNFORESEEN_SEND)
    assert row.next_attempt_at.replace(tzinfo=UTC) > datetime.now(UTC)
    for _ in range(MAX_ATTEMPTS - 1):
        await _due_now(hub)
        await send_message(hub, message_id)
    assert await _outcome(hub) == (
        "failed",
        f"gave up after {MAX_ATTEMPTS} attempts: {UNFORESEEN_SEND}",
    )


@pytest.mark.usefixtures("broken_adapter")
async def test_where_resending_is_unsafe_an_unexpected_failure_fails_the_message(
    hub: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsafe = replace(TwilioSmsAdapter.capabilities, resends_safely=False)
    monkeypatch.setattr(TwilioSmsAdapter, "capabilities", unsafe)
    await send_message(hub, await _reply(hub, twilio))
    assert await _outcome(hub) == ("failed", f"{UNFORESEEN_SEND}; {MAY_HAVE_ARRIVED}")


async def test_a_reply_that_cannot_be_prepared_is_retried_not_left_claimed(
    hub: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreadable(*args: object) -> None:
        raise ValueError("a reply nobody can read")

    monkeypatch.setattr("hub.sending.reply_content", unreadable)
    await send_message(hub, await _reply(hub, twilio))
    row = await _row(hub)
    assert (row.status, row.claimed_until, row.attempts) == ("queued", None, 1)
    assert row.error.startswith("preparing it failed unexpectedly (ValueError")
    assert twilio.requests == []


async def test_attempts_that_never_finish_are_given_up_after_as_many_as_any_other(
    hub: Hub, twilio: FakeTwilio
) -> None:
    """A message that kills its worker every time (say, out of memory) was claimed again at
    every lease's end, forever, and sent again each time the send itself had gone through."""
    await send_message(hub, await _interrupted(hub, await _reply(hub, twilio), MAX_ATTEMPTS))
    assert _posts(twilio) == 0
    status, error = await _outcome(hub)
    assert status == "failed"
    assert error is not None
    assert error.startswith(f"gave up after {MAX_ATTEMPTS} attempts that stopped before")


async def test_fewer_unfinished_attempts_are_sent_again(hub: Hub, twilio: FakeTwilio) -> None:
    await send_message(hub, await _interrupted(hub, await _reply(hub, twilio), MAX_ATTEMPTS - 1))
    assert _posts(twilio) == 1
    assert await _outcome(hub) == ("queued", None)  # sent; receipts move it on
