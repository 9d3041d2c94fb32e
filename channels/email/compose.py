"""Build the RFC 5322 email (headers, threading, text/HTML, attachments) for an OutboundMessage."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from types import MappingProxyType

from channels.base import OutboundMessage, PermanentSendError
from channels.email.subject_token import with_subject_token
from channels.email.thread_keys import EmailThreadRef
from timeline.events import Attachment, IdentityKind

MAX_REFERENCES = 20
"""References keeps the thread's first id and the newest ones up to this many (RFC 5322 3.6.4
lets a reply trim the chain; very long References headers get mail rejected)."""

_NO_ATTACHMENTS: Mapping[str, bytes] = MappingProxyType({})
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp|回复|答复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII, no spaces, no inner < >
_MIME_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")
_OPAQUE_TYPES = ("multipart", "message")


def message_id_for(idempotency_key: str, domain: str) -> str:
    """The Message-ID for a send: `<sha256(key)[:32]@domain>`, the same on every retry."""
    if not idempotency_key:
        raise ValueError("a Message-ID needs a non-empty idempotency key")
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_ascii_domain(domain)}>"


def compose(
    message: OutboundMessage,
    *,
    thread: EmailThreadRef | None,
    from_address: str,
    from_name: str | None,
    reply_domain: str,
    attachments: Mapping[str, bytes] = _NO_ATTACHMENTS,
    now: datetime | None = None,
) -> EmailMessage:
    """The email to send for `message`, ready for `send_email` (Auto-Submitted is not set).

    `thread`, when given, is the thread of the mail being answered (the customer's last
    message, with the conversation's tokens: thread_keys.reply_thread): its `message_id`
    becomes In-Reply-To; References is its `references` chain (or, when it had none, its
    `in_reply_to`) followed by its `message_id`, de-duplicated and trimmed to MAX_REFERENCES;
    its `subject` gives "Re: <subject>" unless `message.subject` is set; its `subject_token`
    is added to the subject as `[#SB-<token>]` (once: a subject already carrying it keeps it
    where it is); its `reply_token` gives `Reply-To: reply+<token>@<reply_domain>`. A thread
    without `message_id` (a new mail that should still carry a reply token) adds no
    In-Reply-To.

    Attachment bytes are looked up by `Attachment.digest` in `attachments`; one missing raises
    PermanentSendError. Attachments with a content_id go next to the HTML part
    (multipart/related) so `cid:` images show inline.
    """
    email = EmailMessage(policy=policy.default)
    email["Date"] = now or datetime.now(UTC)
    _set_address_header(email, "From", _address(from_name, from_address, what="sender"))
    email["To"] = _recipient(message)
    subject = _subject(message.subject, thread)
    if subject:
        _set_text_header(email, "Subject", subject)
    email["Message-ID"] = message_id_for(message.idempotency_key, _domain_of(from_address))
    if thread is not None:
        _add_threading(email, thread)
        if thread.reply_token:
            reply_to = _reply_to(thread.reply_token, reply_domain, from_name)
            _set_address_header(email, "Reply-To", reply_to)
    _add_body(email, message, attachments)
    return email


def reply_subject(subject: str) -> str:
    """The subject prefixed "Re: " once, whatever reply prefixes it had (RE[2]:, AW: ...)."""
    base = _REPLY_PREFIX.sub("", _one_line(subject))
    return f"Re: {base}" if base else ""


def references_for(thread: EmailThreadRef) -> list[str]:
    """The References ids of a reply to `thread`'s message, oldest first."""
    chain = list(thread.references or thread.in_reply_to)
    if thread.message_id:
        chain.append(thread.message_id)
    ids = _dedupe(i for i in map(_clean_id, chain) if i)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _set_text_header(email: EmailMessage, name: str, value: str) -> None:
    """Set a free-text header; non-ASCII text is RFC 2047-encoded here, already folded.

    The stdlib's own folding of long non-ASCII headers (policy.default, seen on 3.11) moves
    the space at a fold outside the encoded-words, where RFC 2047 decoders drop it ("№1042
    отправлен" arrives as "№1042отправлен"); email.header.Header keeps spaces inside them,
    and the generator writes a pre-folded ASCII value as it is.
    """
    if value.isascii():
        email[name] = value
    else:
        email.set_raw(name, Header(value, "utf-8", header_name=name).encode())


def _set_address_header(email: EmailMessage, name: str, address: Address) -> None:
    """Set a one-address header; a non-ASCII display name is encoded here (see above)."""
    if address.display_name.isascii() or not address.addr_spec.isascii():
        email[name] = address
        return
    encoded = Header(address.display_name, "utf-8", header_name=name).encode()
    email.set_raw(name, f"{encoded}\n <{address.addr_spec}>")


def _add_threading(email: EmailMessage, thread: EmailThreadRef) -> None:
    parent = _clean_id(thread.message_id or "")
    if parent:
        email["In-Reply-To"] = parent
    references = references_for(thread)
    if references:
        email["References"] = " ".join(references)


def _subject(subject: str | None, thread: EmailThreadRef | None) -> str:
    if subject and subject.strip():
        text = _one_line(subject)
    else:
        text = reply_subject(thread.subject) if thread is not None else ""
    if thread is not None and thread.subject_token:
        return with_subject_token(text, thread.subject_token)
    return text


def _recipient(message: OutboundMessage) -> Address:
    if message.recipient.kind is not IdentityKind.EMAIL:
        raise PermanentSendError(
            f"cannot email a {message.recipient.kind.value} identity ({message.recipient.value})"
        )
    return _address(None, message.recipient.value, what="recipient")


def _address(name: str | None, address: str, *, what: str) -> Address:
    try:
        parsed = Address(display_name=_one_line(name or ""), addr_spec=address.strip())
    except (HeaderParseError, ValueError, IndexError):
        raise PermanentSendError(f"the {what} {address!r} is not an email address") from None
    if not parsed.username or not parsed.domain:
        raise PermanentSendError(f"the {what} {address!r} is not an email address")
    return parsed


def _reply_to(token: str, reply_domain: str, name: str | None) -> Address:
    try:
        domain = _ascii_domain(reply_domain)
    except ValueError as error:
        raise PermanentSendError(f"the reply domain is unusable: {error}") from None
    return _address(name, f"reply+{token}@{domain}", what="Reply-To")


def _add_body(email: EmailMessage, message: OutboundMessage, files: Mapping[str, bytes]) -> None:
    email.set_content(message.body)
    html_part = None
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
        html_part = email.get_body(("html",))
    for attachment in message.attachments:
        if html_part is not None and attachment.content_id:
            _attach(html_part, attachment, files, inline=True)
        else:
            _attach(email, attachment, files, inline=False)
    for part in email.walk():
        if part is not email:  # the stdlib stamps MIME-Version on parts it converts
            del part["MIME-Version"]


def _attach(
    target: EmailMessage, attachment: Attachment, files: Mapping[str, bytes], *, inline: bool
) -> None:
    maintype, subtype = _content_type(attachment.content_type)
    add = target.add_related if inline else target.add_attachment
    add(
        _bytes_of(attachment, files),
        maintype=maintype,
        subtype=subtype,
        filename=_filename(attachment.filename),
        cid=f"<{attachment.content_id.strip('<>')}>" if attachment.content_id else None,
        disposition="inline" if inline else "attachment",
    )


def _bytes_of(attachment: Attachment, files: Mapping[str, bytes]) -> bytes:
    data = files.get(attachment.digest) if attachment.digest else None
    if data is None:
        raise PermanentSendError(
            f"attachment {attachment.filename!r} (digest {attachment.digest or 'none'}) "
            "has no stored bytes"
        )
    return data


def _content_type(value: str) -> tuple[str, str]:
    maintype, _, subtype = value.split(";", 1)[0].strip().lower().partition("/")
    valid = _MIME_TOKEN.fullmatch(maintype) and _MIME_TOKEN.fullmatch(subtype)
    if not valid or maintype in _OPAQUE_TYPES:
        return "application", "octet-stream"
    return maintype, subtype


def _filename(name: str) -> str:
    base = _one_line(name.replace("\\", "/").rsplit("/", 1)[-1])
    return base or "attachment"


def _clean_id(value: str) -> str | None:
    """`<id>` without whitespace; a bare id (no brackets) must at least hold an "@"."""
    candidate = "".join(value.split())
    if candidate and not candidate.startswith("<"):
        candidate = f"<{candidate}>" if "@" in candidate else ""
    return candidate if _MESSAGE_ID.fullmatch(candidate) else None


def _domain_of(address: str) -> str:
    domain = address.strip().rpartition("@")[2]
    try:
        return _ascii_domain(domain) if "@" in address else _ascii_domain("")
    except ValueError:
        raise PermanentSendError(f"the sender {address!r} is not an email address") from None


def _ascii_domain(domain: str) -> str:
    cleaned = domain.strip().strip(".").lower()
    try:
        ascii_domain = cleaned.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{domain!r} is not a valid domain name") from None
    if not ascii_domain or not re.fullmatch(r"[a-z0-9.-]+", ascii_domain):
        raise ValueError(f"{domain!r} is not a valid domain name")
    return ascii_domain


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
