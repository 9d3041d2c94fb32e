"""Parses one raw RFC 5322 email into a typed ParsedEmail and its MessageReceived event.

No database, no network. `parse_email` never raises anything but `MalformedPayload`.

What is unparseable (MalformedPayload; the caller quarantines the raw bytes):

- the payload is empty or only whitespace;
- it has no header section: the first line is not a header field (`Name: value`), as with
  binary junk, an HTML page or a bare body;
- no sender address: none of From, Sender, Return-Path (tried in that order) holds anything
  shaped `local@domain`, so the message cannot be attributed to anybody;
- the MIME tree is nested so deeply that the standard library runs out of recursion.

Everything else parses, however broken: unknown or lying charsets (charsets.py), broken
encoded-words, garbage or missing dates (headers.py), unterminated parts, bad base64. The
message is parsed with `email.policy.default`; if the library raises anywhere while the result
is built, it is parsed again with `compat32`. Header values are always decoded from the raw
header text, so both passes read headers the same way.

Addresses are lower-cased; recipients are To + Cc; Reply-To is kept apart, never the sender.
Bodies: text is the text/plain parts (format=flowed joined), else a rendering of the HTML
(html_text.py); html is the text/html parts sanitized (html.py). Every other part is a
ParsedAttachment (attachments.py). automated marks mail no human typed (automated.py).
The event's body and html are the new text of a reply, its quoted and quoted_html the history
and signature below it (quoting.py).

external_id, the dedupe key per mailbox, is "<Message-ID>|" + content_digest (digest.py), or
"digest:" + content_digest for mail without a Message-ID: a re-fetched or re-delivered copy
(other trace headers, same content) is absorbed, while two different messages that share a
Message-ID (broken senders) are both kept. thread_ref.message_id keeps the plain Message-ID.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from email.policy import Policy

from channels.base import MalformedPayload
from channels.email.attachments import DEFAULT_MAX_ATTACHMENT_BYTES, ParsedAttachment
from channels.email.automated import automated_reason
from channels.email.digest import content_digest
from channels.email.forwarding import forwarded_author
from channels.email.headers import (
    Address,
    HeaderFields,
    parse_addresses,
    parse_occurred_at,
    parse_thread_ref,
    sender_address,
)
from channels.email.html import MAX_HTML_CHARS, MAX_HTML_TAGS, sanitize_html, within_limits
from channels.email.html_text import html_to_text, tags_stripped
from channels.email.mime_limits import check_mime_size
from channels.email.mime_tree import walk_message
from channels.email.quoting import split_reply, split_reply_html
from channels.email.thread_keys import EmailThreadRef, threading_of
from timeline.events import ExternalIdentity, IdentityKind, MessageReceived

KIND = "email"


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """Everything the email channel reads out of one raw message."""

    channel_account_id: int
    raw_ref: str
    received_at: datetime
    message_id: str | None
    content_digest: str
    sender: ExternalIdentity
    sender_name: str
    reply_to: tuple[ExternalIdentity, ...]
    recipients: tuple[ExternalIdentity, ...]
    subject: str
    occurred_at: datetime
    date_from_header: bool
    thread_ref: EmailThreadRef
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    automated: bool
    automated_reason: str | None
    bounced_recipients: tuple[str, ...] = ()
    bounced_message_id: str | None = None
    defects: tuple[str, ...] = ()

    @property
    def external_id(self) -> str:
        """The dedupe key per mailbox: Message-ID and content digest (see the module docstring)."""
        if self.message_id:
            return f"{self.message_id}|{self.content_digest}"
        return f"digest:{self.content_digest}"


def parse_email(
    raw: bytes,
    *,
    channel_account_id: int,
    raw_ref: str,
    received_at: datetime,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> ParsedEmail:
    """Parse one raw email; raises MalformedPayload (only) when it cannot be read at all."""
    data = _payload_bytes_or_raise(raw)
    check_mime_size(data)
    context = _Context(channel_account_id, raw_ref, _as_utc(received_at), max_attachment_bytes)
    try:
        return _parse_with(data, email_policy.default, context, [])
    except MalformedPayload:
        raise
    except RecursionError:
        raise MalformedPayload("MIME structure is nested too deeply to parse") from None
    except Exception as exc:  # any library failure: retry with compat32
        note = f"policy.default failed ({type(exc).__name__}); parsed with compat32"
    try:
        return _parse_with(data, email_policy.compat32, context, [note])
    except MalformedPayload:
        raise
    except RecursionError:
        raise MalformedPayload("MIME structure is nested too deeply to parse") from None
    except Exception as exc:  # last safety net: quarantine, never a 500
        raise MalformedPayload(f"internal parser failure: {type(exc).__name__}: {exc}") from exc


def to_event(parsed: ParsedEmail) -> MessageReceived:
    """The typed inbound event for a parsed email: the new text as body, the history apart."""
    text, quoted = split_reply(parsed.text)
    html, quoted_html = split_reply_html(parsed.html) if parsed.html else (None, "")
    return MessageReceived(
        channel_account_id=parsed.channel_account_id,
        kind=KIND,
        sender=parsed.sender,
        external_id=parsed.external_id,
        occurred_at=parsed.occurred_at,
        raw_ref=parsed.raw_ref,
        thread=threading_of(parsed.thread_ref),
        body=text,
        subject=parsed.subject or None,
        html=html,
        quoted=quoted or None,
        quoted_html=quoted_html or None,
        attachments=tuple(a.meta for a in parsed.attachments),
        recipients=parsed.recipients,
        automated=parsed.automated,
        forwarded_from=_forwarded_from(parsed),
        extra=_event_extra(parsed),
    )


def _forwarded_from(parsed: ParsedEmail) -> ExternalIdentity | None:
    author = forwarded_author(parsed.text)
    if author is None or author == parsed.sender.value:
        return None
    return ExternalIdentity(IdentityKind.EMAIL, author)


def _event_extra(parsed: ParsedEmail) -> tuple[tuple[str, str], ...]:
    extra: list[tuple[str, str]] = [("content_digest", parsed.content_digest)]
    extra.append(("date_source", "header" if parsed.date_from_header else "received_at"))
    if parsed.sender_name:
        extra.append(("sender_name", parsed.sender_name))
    if parsed.automated_reason:
        extra.append(("automated_reason", parsed.automated_reason))
    extra += [("reply_to", r.value) for r in parsed.reply_to]
    extra += [("bounced_recipient", r) for r in parsed.bounced_recipients]
    if parsed.bounced_message_id:
        extra.append(("bounced_message_id", parsed.bounced_message_id))
    return tuple(extra)


@dataclass(frozen=True, slots=True)
class _Context:
    channel_account_id: int
    raw_ref: str
    received_at: datetime
    max_attachment_bytes: int


def _payload_bytes_or_raise(raw: bytes) -> bytes:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_email needs bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if not data.strip():
        raise MalformedPayload("empty payload: no bytes besides whitespace")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    return data.lstrip(b"\r\n")


def _parse_with(data: bytes, policy: Policy, ctx: _Context, defects: list[str]) -> ParsedEmail:
    msg = BytesParser(policy=policy).parsebytes(data)
    headers = HeaderFields.of(msg)
    if not headers.items:
        raise MalformedPayload("not an email: no header fields found at the start")
    body = walk_message(msg, ctx.max_attachment_bytes)
    hint = body.charset_hint
    sender = sender_address(headers, hint, defects)
    occurred_at, from_header = parse_occurred_at(headers, ctx.received_at, defects)
    thread_ref = parse_thread_ref(headers, hint)
    html, text = _html_and_text(body.plain, "\n".join(body.html), defects)
    reason = automated_reason(
        headers,
        sender.address,
        report_types=body.report_types,
        delivery_status=body.delivery_status,
    )
    defects.extend(body.defects)
    return ParsedEmail(
        channel_account_id=ctx.channel_account_id,
        raw_ref=ctx.raw_ref,
        received_at=ctx.received_at,
        message_id=thread_ref.message_id,
        content_digest=content_digest(headers, body.leaves),
        sender=ExternalIdentity(IdentityKind.EMAIL, sender.address),
        sender_name=sender.name,
        reply_to=_identities(parse_addresses(headers.all("reply-to"), hint)),
        recipients=_identities(parse_addresses(headers.all("to") + headers.all("cc"), hint)),
        subject=thread_ref.subject,
        occurred_at=occurred_at,
        date_from_header=from_header,
        thread_ref=thread_ref,
        text=text,
        html=html,
        attachments=tuple(body.attachments),
        automated=reason is not None,
        automated_reason=reason,
        bounced_recipients=tuple(dict.fromkeys(body.bounced)),
        bounced_message_id=body.bounced_message_id,
        defects=tuple(dict.fromkeys(defects)),
    )


def _html_and_text(plain: list[str], source: str, defects: list[str]) -> tuple[str | None, str]:
    """The sanitized HTML, and the text: the plain part's, else the HTML's. HTML too large to
    sanitize is not kept, only its text, roughly."""
    text = "\n".join(p.strip("\n") for p in plain).strip()
    if source and not within_limits(source):
        defects.append(
            f"HTML body of more than {MAX_HTML_CHARS} characters or {MAX_HTML_TAGS} tags "
            "kept as text only"
        )
        return None, text or tags_stripped(source)
    html = (sanitize_html(source) or None) if source else None
    return html, text or (html_to_text(html) if html else "")


def _identities(addresses: list[Address]) -> tuple[ExternalIdentity, ...]:
    return tuple(ExternalIdentity(IdentityKind.EMAIL, a.address) for a in addresses)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
