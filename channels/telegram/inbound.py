"""One parsed update as the timeline's events: a message or an edit, and the consent a
/start or /stop gives."""

from __future__ import annotations

from dataclasses import dataclass

from channels.telegram.describe import describe
from channels.telegram.errors import UnsupportedUpdate
from channels.telegram.thread_keys import threading_of
from channels.telegram.update import ChatType, ParsedUpdate, TelegramMessage
from timeline.events import (
    Attachment,
    ConsentChanged,
    ExternalIdentity,
    InboundEvent,
    MessageEdited,
    MessageReceived,
    RawPayload,
)


@dataclass(frozen=True, slots=True)
class InboundRules:
    """What one bot account takes in: its username (commands addressed to another bot are
    not ours) and whether it serves group chats."""

    channel_account_id: int
    bot_username: str
    groups: bool = False


def message_id(message: TelegramMessage) -> str:
    """The external id of a message: `<chat id>:<message id>` (message ids repeat across chats)."""
    return f"{message.chat.id}:{message.message_id}"


def events_of(update: ParsedUpdate, raw: RawPayload, rules: InboundRules) -> list[InboundEvent]:
    """The events an update carries; UnsupportedUpdate for chats the account does not serve."""
    message = update.message
    _check_served(message, rules)
    common = {
        "channel_account_id": rules.channel_account_id,
        "kind": "telegram",
        "sender": message.sender.identity,
        "raw_ref": raw.digest,
    }
    if message.edited_at is not None:
        edit_time = int(message.edited_at.timestamp())
        return [
            MessageEdited(
                **common,
                external_id=f"{message_id(message)}:edited:{edit_time}",
                occurred_at=message.edited_at,
                original_id=message_id(message),
                body=describe(message),
            )
        ]
    received = MessageReceived(
        **common,
        external_id=message_id(message),
        occurred_at=message.sent_at,
        thread=threading_of(message),
        body=describe(message),
        attachments=tuple(
            Attachment(filename=media.file_name, content_type=media.mime_type, size=media.file_size)
            for media in message.media
        ),
        extra=_extra(message),
        vouched=_senders_own_phone(message),
        claimed_link=_start_payload(message, rules),
    )
    command = message.command
    if command is None or command.consent is None or not command.is_for(rules.bot_username):
        return [received]
    consent = ConsentChanged(
        **common,
        external_id=f"{message_id(message)}:consent",
        occurred_at=message.sent_at,
        granted=command.consent,
        keyword=f"/{command.name}",
    )
    return [received, consent]


def _check_served(message: TelegramMessage, rules: InboundRules) -> None:
    chat = message.chat.type
    if chat is ChatType.CHANNEL or (chat is not ChatType.PRIVATE and not rules.groups):
        raise UnsupportedUpdate(
            f"message:{chat}", f"chat {message.chat.id} is a {chat} chat, which is not served"
        )


def _senders_own_phone(message: TelegramMessage) -> tuple[ExternalIdentity, ...]:
    """The phone of a contact card of the sender's own account: Telegram vouches it is theirs.
    Anyone else's card is what the message says, not who wrote it."""
    contact = message.contact
    if contact is None or not contact.is_senders_own or contact.phone is None:
        return ()
    return (contact.phone,)


def _start_payload(message: TelegramMessage, rules: InboundRules) -> str | None:
    """The payload of a `/start` deep link to our bot: a link token, for the core to verify."""
    command = message.command
    if command is None or not command.is_for(rules.bot_username):
        return None
    return command.start_payload


def _extra(message: TelegramMessage) -> tuple[tuple[str, str], ...]:
    """The sender's names as Telegram shows them, for a new customer's profile."""
    sender = message.sender
    pairs = [("telegram_name", sender.display_name)]
    if sender.username:
        pairs.append(("telegram_username", sender.username))
    return tuple(pairs)
