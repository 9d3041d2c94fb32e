"""The adapter contract every channel kind implements, the errors it raises, and the spec by
which a channel's package tells the hub about itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from timeline.events import (
    Attachment,
    DeliveryStatus,
    ExternalIdentity,
    InboundEvent,
    RawPayload,
    ReplyReference,
    ThreadKey,
)


class UnsupportedEvent(Exception):
    """The provider sent an event we do not handle: answer 200 and log it."""


class MalformedPayload(Exception):
    """The payload cannot be parsed: answer 400 with this reason and quarantine the bytes."""


class SignatureInvalid(Exception):
    """The request's signature or secret token does not match: answer 403, store nothing."""


class TransientSendError(Exception):
    """Sending failed in a way that may succeed later: retry with backoff, or after
    `retry_after` seconds when the provider said how long to wait (flood control)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """Sending failed for good: mark the message failed and show the agent this reason."""


class RecipientUnreachable(PermanentSendError):
    """Nothing sent to this recipient on this channel arrives (they blocked the bot, deleted
    their account): the message fails, and the recipient's identity is marked unreachable with
    this reason, for agents to see before they write again."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry; the core reads these instead of testing a channel's kind."""

    max_body_length: int | None = None
    attachments: bool = False
    html: bool = False
    subject: bool = False
    reply_window_seconds: int | None = None
    delivery_receipts: bool = False
    max_outbound_file_bytes: int | None = None
    """How many bytes of files one outgoing message may carry in all; None: it carries none
    (the channel cannot send files, or only as links the provider fetches)."""
    resends_safely: bool = True
    """Sending one message again cannot reach the recipient twice (or the channel accepts that
    risk). False (the Bot API has no idempotency key): a send whose outcome is unknown, because
    the worker stopped between calling the provider and recording its answer, is not retried
    but failed with that reason, for the agent to decide."""
    max_webhook_bytes: int = 64 * 1024
    """The largest webhook body the provider sends: a longer one is refused (413) before it is
    read, let alone verified. 0: the channel takes no webhooks."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One channel account's settings, decrypted, handed to its adapter."""

    id: int
    workspace_id: int
    address: str
    credentials: Mapping[str, str]
    settings: Mapping[str, Any] = field(default_factory=dict)
    provider_base_url: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A provider's HTTP request as the adapter sees it: public URL, headers, raw body."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    """The Content-Type header as sent, parameters (charset) included."""

    def raw(self) -> RawPayload:
        return RawPayload(content_type=self.content_type, body=self.body)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message the hub asks an adapter to send."""

    message_id: int
    channel_account_id: int
    recipient: ExternalIdentity
    body: str
    idempotency_key: str
    subject: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: ReplyReference | None = None
    """The conversation's threading, for the adapter to carry in its channel's terms."""
    status_callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider answered to a send: its id for the message and the status."""

    external_id: str
    status: DeliveryStatus
    thread_keys: tuple[ThreadKey, ...] = ()
    """Keys the sent message carries (email: our Message-ID): a customer's answer naming one
    finds the conversation."""
    conversation_keys: tuple[ThreadKey, ...] = ()
    """Keys the adapter minted for the conversation to send this (email: its reply and subject
    tokens); the core keeps them and hands them back with every later reply."""


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """What one pull did: events appended, duplicates absorbed, payloads quarantined."""

    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def __add__(self, other: SyncCounts) -> SyncCounts:
        return SyncCounts(
            self.imported + other.imported,
            self.duplicates + other.duplicates,
            self.quarantined + other.quarantined,
        )


class PullSink(Protocol):
    """Where a pull transport (IMAP, polling) hands what it fetched.

    `commit` parses the payloads with the channel's adapter, persists the events, quarantines
    what cannot be parsed and stores the transport's cursor, all in one transaction: the
    cursor only moves past payloads that are safely stored.
    """

    async def load_cursor(self) -> Mapping[str, Any] | None: ...

    async def commit(self, payloads: list[RawPayload], cursor: Mapping[str, Any]) -> SyncCounts: ...


@runtime_checkable
class ChannelAdapter(Protocol):
    """One provider of one channel kind: parses what it receives and sends what it is asked."""

    kind: ClassVar[str]
    provider: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, config: ChannelConfig) -> None: ...

    def verify(self, request: WebhookRequest) -> object:
        """Raise SignatureInvalid unless the request is genuinely from the provider (a body
        that cannot even be read to tell is not known to be the provider's either).

        Returns what checking it decoded of the body (a form's fields, say), or None; the
        caller hands that to `parse` with the payload, so nothing is decoded twice and nothing
        decoded outlives the request.
        """

    def parse(self, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
        """Turn raw bytes into typed events; pure: no database, no network. `decoded` is what
        `verify` returned for these bytes, if they came through it (a replay has only bytes).
        """

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one outbound message through the provider."""

    def webhook_response(self) -> tuple[str, str]:
        """The body and content type to acknowledge a webhook with."""


@runtime_checkable
class AttachmentFetcher(Protocol):
    """An adapter whose payloads name files rather than carry them (Telegram's file ids): it
    fetches their bytes between parsing, which stays pure, and storing."""

    async def fetch_attachments(
        self, raw: RawPayload, events: list[InboundEvent]
    ) -> list[InboundEvent]:
        """`events` (what `parse` made of `raw`) with their attachments' bytes, within the
        channel's size limit (larger ones keep their metadata, `too_large`). A failure that a
        later try may not meet (the provider unreachable) raises: nothing is stored, and the
        provider's retry, or the next pull, brings the payload again."""


@runtime_checkable
class PullTransport(Protocol):
    """An adapter that fetches from its provider (IMAP, polling) instead of receiving webhooks."""

    async def pull(
        self, sink: PullSink, *, once: bool, progress: Callable[[SyncCounts], None] | None = None
    ) -> SyncCounts:
        """Fetch and commit through `sink`; with `once`, stop when caught up, else run forever."""


# -- channel specs: what the core, the CLI, the demo and the docs know of a channel ------------


class Transport(StrEnum):
    """How a channel account receives: the provider posts to us, or we fetch from it."""

    WEBHOOK = "webhook"
    POLLING = "polling"


class CheckFailed(Exception):
    """The provider does not accept the account's settings (a wrong token, a server that cannot
    be reached); the message says what to fix, in one line."""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """The account `switchboard demo` seeds for a channel kind."""

    address: str
    credentials: Mapping[str, str]
    settings: Mapping[str, Any] = field(default_factory=dict)
    provider_base_url: str | None = None
    active: bool = True
    webhook_secret: str | None = None
    """What signs its webhooks, printed so a newcomer can sign a test request."""
    hint: str = ""
    """One line the demo prints under it; `{webhook_url}`, `{secret}` and `{id}` are filled in."""


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider of a channel kind: its adapter, what an account of it is made of, how the
    provider is asked whether that works, and the demo account."""

    name: str
    adapter: type[ChannelAdapter]
    credentials: type[BaseModel]
    """The secrets an account needs (stored encrypted), as a pydantic model: the CLI builds its
    options from the fields and their descriptions, and validates with it."""
    settings: type[BaseModel]
    """The rest of an account's configuration, likewise."""
    transports: tuple[Transport, ...] = (Transport.WEBHOOK,)
    """What the provider offers; an account with several uses its `transport` setting."""
    check: Callable[[ChannelConfig], Awaitable[None]] | None = None
    """Asks the provider whether the account works; raises CheckFailed saying why not."""
    register: Callable[[ChannelConfig], Awaitable[None]] | None = None
    """Tells the provider where to deliver, once the account exists and its config carries its
    webhook URL (Telegram: setWebhook with the secret token); raises CheckFailed saying why
    not. Run by `channel add` and whenever the hub starts serving, for webhook accounts."""
    demo: Callable[[str | None], DemoAccount] | None = None
    """The demo account, its provider API at the given base URL when one is given."""
    address: Callable[[str | None, Mapping[str, str]], str] = lambda given, _: given or ""
    """The account's own address (our number, our mailbox) from what the operator gave and the
    credentials; ValueError says what is wrong or missing."""
    link: Callable[[str, str], str | None] | None = None
    """For a channel customers can hand a link token to (Telegram: a `/start` deep link): the
    link that does, given the account's address and the token (at most 64 of A-Z a-z 0-9 _ -);
    None when the address does not say enough (a bot whose username is unknown)."""
    signed_headers: Callable[[Mapping[str, str], str, bytes, str], Mapping[str, str]] | None = None
    """For a webhook provider: the headers a genuine request to `url` with this body and
    content type carries, given the account's credentials (how simulators and the contract
    tests speak as the provider)."""

    def transport(self, settings: Mapping[str, Any]) -> Transport:
        """The transport an account with these settings uses."""
        chosen = settings.get("transport")
        return Transport(chosen) if chosen else self.transports[0]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel kind, as its package exports it (`channels/<kind>/__init__.py: SPEC`) under the
    `switchboard.channels` entry-point group: the only way the rest of the hub learns of it."""

    kind: str
    title: str
    providers: tuple[ProviderSpec, ...]
    docs: str
    """Its page, from the repository's root: docs/channels/<kind>.md."""

    def provider(self, name: str | None = None) -> ProviderSpec:
        """The named provider, or the first (the default) when no name is given."""
        if name is None:
            return self.providers[0]
        for provider in self.providers:
            if provider.name == name:
                return provider
        known = ", ".join(p.name for p in self.providers)
        raise LookupError(f"no {self.kind} provider {name!r} (known: {known})")
