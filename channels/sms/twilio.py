"""Twilio-compatible SMS adapter: verifies and parses Twilio webhooks, sends via the REST API."""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit

import aiohttp

from channels.base import (
    Capabilities,
    ChannelConfig,
    CheckFailed,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    SignatureInvalid,
    TransientSendError,
    UnsupportedEvent,
    WebhookRequest,
)
from channels.sms.keywords import KeywordKind, KeywordMatch, classify_keyword
from channels.sms.segments import MAX_BODY_CHARS, too_long
from channels.sms.signature import signature_matches
from timeline.events import (
    Attachment,
    ConsentChanged,
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    InboundEvent,
    MessageReceived,
    MessageStatusChanged,
    RawPayload,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_MEDIA = 10
"""Twilio accepts at most this many MediaUrl parameters on one message."""

MAX_SEGMENTS = 100
"""More parts than any carrier joins into one message; a larger NumSegments is not Twilio's."""
_MAX_FORM_FIELDS = 1000

DELIVERY_STATUS_BY_TWILIO_STATUS: Mapping[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

ERROR_TEXTS: Mapping[str, str] = {
    "21211": "Invalid 'To' phone number",
    "21610": "Attempt to send to unsubscribed recipient (they replied STOP)",
    "21614": "'To' number is not a valid mobile number",
    "30001": "Queue overflow",
    "30002": "Account suspended",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by the carrier",
    "30008": "Unknown error",
    "30034": "Message from an unregistered number (US A2P 10DLC)",
}
"""Human text for delivery errors Twilio reports by code alone in status callbacks."""

_EXTENSION_BY_MEDIA_TYPE = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "audio/mpeg": ".mp3",
    "audio/amr": ".amr",
    "audio/ogg": ".ogg",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TwilioSmsAdapter:
    """SMS and MMS through Twilio's Programmable Messaging API, or anything speaking it."""

    kind: ClassVar[str] = "sms"
    provider: ClassVar[str] = "twilio"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_body_length=MAX_BODY_CHARS, attachments=True, delivery_receipts=True
    )

    def __init__(
        self,
        config: ChannelConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.config = config
        self._account_sid = _credential(config, "account_sid")
        self._auth_token = _credential(config, "auth_token")
        self._authorization = _basic_authorization(self._account_sid, self._auth_token)
        self._base_url = (config.provider_base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> FormBody | None:
        """Raise SignatureInvalid unless X-Twilio-Signature matches the URL and form params.

        Returns the decoded form for `parse` (None for a JSON body, which the signature covers
        by its digest).
        """
        signature = _header(request.headers, SIGNATURE_HEADER)
        if not signature:
            raise SignatureInvalid(f"missing {SIGNATURE_HEADER} header")
        form = _signed_form(request)
        params = form.pairs if form is not None else ()
        if not signature_matches(self._auth_token, request.url, params, signature):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match this URL and body")
        return form

    def parse(self, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
        """Turn one Twilio messaging webhook into events; pure apart from reading the clock."""
        form = _Form(_form_fields(raw, decoded if isinstance(decoded, FormBody) else None))
        sid = _message_sid(form)
        form.require("AccountSid", "From", "To")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if status == "received" or (not status and form.has_any("Body", "NumMedia")):
            return self._received(form, sid, raw)
        if status in DELIVERY_STATUS_BY_TWILIO_STATUS:
            return [self._status_changed(form, sid, status, raw)]
        if not status:
            raise MalformedPayload("missing MessageStatus (or SmsStatus) and no Body")
        raise UnsupportedEvent(f"Twilio message status {status!r} is not handled")

    def webhook_response(self) -> tuple[str, str]:
        """An empty TwiML document: acknowledge without replying to the customer."""
        return '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', "text/xml"

    def _received(self, form: _Form, sid: str, raw: RawPayload) -> list[InboundEvent]:
        sender = _phone(form, "From")
        body = form.get("Body") or ""
        match = classify_keyword(body, form.get("OptOutType"))
        common: dict[str, Any] = {
            "channel_account_id": self.config.id,
            "kind": self.kind,
            "sender": sender,
            "occurred_at": self._clock(),
            "raw_ref": raw.digest,
        }
        message = MessageReceived(
            **common,
            external_id=sid,
            body=body,
            attachments=_attachments(form),
            recipients=(_phone(form, "To"),),
            segments=_segment_count(form),
            extra=(("keyword", match.kind.value),) if match else (),
        )
        consent = _consent_change(match, sid, common)
        return [message] if consent is None else [message, consent]

    def _status_changed(
        self, form: _Form, sid: str, status: str, raw: RawPayload
    ) -> MessageStatusChanged:
        if (form.get("Direction") or "").lower() == "inbound":
            raise UnsupportedEvent(f"status {status!r} of an inbound message is not handled")
        error_code = form.get("ErrorCode") or None
        if error_code == "0":
            error_code = None
        return MessageStatusChanged(
            channel_account_id=self.config.id,
            kind=self.kind,
            sender=_phone(form, "To"),
            external_id=sid,
            occurred_at=self._clock(),
            raw_ref=raw.digest,
            status=DELIVERY_STATUS_BY_TWILIO_STATUS[status],
            error_code=error_code,
            error_message=form.get("ErrorMessage") or _error_text(error_code),
        )

    # -- outbound --------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """Create a Message through Twilio's REST API; map its answer to a result or error."""
        fields = self._outbound_fields(message)
        status, body = await self._post(self._messages_url(), fields)
        if status in (200, 201):
            return _send_result(body)
        detail = _twilio_error_text(status, body)
        if status == 429 or status >= 500:
            raise TransientSendError(f"Twilio answered HTTP {status}: {detail}")
        raise PermanentSendError(detail)

    async def check_account(self) -> None:
        """Ask Twilio for the account: CheckFailed says why it cannot be used to send."""
        url = f"{self._base_url}/2010-04-01/Accounts/{quote(self._account_sid)}.json"
        try:
            async with self._session_for_sending().get(
                url, headers={"Authorization": self._authorization, "Accept": "application/json"}
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CheckFailed(f"cannot reach {self._base_url}: {type(exc).__name__}") from exc
        if status == 401:
            raise CheckFailed("Twilio refused this account SID and auth token")
        if status != 200:
            detail = _twilio_error_text(status, body)
            raise CheckFailed(f"Twilio answered the account lookup with {detail}")
        account_status = _json_field(body, "status")
        if account_status not in (None, "active"):
            raise CheckFailed(f"the Twilio account is {account_status}, not active")

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _messages_url(self) -> str:
        return f"{self._base_url}/2010-04-01/Accounts/{quote(self._account_sid)}/Messages.json"

    def _outbound_fields(self, message: OutboundMessage) -> list[tuple[str, str]]:
        if message.recipient.kind is not IdentityKind.PHONE:
            raise PermanentSendError(f"cannot text a {message.recipient.kind} identity")
        if too_long(message.body):
            raise PermanentSendError(
                f"the message has {len(message.body)} characters; "
                f"SMS allows at most {MAX_BODY_CHARS}"
            )
        media = _media_urls(message)
        if not message.body and not media:
            raise PermanentSendError("the message has neither text nor media")
        fields = [("To", message.recipient.value), ("From", self.config.address)]
        if message.body:
            fields.append(("Body", message.body))
        fields.extend(("MediaUrl", url) for url in media)
        if message.status_callback_url:
            fields.append(("StatusCallback", message.status_callback_url))
        return fields

    async def _post(self, url: str, fields: list[tuple[str, str]]) -> tuple[int, bytes]:
        session = self._session_for_sending()
        try:
            async with session.post(
                url,
                data=urlencode(fields).encode("ascii"),
                headers={
                    "Authorization": self._authorization,
                    "Content-Type": FORM_CONTENT_TYPE,
                    "Accept": "application/json",
                },
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc

    def _session_for_sending(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "switchboard-sms/0.1"}
            )
        return self._session


# -- form decoding ---------------------------------------------------------------------------


class _Form:
    """Decoded form fields; a field repeated with different values is refused when read."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        self._conflicting: set[str] = set()
        for name, value in pairs:
            if self._values.setdefault(name, value) != value:
                self._conflicting.add(name)

    def get(self, name: str) -> str | None:
        if name in self._conflicting:
            raise MalformedPayload(f"field {name} is repeated with different values")
        return self._values.get(name)

    def has_any(self, *names: str) -> bool:
        return any(name in self._values for name in names)

    def require(self, *names: str) -> None:
        missing = [name for name in names if not self.get(name)]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise MalformedPayload(f"missing required field{plural} {', '.join(missing)}")


def _form_fields(raw: RawPayload, decoded: FormBody | None) -> tuple[tuple[str, str], ...]:
    """The (name, value) pairs of a form body, decoded by `verify` already or now;
    MalformedPayload says what is wrong."""
    if decoded is None:
        media_type, charset = _media_type(raw.content_type)
        if media_type != FORM_CONTENT_TYPE:
            shown = media_type or "none"
            raise MalformedPayload(f"content type {shown!r} is not {FORM_CONTENT_TYPE}")
        try:
            decoded = read_form(raw.body, charset)
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from exc
    if decoded.problem is not None:
        raise MalformedPayload(decoded.problem)
    return decoded.pairs


@dataclass(frozen=True, slots=True)
class FormBody:
    """A form body as `verify` decodes it for the signature check and hands it to `parse`."""

    pairs: tuple[tuple[str, str], ...]
    """Every field; a field without '=' has an empty value, empty fields are skipped."""
    problem: str | None
    """Why the parser refuses the body (an empty field, a field without '='), or None."""


_ASCII_PROBE = "&=%+ azAZ09"


def read_form(body: bytes, charset: str | None = None) -> FormBody:
    """Decode an application/x-www-form-urlencoded body whose escapes are in `charset`
    (UTF-8 when none is declared, as Twilio sends).

    Raises ValueError naming the offending field or charset: unlike parse_qsl's default, bytes
    that are not valid in the charset are refused rather than silently replaced. A charset
    must be one Python knows whose ASCII letters are ASCII (the form's syntax is).
    """
    encoding = _form_encoding(charset)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body has a raw non-ASCII byte at offset {exc.start}") from exc
    fields = text.split("&") if text else []
    if len(fields) > _MAX_FORM_FIELDS:
        raise ValueError(f"body has more than {_MAX_FORM_FIELDS} fields")
    pairs = []
    problem = None
    for position, field in enumerate(fields, start=1):
        name, equals, value = field.partition("=")
        if not (name and equals):
            problem = problem or f"form field #{position} {field[:40]!r} is not name=value"
            if not field:
                continue
        # Decoded in line, as most fields need no decoding: this loop is most of a webhook's
        # parsing cost, and a call per field was a third of it.
        try:
            if "%" in name or "+" in name:
                name = unquote_to_bytes(name.replace("+", " ")).decode(encoding)
        except UnicodeDecodeError:
            raise ValueError(
                f"name of form field #{position} is not valid {encoding.upper()}"
            ) from None
        try:
            if "%" in value or "+" in value:
                value = unquote_to_bytes(value.replace("+", " ")).decode(encoding)
        except UnicodeDecodeError:
            raise ValueError(f"field {name[:40]} is not valid {encoding.upper()}") from None
        pairs.append((name, value))
    return FormBody(tuple(pairs), problem)


def _form_encoding(charset: str | None) -> str:
    if charset is None or charset in ("utf-8", "utf8"):
        return "utf-8"
    try:
        encoding = codecs.lookup(charset).name
        ascii_compatible = _ASCII_PROBE.encode(encoding) == _ASCII_PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        ascii_compatible = False
    if not ascii_compatible:
        raise ValueError(f"charset {charset[:40]!r} cannot carry a form")
    return encoding


def _media_type(content_type: str) -> tuple[str, str | None]:
    """('type/subtype', charset or None) from a Content-Type value, both lower-cased."""
    main, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return main.strip().lower(), charset


def _signed_form(request: WebhookRequest) -> FormBody | None:
    """The form Twilio signed, or None for a JSON body vouched for by its bodySHA256."""
    media_type, charset = _media_type(request.content_type)
    if media_type == FORM_CONTENT_TYPE or not request.body:
        try:
            return read_form(request.body, charset)
        except ValueError as exc:
            raise SignatureInvalid(f"the signature cannot be checked: {exc}") from exc
    body_hash = dict(parse_qsl(urlsplit(request.url).query)).get("bodySHA256", "")
    actual = hashlib.sha256(request.body).hexdigest()
    if not body_hash or not hmac.compare_digest(body_hash.lower().encode(), actual.encode()):
        raise SignatureInvalid(f"{media_type or 'untyped'} body is not covered by the signature")
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _basic_authorization(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _credential(config: ChannelConfig, name: str) -> str:
    value = config.credentials.get(name)
    if not value:
        raise ValueError(f"Twilio SMS channel {config.id}: credentials lack {name!r}")
    return value


# -- webhook fields to event fields ----------------------------------------------------------


def _message_sid(form: _Form) -> str:
    """MessageSid (or the deprecated SmsSid); a call webhook is unsupported, not malformed."""
    message_sid, sms_sid = form.get("MessageSid"), form.get("SmsSid")
    if message_sid and sms_sid and message_sid != sms_sid:
        raise MalformedPayload("MessageSid and SmsSid differ")
    sid = message_sid or sms_sid
    if sid:
        return sid
    call_sid = form.get("CallSid")
    if call_sid:
        raise UnsupportedEvent(f"voice webhook for call {call_sid} is not an SMS event")
    raise MalformedPayload("missing required field MessageSid (or SmsSid)")


def _phone(form: _Form, name: str) -> ExternalIdentity:
    value = form.get(name) or ""
    if ":" in value:
        channel = value.split(":", 1)[0]
        raise UnsupportedEvent(f"{name} is a {channel} address, not an SMS number")
    return ExternalIdentity(kind=IdentityKind.PHONE, value=value)


def _count(form: _Form, name: str, default: int, most: int) -> int:
    text = form.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or int(text) > most:
        raise MalformedPayload(f"field {name} is not a count from 0 to {most}: {text[:40]!r}")
    return int(text)


def _segment_count(form: _Form) -> int:
    return max(1, _count(form, "NumSegments", 1, MAX_SEGMENTS))


def _attachments(form: _Form) -> tuple[Attachment, ...]:
    """MediaUrl{N} / MediaContentType{N} for N below NumMedia, each required to be present."""
    attachments = []
    for index in range(_count(form, "NumMedia", 0, MAX_MEDIA)):
        url = form.get(f"MediaUrl{index}")
        if not url:
            raise MalformedPayload(f"missing required field MediaUrl{index}")
        content_type = form.get(f"MediaContentType{index}") or "application/octet-stream"
        filename = _media_filename(url, content_type)
        attachments.append(Attachment(filename=filename, content_type=content_type, url=url))
    return tuple(attachments)


def _media_filename(url: str, content_type: str) -> str:
    """The media SID at the end of Twilio's media URL plus an extension for its type."""
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "media"
    extension = _EXTENSION_BY_MEDIA_TYPE.get(content_type.split(";")[0].strip().lower(), "")
    return name if name.endswith(extension) else name + extension


def _consent_change(
    match: KeywordMatch | None, sid: str, common: dict[str, Any]
) -> ConsentChanged | None:
    if match is None or match.kind is KeywordKind.HELP:
        return None
    return ConsentChanged(
        **common,
        external_id=f"{sid}:consent",
        granted=match.kind is KeywordKind.OPT_IN,
        keyword=match.keyword,
    )


def _error_text(code: str | None) -> str | None:
    if code is None:
        return None
    fallback = f"Twilio error {code} (https://www.twilio.com/docs/api/errors/{code})"
    return ERROR_TEXTS.get(code, fallback)


# -- REST answers ----------------------------------------------------------------------------


def _media_urls(message: OutboundMessage) -> list[str]:
    urls = []
    for attachment in message.attachments:
        if not attachment.url:
            raise PermanentSendError(
                f"attachment {attachment.filename!r} has no URL; Twilio only sends media it "
                "can fetch from a public URL"
            )
        urls.append(attachment.url)
    if len(urls) > MAX_MEDIA:
        raise PermanentSendError(f"{len(urls)} attachments; Twilio sends at most {MAX_MEDIA}")
    return urls


def _send_result(body: bytes) -> SendResult:
    """Read Twilio's Message JSON; a 2xx we cannot read must not be retried into a duplicate."""
    try:
        message = json.loads(body)
        sid = message["sid"]
    except (ValueError, TypeError, KeyError) as exc:
        raise PermanentSendError(
            "Twilio accepted the message but its answer has no readable sid; not retrying, "
            "to avoid sending twice"
        ) from exc
    if not isinstance(sid, str) or not sid:
        raise PermanentSendError("Twilio accepted the message but its sid is empty")
    status = str(message.get("status") or "queued").lower()
    return SendResult(
        external_id=sid,
        status=DELIVERY_STATUS_BY_TWILIO_STATUS.get(status, DeliveryStatus.QUEUED),
    )


def _json_field(body: bytes, name: str) -> Any:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None


def _twilio_error_text(status: int, body: bytes) -> str:
    """'code: message' from Twilio's error JSON, or the HTTP status and a snippet of the body."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if isinstance(error, dict) and error.get("message"):
        code = error.get("code")
        return f"{code}: {error['message']}" if code else str(error["message"])
    snippet = body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {snippet}" if snippet else "")
