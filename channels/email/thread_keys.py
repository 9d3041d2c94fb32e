"""Email threading as the core's keys: what a mail registers and names (message ids, our reply
and subject tokens), and the thread headers a reply carries, with the tokens minted for it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from timeline.events import ReplyReference, Threading, ThreadKey

MESSAGE_ID = "message-id"
REPLY_TOKEN = "reply-token"
SUBJECT_TOKEN = "subject-token"

_SUBJECT_TOKEN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I L O U


@dataclass(frozen=True, slots=True)
class EmailThreadRef:
    """Email threading headers: this message's Message-ID and what it refers to."""

    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str = ""
    reply_token: str | None = None
    subject_token: str | None = None
    """The conversation token our subjects carry (`[#SB-...]`); it resolves only among the
    conversations of the mailbox the mail arrived in."""


@dataclass(frozen=True, slots=True)
class ReplyThread:
    """The thread a reply carries, and the tokens minted for its conversation to send it."""

    thread: EmailThreadRef
    minted: tuple[ThreadKey, ...]


def new_reply_token() -> str:
    """The unguessable token in a conversation's reply address (`reply+<token>@...`)."""
    return secrets.token_hex(10)


def new_subject_token() -> str:
    """A random 10-character (50-bit) token for a conversation's email subjects; never its id."""
    return "".join(secrets.choice(_SUBJECT_TOKEN_ALPHABET) for _ in range(10))


def referenced_ids(ref: EmailThreadRef) -> list[str]:
    """The message ids a mail answers, most specific first: In-Reply-To, then References newest
    to oldest."""
    ordered = [*ref.in_reply_to, *reversed(ref.references)]
    return list(dict.fromkeys(key for key in ordered if key and key != ref.message_id))


def threading_of(ref: EmailThreadRef) -> Threading:
    """A mail registers its Message-ID (with the chain a reply to it carries) and names, in this
    order, the ids it answers, our reply token, our subject token; it never continues its
    sender's conversation by itself: a new subject is a new matter (docs/channels/email.md)."""
    chain = " ".join(ref.references or ref.in_reply_to) or None
    keys = (ThreadKey(MESSAGE_ID, ref.message_id, chain),) if ref.message_id else ()
    refers_to = [ThreadKey(MESSAGE_ID, message_id) for message_id in referenced_ids(ref)]
    if ref.reply_token:
        refers_to.append(ThreadKey(REPLY_TOKEN, ref.reply_token))
    if ref.subject_token:
        refers_to.append(ThreadKey(SUBJECT_TOKEN, ref.subject_token))
    return Threading(keys=keys, refers_to=tuple(refers_to), continues_sender=False)


def reply_thread(reference: ReplyReference) -> ReplyThread:
    """The headers of a reply in a conversation: In-Reply-To and References from the customer's
    newest mail, its subject, and the conversation's tokens (minted on its first reply)."""
    tokens: dict[str, str] = {}
    for key in reference.conversation:
        tokens.setdefault(key.kind, key.key)
    minted = tuple(
        ThreadKey(kind, mint())
        for kind, mint in ((REPLY_TOKEN, new_reply_token), (SUBJECT_TOKEN, new_subject_token))
        if kind not in tokens
    )
    tokens.update((key.kind, key.key) for key in minted)
    answered = next((key for key in reference.answering if key.kind == MESSAGE_ID), None)
    chain = answered.reply_context if answered is not None else None
    thread = EmailThreadRef(
        message_id=answered.key if answered is not None else None,
        references=tuple(chain.split()) if chain else (),
        subject=reference.subject or "",
        reply_token=tokens[REPLY_TOKEN],
        subject_token=tokens[SUBJECT_TOKEN],
    )
    return ReplyThread(thread, minted)
