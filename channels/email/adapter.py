"""The email channel: IMAP in (a pull transport), SMTP out, MIME parsing in between."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from channels.base import (
    Capabilities,
    ChannelConfig,
    OutboundMessage,
    PullSink,
    SendResult,
    SignatureInvalid,
    SyncCounts,
    WebhookRequest,
)
from channels.email.attachments import DEFAULT_MAX_ATTACHMENT_BYTES
from channels.email.compose import compose
from channels.email.imap_url import AfterImport, MailboxUrl
from channels.email.mime import parse_email, to_event
from channels.email.reader import MailboxReader, ReaderSettings
from channels.email.smtp import send_email
from channels.email.smtp_url import SmtpUrl
from channels.email.thread_keys import MESSAGE_ID, reply_thread
from timeline.events import DeliveryStatus, InboundEvent, RawPayload, ThreadKey

MAX_OUTBOUND_FILE_BYTES = 18 * 1024 * 1024
"""Files on one reply, in all: base64 makes them a third larger, under the 25 MB most mail
servers accept."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ImapSmtpEmailAdapter:
    """A mailbox read over IMAP (IDLE or polling) and answered over SMTP.

    Credentials: `imap_url` (imap:// or imaps://) and `smtp_url` (smtp:// or smtps://).
    Settings: `after_import` (`none`, `seen` or `move:<Folder>`), `from_name`,
    `reply_domain` (for `reply+<token>@` addresses; defaults to the mailbox's domain),
    `max_attachment_bytes` (larger attachments keep only their metadata; default 25 MiB).
    """

    kind: ClassVar[str] = "email"
    provider: ClassVar[str] = "imap"
    capabilities: ClassVar[Capabilities] = Capabilities(
        attachments=True,
        html=True,
        subject=True,
        max_outbound_file_bytes=MAX_OUTBOUND_FILE_BYTES,
    )

    def __init__(self, config: ChannelConfig, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.config = config
        self._clock = clock
        self._max_attachment_bytes = int(
            config.settings.get("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES)
        )
        self._smtp = SmtpUrl.parse(_credential(config, "smtp_url"))
        after_import = AfterImport.parse(str(config.settings.get("after_import", "none")))
        self._reader = MailboxReader(
            MailboxUrl.parse(_credential(config, "imap_url")),
            ReaderSettings(after_import=after_import),
        )

    def verify(self, request: WebhookRequest) -> None:
        raise SignatureInvalid("email channels read their mailbox; they take no webhooks")

    def parse(self, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
        parsed = parse_email(
            raw.body,
            channel_account_id=self.config.id,
            raw_ref=raw.digest,
            received_at=self._clock(),
            max_attachment_bytes=self._max_attachment_bytes,
        )
        return [to_event(parsed)]

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send over SMTP; the result names our Message-ID and any tokens minted for the
        conversation, for the hub to keep (replies to this mail thread by them)."""
        replying = reply_thread(message.reply_to) if message.reply_to is not None else None
        email = compose(
            message,
            thread=replying.thread if replying is not None else None,
            from_address=self.config.address,
            from_name=self.config.settings.get("from_name"),
            reply_domain=self.config.settings.get("reply_domain")
            or self.config.address.rsplit("@", 1)[-1],
            attachments={
                a.digest: a.content
                for a in message.attachments
                if a.digest is not None and a.content is not None
            },
        )
        await send_email(self._smtp, self.config.address, [message.recipient.value], email)
        message_id = str(email["Message-ID"])
        return SendResult(
            external_id=message_id,
            status=DeliveryStatus.SENT,
            thread_keys=(ThreadKey(MESSAGE_ID, message_id),),
            conversation_keys=replying.minted if replying is not None else (),
        )

    async def pull(
        self, sink: PullSink, *, once: bool, progress: Callable[[SyncCounts], None] | None = None
    ) -> SyncCounts:
        return await self._reader.pull(sink, once=once, progress=progress)

    def webhook_response(self) -> tuple[str, str]:
        return "", "text/plain"


def _credential(config: ChannelConfig, name: str) -> str:
    value = config.credentials.get(name)
    if not value:
        raise ValueError(f"email channel {config.id}: credentials lack {name!r}")
    return value
