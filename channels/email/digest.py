"""The content digest: one sha256 that a re-fetched or re-delivered copy of a message shares.

content_digest is the sha256 (hex) of a canonical form of the message's content: the line
"switchboard-email-content/v1", then for each of From, Sender, To, Cc, Subject, Date,
Message-ID, In-Reply-To, References (in that order) every occurrence as "name:value", the raw
value unfolded and its whitespace runs collapsed; then for every leaf MIME part in tree order
"part:<type/subtype>:<sha256>" over its transfer-decoded bytes (text/* and message/* parts with
line endings as LF, trailing blanks on lines and trailing empty lines removed). Trace and
delivery headers (Received, Return-Path, Delivered-To, X-Original-To, ARC-*,
Authentication-Results, X-Spam-* ...), line endings, header folding, MIME boundaries and
transfer encodings therefore do not count; two messages that share a Message-ID but differ in
one of those origin headers or in any byte of any part do.
"""

from __future__ import annotations

import hashlib
import re

from channels.email.headers import HeaderFields, unfold

_DIGEST_HEADERS = (
    "from",
    "sender",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
)
_TRAILING_BLANKS = re.compile(rb"[ \t]+$", re.M)


def content_digest(headers: HeaderFields, leaves: list[tuple[str, bytes]]) -> str:
    """sha256 of the canonical content form described in the module docstring."""
    digest = hashlib.sha256(b"switchboard-email-content/v1\n")
    for name in _DIGEST_HEADERS:
        for value in headers.all(name):
            canonical = " ".join(unfold(value).split())
            digest.update(f"{name}:{canonical}\n".encode("utf-8", "surrogateescape"))
    for ctype, payload in leaves:
        digest.update(f"part:{ctype}:{_leaf_digest(ctype, payload)}\n".encode())
    return digest.hexdigest()


def _leaf_digest(ctype: str, payload: bytes) -> str:
    if ctype.startswith(("text/", "message/")):
        payload = payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        payload = _TRAILING_BLANKS.sub(b"", payload).rstrip(b"\n")
    return hashlib.sha256(payload).hexdigest()
