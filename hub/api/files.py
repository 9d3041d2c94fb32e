"""Files sent with a request as base64 JSON: validated, decoded and named for the timeline."""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64decode

from pydantic import BaseModel, Field

from hub.errors import invalid
from timeline.events import Attachment


class FileIn(BaseModel):
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: str = Field(
        "application/octet-stream", max_length=200, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    content_base64: str = Field(description="the file's bytes, base64 (RFC 4648)")


def decode_files(files: list[FileIn], limit: int | None, field: str) -> list[Attachment]:
    """The files as attachments with their bytes and digests; 422 naming the offending file
    when one is not base64, or when the channel carries no files or not that many bytes."""
    if not files:
        return []
    decoded = []
    for index, file in enumerate(files):
        try:
            content = b64decode(file.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise invalid({f"{field}.{index}.content_base64": "not valid base64"}) from None
        decoded.append(
            Attachment(
                filename=file.filename,
                content_type=file.content_type.lower(),
                size=len(content),
                digest=hashlib.sha256(content).hexdigest(),
                content=content,
            )
        )
    if limit is None:
        raise invalid({field: "this channel cannot send files"})
    total = sum(a.size or 0 for a in decoded)
    if total > limit:
        raise invalid({field: f"{total} bytes of files; this channel sends at most {limit}"})
    return decoded
