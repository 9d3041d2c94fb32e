"""The send_message job: claim an outbound message, call its adapter, record what happened."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING

from channels.base import (
    OutboundMessage,
    PermanentSendError,
    RecipientUnreachable,
    SendResult,
    TransientSendError,
)
from hub.channel_directory import Channel, UnknownChannel
from timeline.events import ExternalIdentity, IdentityKind, ThreadKey
from timeline.outbox import (
    NO_CONTENT,
    ClaimedMessage,
    claim,
    mark_unreachable,
    record_failure,
    record_retry,
    record_sent,
    reply_content,
)
from timeline.thread_keys import KeyOwner, remember, reply_reference

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=2)
LONGEST_RETRY = timedelta(minutes=10)
LONGEST_ASKED = timedelta(days=1)
"""The longest wait a provider's retry-after is followed for."""


MAY_HAVE_ARRIVED = (
    "the message may have reached the customer, so it is not sent again automatically"
)
UNKNOWN_OUTCOME = (
    f"an earlier attempt stopped between sending and recording the answer: {MAY_HAVE_ARRIVED}"
)
NEVER_FINISHED = (
    "gave up after {attempts} attempts that stopped before recording their answer (a worker "
    "stopped or killed while sending this message)"
)


def retry_delay(attempts: int, asked_seconds: float | None = None) -> timedelta:
    """The delay the provider asked for, when it did (sooner would be refused again), else
    exponential backoff: 2 s, 4 s, 8 s ... capped at ten minutes."""
    if asked_seconds is not None and math.isfinite(asked_seconds):
        # Bounded: a provider's figure past a day (or past what a timedelta holds) is noise.
        return timedelta(seconds=min(max(asked_seconds, 0.0), LONGEST_ASKED.total_seconds()))
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


async def send_message(hub: Hub, message_id: int) -> None:
    """Idempotent: a message already sent, failed, not due or held by another run is left alone.

    Whatever fails, the message is retried a bounded number of times or failed with a reason,
    never left to be tried again and again: an error nobody foresaw (a bug in an adapter, a
    reply that cannot be read) is logged with its traceback and retried where nothing can
    have been sent twice; attempts that never finished (a worker killed by this very message)
    count like any other."""
    async with hub.engine.begin() as conn:
        message = await claim(conn, message_id)
    if message is None:
        return
    try:
        prepared = await _prepared(hub, message)
    except Exception as error:
        log.exception("message %s could not be prepared for sending", message.id)
        await _retry_or_give_up(hub, message, _unforeseen("preparing it", error))
        return
    if prepared is None:
        return
    channel, outbound = prepared
    try:
        result = await channel.adapter.send(outbound)
    except TransientSendError as error:
        await _retry_or_give_up(hub, message, str(error), error.retry_after)
        return
    except PermanentSendError as error:
        async with hub.engine.begin() as conn:
            await record_failure(conn, message, str(error))
            if isinstance(error, RecipientUnreachable):
                await mark_unreachable(conn, message, str(error))
        log.info("message %s failed permanently: %s", message.id, error)
        return
    except Exception as error:
        log.exception("message %s: its channel's adapter failed unexpectedly", message.id)
        if channel.adapter.capabilities.resends_safely:
            await _retry_or_give_up(hub, message, _unforeseen("sending it", error))
        else:
            await _fail(hub, message, f"{_unforeseen('sending it', error)}; {MAY_HAVE_ARRIVED}")
        return
    async with hub.engine.begin() as conn:
        await record_sent(conn, message, result.external_id, result.status)
        await remember(conn, _keys_of(message, result))


async def _prepared(hub: Hub, message: ClaimedMessage) -> tuple[Channel, OutboundMessage] | None:
    """The channel to send `message` on and what to give its adapter; None once the message is
    failed instead (its channel gone, or an earlier attempt's outcome unknown)."""
    try:
        channel = await hub.channels.get(message.channel_account_id)
    except UnknownChannel:
        await _fail(hub, message, "the channel was deactivated or removed")
        return None
    if message.unfinished_attempt:
        if not channel.adapter.capabilities.resends_safely:
            await _fail(hub, message, UNKNOWN_OUTCOME)
            return None
        if message.attempts > MAX_ATTEMPTS:
            await _fail(hub, message, NEVER_FINISHED.format(attempts=message.attempts - 1))
            return None
    content, reference = NO_CONTENT, None  # a notice: its text, on no thread
    if message.event_id is not None and message.conversation_id is not None:
        async with hub.reads.connect() as conn:
            content = await reply_content(conn, message.workspace_id, message.event_id)
            reference = await reply_reference(conn, message.conversation_id)
    return channel, OutboundMessage(
        message_id=message.id,
        channel_account_id=message.channel_account_id,
        recipient=ExternalIdentity(IdentityKind(message.recipient_kind), message.recipient_value),
        body=message.body,
        subject=message.subject,
        html=content.html,
        idempotency_key=f"switchboard-message-{message.id}",
        attachments=content.attachments,
        reply_to=reference,
        status_callback_url=channel.webhook_url,
    )


def _unforeseen(doing: str, error: Exception) -> str:
    """What an agent is told of an error nobody foresaw: its kind; the details are logged."""
    return f"{doing} failed unexpectedly ({type(error).__name__}; the hub's log has the details)"


async def _fail(hub: Hub, message: ClaimedMessage, reason: str) -> None:
    async with hub.engine.begin() as conn:
        await record_failure(conn, message, reason)


def _keys_of(message: ClaimedMessage, result: SendResult) -> list[tuple[KeyOwner, ThreadKey]]:
    """The keys the adapter reports for what it sent: the message's own and the ones it minted
    for the conversation, so that a customer's answer naming one finds the conversation (a
    notice has no conversation: nothing to find)."""
    if message.conversation_id is None:
        return []
    sent = KeyOwner(
        message.workspace_id, message.channel_account_id, message.conversation_id, message.event_id
    )
    minted = KeyOwner(
        message.workspace_id, message.channel_account_id, message.conversation_id, None
    )
    return [
        *((sent, key) for key in result.thread_keys),
        *((minted, key) for key in result.conversation_keys),
    ]


async def _retry_or_give_up(
    hub: Hub, message: ClaimedMessage, error: str, asked_seconds: float | None = None
) -> None:
    async with hub.engine.begin() as conn:
        if message.attempts >= MAX_ATTEMPTS:
            reason = f"gave up after {message.attempts} attempts: {error}"
            await record_failure(conn, message, reason)
        else:
            delay = retry_delay(message.attempts, asked_seconds)
            await record_retry(conn, message, delay, error)
    log.info("message %s: sending failed (attempt %s): %s", message.id, message.attempts, error)
