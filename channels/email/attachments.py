"""Turns a MIME part into a ParsedAttachment: safe filename, type, Content-ID, digest, size limit.

Every part that is not body text, inline images included, is an attachment: decoded filename
(RFC 2231 / RFC 2047, path parts removed), content type, size, Content-ID without <>, sha256
of the decoded bytes, and the bytes (Attachment.content, for the blob store) unless they
exceed the size limit (default 25 MiB, the channel's `max_attachment_bytes` setting): then
Attachment.too_large is set and only the metadata is kept.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from email.message import Message

from channels.email.headers import decode_header_text
from channels.email.parts import part_content_id
from timeline.events import Attachment

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    """One attachment or inline image: its metadata and, unless too large, its decoded bytes."""

    meta: Attachment
    inline: bool = False


def make_attachment(
    part: Message,
    ctype: str,
    payload: bytes,
    *,
    disposition: str | None,
    filename: str | None,
    number: int,
    max_bytes: int,
) -> ParsedAttachment:
    """The attachment for a part's decoded payload; `number` names it when it has no filename."""
    content_id = part_content_id(part)
    inline = disposition == "inline" or (disposition is None and content_id is not None)
    name = safe_filename(filename or "") or _default_filename(ctype, number)
    if ctype == "application/octet-stream":
        ctype = mimetypes.guess_type(name, strict=False)[0] or ctype
    too_large = len(payload) > max_bytes
    meta = Attachment(
        filename=name,
        content_type=ctype,
        size=len(payload),
        content_id=content_id,
        digest=hashlib.sha256(payload).hexdigest(),
        too_large=too_large,
        content=None if too_large else payload,
    )
    return ParsedAttachment(meta, inline)


def safe_filename(name: str) -> str:
    """A decoded attachment filename without path parts or control characters (<= 255 chars)."""
    text = decode_header_text(name)
    text = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if text in (".", ".."):
        return ""
    if len(text) > 255:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 16 else text[:255]
    return text


def _default_filename(ctype: str, index: int) -> str:
    known = {
        "message/rfc822": ".eml",
        "message/global": ".eml",
        "text/plain": ".txt",
        "text/calendar": ".ics",
        "image/jpeg": ".jpg",
    }
    ext = known.get(ctype) or mimetypes.guess_extension(ctype, strict=False)
    if ext is None:
        ext = ".txt" if ctype.startswith(("message/", "text/")) else ".bin"
    return f"{ctype.split('/')[0]}-{index}{ext}"
