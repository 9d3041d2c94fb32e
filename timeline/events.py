"""Typed inbound events that channel adapters produce and the ingest pipeline persists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum


class IdentityKind(StrEnum):
    """How a customer is reached: the kind half of an external identity."""

    PHONE = "phone"
    EMAIL = "email"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A customer's handle on one channel, as the provider gave it (the pipeline normalizes it)."""

    kind: IdentityKind
    value: str


@dataclass(frozen=True, slots=True)
class RawPayload:
    """The bytes a provider sent, kept verbatim so nothing inbound is ever lost."""

    content_type: str
    body: bytes
    digest: str = field(init=False, repr=False, compare=False)
    """SHA-256 of the body in hex, computed once: the parser and the pipeline both name it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", hashlib.sha256(self.body).hexdigest())


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message: either fetched bytes or a provider URL to fetch later."""

    filename: str
    content_type: str
    size: int | None = None
    url: str | None = None
    content_id: str | None = None
    digest: str | None = None
    too_large: bool = False
    """Its bytes were over the channel's attachment size limit and were not kept (the raw
    payload still holds them); the metadata is."""
    content: bytes | None = field(default=None, repr=False, compare=False)
    """The bytes, on their way to the blob store (timeline/blobs.py); never in the JSON kept
    on the event, and not compared: `digest` names them."""

    def metadata(self) -> dict[str, object]:
        """What the timeline event keeps of it: everything but the bytes, and no empty keys."""
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name != "content" and getattr(self, item.name) is not None
        }


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """A key a channel threads by, opaque to the core: a kind the adapter names (its message
    ids, its tokens, a chat id) and a value. Keys resolve only on the channel account they
    arrived on."""

    kind: str
    key: str
    reply_context: str | None = field(default=None, compare=False)
    """What a reply answering the message that registered this key must carry besides the key
    (email: the References chain), opaque to the core; not part of the key's identity."""


@dataclass(frozen=True, slots=True)
class Threading:
    """How an inbound message finds its conversation, as its adapter describes it.

    The core looks up `refers_to` in order and joins the first conversation it knows; when none
    is known, a message that `continues_sender` joins its sender's newest conversation on the
    channel account (a text thread, a chat), and one that does not opens a new conversation (a
    new subject in a mailbox is a new matter). The message's own `keys` are then registered for
    its conversation, so that later messages naming them find it.
    """

    keys: tuple[ThreadKey, ...] = ()
    refers_to: tuple[ThreadKey, ...] = ()
    continues_sender: bool = True


@dataclass(frozen=True, slots=True)
class ReplyReference:
    """What the core knows of a conversation when it sends a reply, for the adapter to turn into
    its channel's threading (email: In-Reply-To, References, the subject and reply tokens)."""

    answering: tuple[ThreadKey, ...] = ()
    """The keys of the customer's newest message in the conversation, with their reply context."""
    conversation: tuple[ThreadKey, ...] = ()
    """The keys minted for the conversation itself (tokens), by kind and value."""
    subject: str | None = None
    """The subject of the customer's newest message."""


class DeliveryStatus(StrEnum):
    """Where an outbound message is; it only ever moves forward (see `advances`)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    def advances(self, current: DeliveryStatus) -> bool:
        """True when moving from `current` to this status is a step forward."""
        if current in (DeliveryStatus.READ, DeliveryStatus.FAILED):
            return False
        if self is DeliveryStatus.FAILED:
            return current in (DeliveryStatus.QUEUED, DeliveryStatus.SENT)
        return _DELIVERY_RANK[self] > _DELIVERY_RANK[current]


_DELIVERY_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent:
    """Fields every inbound event carries."""

    channel_account_id: int
    kind: str
    sender: ExternalIdentity
    external_id: str
    occurred_at: datetime
    raw_ref: str
    thread: Threading | None = None
    """How a message threads; None: by its sender, like `Threading()`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(InboundEvent):
    """A customer sent a message."""

    body: str
    """What the customer wrote this time; a reply's quoted history is in `quoted`."""
    subject: str | None = None
    html: str | None = None
    quoted: str | None = None
    """The history (and signature) quoted below `body`, kept apart for display; nothing is
    dropped: body and quoted together are the whole text."""
    quoted_html: str | None = None
    """The same for `html`."""
    attachments: tuple[Attachment, ...] = ()
    recipients: tuple[ExternalIdentity, ...] = ()
    automated: bool = False
    forwarded_from: ExternalIdentity | None = None
    """Who wrote a forwarded message; when a colleague forwards a customer's mail into the
    channel, the pipeline files it under this customer, not under the colleague."""
    segments: int = 1
    extra: tuple[tuple[str, str], ...] = field(default=())
    vouched: tuple[ExternalIdentity, ...] = ()
    """Other identities the provider vouches are the sender's own (Telegram: the phone number of
    a contact card of the sender's own account, never someone else's): the pipeline joins each
    to the sender's customer, and a customer already known by one becomes one with it."""
    claimed_link: str | None = None
    """A link token the sender presents (Telegram: the payload of a `/start` deep link), as
    the channel read it and unverified: a token the hub issued for a customer of the channel's
    workspace (timeline/link_tokens.py) makes the sender that customer; any other changes
    nothing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStatusChanged(InboundEvent):
    """The provider reports a new delivery status for one of our outbound messages."""

    status: DeliveryStatus
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited(InboundEvent):
    """A customer edited a message they sent before.

    `external_id` names this edit (the dedupe key: a redelivered edit is stored once; adapters
    make it from the original's id and the edit's time, say), `original_id` the message edited,
    as its MessageReceived's `external_id` named it. `occurred_at` is when the edit was made.
    """

    original_id: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(InboundEvent):
    """A call began ringing."""

    direction: str = "inbound"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(InboundEvent):
    """A call was picked up."""

    answered_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(InboundEvent):
    """A call ended; duration in seconds, and why."""

    duration_seconds: int = 0
    reason: str = "completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentChanged(InboundEvent):
    """A customer opted out of or back into messages on a channel (STOP / START)."""

    granted: bool
    keyword: str
