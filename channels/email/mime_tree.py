"""Walks a message's MIME tree: body renderings, attachments, digest leaves, delivery reports.

Body text is the text/plain parts (format=flowed joined) and the text/html parts of the last
rendering of each multipart/alternative that has them; every other leaf is an attachment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from email.message import Message
from email.parser import HeaderParser

from channels.email.attachments import ParsedAttachment, make_attachment
from channels.email.automated import failed_recipients
from channels.email.charsets import decode_text, html_meta_charset, usable_as_hint
from channels.email.flowed import unflow
from channels.email.headers import HeaderFields, decode_header_text, first_message_id
from channels.email.parts import (
    decoded_payload,
    part_children,
    part_content_type,
    part_disposition,
    part_filename,
    part_param,
    part_params,
    serialized,
)

_MAX_DEPTH = 32
_BODY_TYPES = ("text/plain", "text/html")
_DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


@dataclass
class MimeContents:
    """What the walk over the MIME tree collects."""

    max_bytes: int
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    leaves: list[tuple[str, bytes]] = field(default_factory=list)
    report_types: list[str] = field(default_factory=list)
    delivery_status: bool = False
    bounced: list[str] = field(default_factory=list)
    bounced_message_id: str | None = None
    charset_hint: str | None = None
    defects: list[str] = field(default_factory=list)
    seen: set[tuple[str | None, str, str | None]] = field(default_factory=set)

    def attach(
        self,
        part: Message,
        ctype: str,
        payload: bytes,
        disposition: str | None,
        filename: str | None,
    ) -> None:
        attachment = make_attachment(
            part,
            ctype,
            payload,
            disposition=disposition,
            filename=filename,
            number=len(self.attachments) + 1,
            max_bytes=self.max_bytes,
        )
        key = (attachment.meta.digest, attachment.meta.filename, attachment.meta.content_id)
        if key not in self.seen:
            self.seen.add(key)
            self.attachments.append(attachment)
        if attachment.meta.too_large:
            self.defects.append(f"attachment over {self.max_bytes} bytes kept as metadata only")


@dataclass(frozen=True, slots=True)
class _Wanted:
    """Which body renderings a subtree may supply, and whether it sits inside a report."""

    plain: bool = True
    html: bool = True
    in_report: bool = False


def walk_message(msg: Message, max_attachment_bytes: int) -> MimeContents:
    """Everything the message's MIME tree holds, collected in one walk."""
    contents = MimeContents(max_bytes=max_attachment_bytes)
    _walk(msg, contents, 0, _Wanted())
    return contents


def _walk(part: Message, out: MimeContents, depth: int, wanted: _Wanted) -> None:
    if depth > _MAX_DEPTH:
        out.defects.append(f"MIME parts nested deeper than {_MAX_DEPTH} levels ignored")
        return
    ctype = part_content_type(part)
    if ctype in _DELIVERY_STATUS_TYPES:
        _delivery_status(part, ctype, out)
    elif ctype.startswith("message/") and part.is_multipart():
        _attached_message(part, ctype, out, wanted.in_report)
    elif part.is_multipart():
        _walk_multipart(part, ctype, out, depth, wanted)
    else:
        _walk_leaf(part, ctype, out, wanted)


def _walk_multipart(
    part: Message, ctype: str, out: MimeContents, depth: int, wanted: _Wanted
) -> None:
    children = part_children(part)
    if ctype == "multipart/alternative":
        _walk_alternative(children, out, depth, wanted)
        return
    if ctype == "multipart/report":
        out.report_types.append((part_param(part, "report-type") or "").lower())
        wanted = replace(wanted, in_report=True)
    for child in children:
        _walk(child, out, depth + 1, wanted)


def _walk_alternative(
    children: list[Message], out: MimeContents, depth: int, wanted: _Wanted
) -> None:
    """Read the last plain and the last HTML rendering; other renderings count for the digest
    only, while their attachments (text/calendar, images) are kept."""
    plain = _last_containing(children, "text/plain")
    html = _last_containing(children, "text/html")
    for child in children:
        child_wanted = replace(
            wanted, plain=wanted.plain and child is plain, html=wanted.html and child is html
        )
        _walk(child, out, depth + 1, child_wanted)


def _last_containing(children: list[Message], ctype: str) -> Message | None:
    found = [c for c in children if _contains(c, ctype, 0)]
    return found[-1] if found else None


def _contains(part: Message, ctype: str, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if part_content_type(part) == ctype and not part.is_multipart():
        return part_disposition(part) != "attachment" and not part_filename(part)
    if part.is_multipart() and part_content_type(part).startswith("multipart/"):
        return any(_contains(c, ctype, depth + 1) for c in part_children(part))
    return False


def _walk_leaf(part: Message, ctype: str, out: MimeContents, wanted: _Wanted) -> None:
    payload = decoded_payload(part, out.defects)
    out.leaves.append((ctype, payload))
    if ctype.startswith("multipart/"):
        ctype = "text/plain"  # a multipart without a boundary: its body is all we have
    disposition = part_disposition(part)
    filename = part_filename(part)
    if ctype in _BODY_TYPES and disposition != "attachment" and not filename:
        _add_body_text(part, ctype, payload, out, wanted)
        return
    if wanted.in_report and ctype == "text/rfc822-headers" and out.bounced_message_id is None:
        headers = HeaderParser().parsestr(payload.decode("ascii", "surrogateescape"))
        out.bounced_message_id = first_message_id(headers.get("message-id"))
    out.attach(part, ctype, payload, disposition, filename)


def _add_body_text(
    part: Message, ctype: str, payload: bytes, out: MimeContents, wanted: _Wanted
) -> None:
    params = part_params(part)
    charset = params.get("charset")
    if out.charset_hint is None and usable_as_hint(charset):
        out.charset_hint = charset
    if ctype == "text/html":
        if wanted.html:
            html_charset = charset or html_meta_charset(payload)
            out.html.append(_lf(decode_text(payload, html_charset, hint=out.charset_hint)))
        return
    if wanted.plain:
        text = _lf(decode_text(payload, charset, hint=out.charset_hint))
        if params.get("format", "").lower() == "flowed":
            text = unflow(text, delsp=params.get("delsp", "").lower() == "yes")
        out.plain.append(text)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _attached_message(part: Message, ctype: str, out: MimeContents, in_report: bool) -> None:
    inner = part_children(part)
    data = serialized(inner[0]) if inner else b""
    out.leaves.append((ctype, data))
    if inner and in_report and out.bounced_message_id is None:
        out.bounced_message_id = first_message_id(HeaderFields.of(inner[0]).first("message-id"))
    filename = part_filename(part)
    if not filename and inner:
        subject = decode_header_text(HeaderFields.of(inner[0]).first("subject") or "")
        filename = f"{subject[:100]}.eml" if subject else None
    out.attach(part, ctype, data, part_disposition(part), filename)


def _delivery_status(part: Message, ctype: str, out: MimeContents) -> None:
    """A DSN's machine-readable part: failed recipients, kept as a text attachment too."""
    out.delivery_status = True
    text = _delivery_status_text(part, out)
    out.bounced.extend(failed_recipients(text))
    data = text.encode("utf-8", "surrogateescape")
    out.leaves.append((ctype, data))
    out.attach(part, ctype, data, None, "delivery-status.txt")


def _delivery_status_text(part: Message, out: MimeContents) -> str:
    """The status fields as text, whether the library split them into blocks or not."""
    children = part_children(part)
    if not children:
        return _lf(decoded_payload(part, out.defects).decode("utf-8", "surrogateescape"))
    chunks = []
    for child in children:
        chunks.append("\n".join(f"{k}: {_lf(v)}" for k, v in child.raw_items()))
        body = decoded_payload(child, out.defects)
        rest = _lf(body.decode("utf-8", "surrogateescape")).strip("\n")
        if rest.strip():
            chunks.append(rest)  # global DSNs: the per-recipient blocks follow as a body
    return "\n\n".join(chunks)
