"""Request bodies are read as they were sent and only up to a limit: the server decodes no
Content-Encoding, a body that declares one is refused (415), and a body past its limit is
refused (413) as soon as that is known, before more of it is read.

aiohttp would otherwise inflate a gzip body as it arrives, before any handler could look at its
size or its signature: a 61 KB body under the SMS channel's 64 KB limit inflated to 60 MB, took
260 ms of CPU and raised the process's memory by 130 MB, without credentials. No provider
compresses its webhooks, and the API's clients need not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False}
"""The aiohttp request handler's options (`web.Application(handler_args=...)`)."""

UNSUPPORTED = "request bodies are read as sent: send this one without a Content-Encoding"
_READ_CHUNK = 64 * 1024


def encoded(request: web.Request) -> bool:
    """Whether the request's body declares a Content-Encoding other than identity."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    return encoding not in ("", "identity")


async def read_within(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is known to exceed `limit` (from its declared length, or
    while it is read: a chunked body declares none). The rest of a refused body is read and
    dropped by aiohttp for a few seconds (so a client still sending can read the answer),
    never kept."""
    declared = request.content_length
    if declared is not None:
        return await request.read() if declared <= limit else None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
