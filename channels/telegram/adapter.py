"""The Telegram Bot API adapter: verifies and parses updates, polls for them, sends replies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from telegram import Bot, InputFile, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import TelegramError

from channels.base import (
    Capabilities,
    ChannelConfig,
    OutboundMessage,
    PermanentSendError,
    PullSink,
    SendResult,
    SyncCounts,
    WebhookRequest,
)
from channels.telegram.api_errors import send_failure
from channels.telegram.entities import FormattedText
from channels.telegram.errors import UnsupportedUpdate
from channels.telegram.files import MAX_BOT_DOWNLOAD_BYTES, MediaUnavailable, fetch_attachment
from channels.telegram.formatting import to_html
from channels.telegram.html_text import html_text
from channels.telegram.inbound import InboundRules, events_of
from channels.telegram.polling import UpdatePoller
from channels.telegram.scrub import TokenScrubber, scrub
from channels.telegram.secret_token import check_secret_token
from channels.telegram.split import MAX_MESSAGE_UNITS, split_text
from channels.telegram.thread_keys import answered_message, message_key
from channels.telegram.update import parse_update
from channels.telegram.webhook_secret import webhook_secret
from timeline.events import (
    Attachment,
    DeliveryStatus,
    IdentityKind,
    InboundEvent,
    MessageReceived,
    RawPayload,
)

DEFAULT_BASE_URL = "https://api.telegram.org"
MAX_PHOTO_BYTES = 10 * 1024 * 1024
"""The largest photo a bot may send; larger images go as documents."""
MAX_FILE_BYTES = 50 * 1024 * 1024
"""The largest file a bot may send."""

log = logging.getLogger(__name__)
SCRUBBER = TokenScrubber()
"""Scrubs the tokens of every bot this process runs from log records: the adapter's own, and
those of the libraries that put the Bot API's URLs (the token in their path) in theirs."""
log.addFilter(SCRUBBER)


def _scrub_every_handler() -> None:
    """The scrubber on the root logger's handlers, which every library's records reach
    (python-telegram-bot logs under many names); those are set up once the process starts,
    before any account's adapter is made."""
    for handler in logging.getLogger().handlers:
        if SCRUBBER not in handler.filters:
            handler.addFilter(SCRUBBER)


def _attachments_of(events: list[InboundEvent]) -> tuple[Attachment, ...]:
    return next(e.attachments for e in events if isinstance(e, MessageReceived))


def _reply_text(message: OutboundMessage) -> FormattedText:
    """The reply's HTML version with its formatting, or its plain text when it has none (or
    the HTML shows no text)."""
    if message.html is not None:
        formatted = html_text(message.html)
        if formatted.text.strip():
            return formatted
    return FormattedText(message.body)


class TelegramBotAdapter:
    """One bot (one channel account) on the Telegram Bot API, or a server speaking it."""

    kind: ClassVar[str] = "telegram"
    provider: ClassVar[str] = "telegram-bot-api"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_body_length=None,
        attachments=True,
        html=True,
        max_outbound_file_bytes=MAX_FILE_BYTES,
        resends_safely=False,
        max_webhook_bytes=1024 * 1024,
    )

    def __init__(
        self, config: ChannelConfig, *, poller: Callable[[Bot], UpdatePoller] = UpdatePoller
    ) -> None:
        self.config = config
        self._token = config.credentials["bot_token"]
        self._secret = webhook_secret(config.credentials)
        self._rules = InboundRules(
            channel_account_id=config.id,
            bot_username=config.address.removeprefix("@"),
            groups=bool(config.settings.get("groups", False)),
        )
        root = (config.provider_base_url or DEFAULT_BASE_URL).rstrip("/")
        self._base_url, self._base_file_url = f"{root}/bot", f"{root}/file/bot"
        self._poller = poller
        self._max_file_bytes = int(
            config.settings.get("max_attachment_bytes", MAX_BOT_DOWNLOAD_BYTES)
        )
        self._bot: Bot | None = None
        self._unsupported_seen: set[str] = set()
        SCRUBBER.tokens.add(self._token)
        _scrub_every_handler()

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """The X-Telegram-Bot-Api-Secret-Token header must be the webhook's secret exactly."""
        check_secret_token(request.headers, self._secret)

    def parse(self, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
        """An update's events; an unsupported type is logged the first time it is seen."""
        try:
            return events_of(parse_update(raw.body), raw, self._rules)
        except UnsupportedUpdate as unsupported:
            if unsupported.update_type not in self._unsupported_seen:
                self._unsupported_seen.add(unsupported.update_type)
                log.warning(
                    "telegram channel %s: %s updates are not handled (logged once per type)",
                    self.config.id,
                    unsupported.update_type,
                )
            raise

    def webhook_response(self) -> tuple[str, str]:
        return "", "text/plain"

    async def fetch_attachments(
        self, raw: RawPayload, events: list[InboundEvent]
    ) -> list[InboundEvent]:
        """The message's files fetched with getFile, within the account's size limit (0: none
        fetched); a file Telegram will not hand out keeps its description."""
        wanted = any(isinstance(e, MessageReceived) and e.attachments for e in events)
        if not wanted or self._max_file_bytes == 0:
            return events
        media = parse_update(raw.body).message.media
        fetched = []
        for item, described in zip(media, _attachments_of(events), strict=True):
            try:
                fetched.append(await fetch_attachment(self.bot(), item, self._max_file_bytes))
            except MediaUnavailable as unavailable:
                log.warning("telegram channel %s: %s", self.config.id, unavailable)
                fetched.append(described)
            except TelegramError as error:
                raise ConnectionError(f"getFile: {scrub(error.message, [self._token])}") from None
        return [
            replace(e, attachments=tuple(fetched)) if isinstance(e, MessageReceived) else e
            for e in events
        ]

    async def pull(
        self, sink: PullSink, *, once: bool, progress: Callable[[SyncCounts], None] | None = None
    ) -> SyncCounts:
        """Long polling: getUpdates, each batch committed with the offset past it."""
        return await self._poller(self.bot()).pull(sink, once=once, progress=progress)

    # -- outbound --------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """The text in parts at Telegram's limit (the first answering the customer's message, in
        its chat: a group's reply goes to the group), its formatting in the HTML parse mode,
        then each file as a photo or a document."""
        if message.recipient.kind is not IdentityKind.TELEGRAM:
            raise PermanentSendError(f"cannot message a {message.recipient.kind} identity")
        answered = answered_message(message.reply_to)
        chat_id, answering = answered if answered else (int(message.recipient.value), None)
        reply = ReplyParameters(answering, allow_sending_without_reply=True) if answering else None
        sent: list[int] = []
        text = _reply_text(message)
        try:
            for part in split_text(text, MAX_MESSAGE_UNITS) if text.text else []:
                answer = await self.bot().send_message(
                    chat_id,
                    to_html(part),
                    parse_mode=ParseMode.HTML,
                    reply_parameters=reply if not sent else None,
                )
                sent.append(answer.message_id)
            for attachment in message.attachments:
                if attachment.content is None:
                    raise PermanentSendError(f"attachment {attachment.filename!r} has no bytes")
                upload = InputFile(attachment.content, filename=attachment.filename)
                photo = attachment.content_type.startswith("image/") and (
                    len(attachment.content) <= MAX_PHOTO_BYTES
                )
                send = self.bot().send_photo if photo else self.bot().send_document
                answer = await send(chat_id, upload, reply_parameters=reply if not sent else None)
                sent.append(answer.message_id)
        except TelegramError as error:
            failure = send_failure(error, [self._token])
            if sent:  # sending it all again would repeat what the customer already has
                raise PermanentSendError(
                    f"only {len(sent)} part(s) were sent, then: {failure}"
                ) from None
            raise failure from None
        if not sent:
            raise PermanentSendError("the message has neither text nor files")
        return SendResult(
            external_id=f"{chat_id}:{sent[0]}",
            status=DeliveryStatus.SENT,
            thread_keys=tuple(message_key(chat_id, number) for number in sent),
        )

    # -- the bot ---------------------------------------------------------------------------

    def bot(self) -> Bot:
        """python-telegram-bot's Bot for this account, made on first use."""
        if self._bot is None:
            self._bot = Bot(self._token, base_url=self._base_url, base_file_url=self._base_file_url)
        return self._bot

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None
