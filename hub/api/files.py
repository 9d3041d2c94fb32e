"""Files sent with a request as base64 JSON: validated, decoded and named for the timeline."""

from __future__ import annotations

import hashlib
from base64 import b64decode

from pydantic import BaseModel, Field

from hub.api.framework import MAX_REQUEST_BYTES
from timeline.events import Attachment

BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""RFC 4648 base64 with its padding: every string it matches, b64decode(validate=True) decodes."""


class FileIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: str = Field(
        "application/octet-stream",
        max_length=200,
        pattern=r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$",
    )
    content_base64: str = Field(
        # No longer than the longest body the app reads (its client_max_size).
        max_length=MAX_REQUEST_BYTES,
        pattern=BASE64,
        description="the file's bytes, base64 (RFC 4648, padded)",
    )


def decode_files(files: list[FileIn]) -> list[Attachment]:
    """The files as attachments with their bytes and digests (FileIn's pattern has let through
    only what decodes); whether their channel carries them is the conversation service's to
    say."""
    decoded = []
    for file in files:
        content = b64decode(file.content_base64, validate=True)
        decoded.append(
            Attachment(
                filename=file.filename,
                content_type=file.content_type.lower(),
                size=len(content),
                digest=hashlib.sha256(content).hexdigest(),
                content=content,
            )
        )
    return decoded
