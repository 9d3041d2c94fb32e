"""Telegram threading as the core's keys: a message is `<chat id>:<message id>`, a group its
chat; a reply names the message it answers."""

from __future__ import annotations

from channels.telegram.update import ChatType, TelegramMessage
from timeline.events import ReplyReference, Threading, ThreadKey

MESSAGE = "telegram-message"
CHAT = "telegram-chat"


def message_key(chat_id: int, message_id: int) -> ThreadKey:
    """A message's key: message ids are unique within their chat only."""
    return ThreadKey(MESSAGE, f"{chat_id}:{message_id}")


def threading_of(message: TelegramMessage) -> Threading:
    """A private chat continues its sender's conversation (the chat is the user's); a group is
    one conversation per chat, whoever of its members writes. Either way a reply to an earlier
    message joins that message's conversation first."""
    chat_id = message.chat.id
    own = message_key(chat_id, message.message_id)
    answered = (
        (message_key(chat_id, message.reply_to_message_id),)
        if message.reply_to_message_id is not None
        else ()
    )
    if message.chat.type is ChatType.PRIVATE:
        return Threading(keys=(own,), refers_to=answered, continues_sender=True)
    chat = ThreadKey(CHAT, str(chat_id))
    return Threading(keys=(own, chat), refers_to=(*answered, chat), continues_sender=False)


def answered_message(reference: ReplyReference | None) -> tuple[int, int] | None:
    """The chat and id of the customer's message a reply answers, if the core knows one: a
    group's reply goes to the group, where its member wrote, not to the member."""
    if reference is None:
        return None
    for key in reference.answering:
        chat, _, message_id = key.key.partition(":")
        if key.kind == MESSAGE and _is_id(chat) and _is_id(message_id, signed=False):
            return int(chat), int(message_id)
    return None


def _is_id(text: str, *, signed: bool = True) -> bool:
    """ASCII digits; a chat id may be negative (groups)."""
    digits = text.removeprefix("-") if signed else text
    return digits.isascii() and digits.isdigit()
