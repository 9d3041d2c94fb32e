"""Requests are read as they were sent, only up to a limit and within a time: the server
decodes no Content-Encoding, a body that declares one is refused (415), a body past its limit
is refused (413) as soon as that is known, before more of it is read, and a client that sends
too slowly is answered 408 or disconnected.

aiohttp would otherwise inflate a gzip body as it arrives, before any handler could look at its
size or its signature: a 61 KB body under the SMS channel's 64 KB limit inflated to 60 MB, took
260 ms of CPU and raised the process's memory by 130 MB, without credentials. No provider
compresses its webhooks, and the API's clients need not. And it waits for a request's headers
or body for as long as the client likes (an idle connection for an hour): a stranger holding
connections open, sending a byte now and then, would use up the process's file descriptors.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import hdrs, web

IDLE_SECONDS = 15
"""A connection that has not sent a whole request line and headers within this time of opening,
or of its previous answer, is closed: idle keep-alive connections and slow senders alike."""
BODY_SECONDS = 20
MIN_BODY_BYTES_PER_SECOND = 1000
"""A body must arrive within BODY_SECONDS, plus a second for every MIN_BODY_BYTES_PER_SECOND
bytes that came: a large upload on a slow link goes on, a trickle of bytes does not."""

SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False, "keepalive_timeout": IDLE_SECONDS}
"""The aiohttp request handler's options (`web.Application(handler_args=...)`)."""

UNSUPPORTED = "request bodies are read as sent: send this one without a Content-Encoding"
TOO_SLOW = (
    f"the request body did not arrive in time ({BODY_SECONDS} s and a second per "
    f"{MIN_BODY_BYTES_PER_SECOND} bytes)"
)


class BodyTooSlow(Exception):
    """The body did not arrive within its time (BODY_SECONDS, MIN_BODY_BYTES_PER_SECOND)."""


def encoded(request: web.Request) -> bool:
    """Whether the request's body declares a Content-Encoding other than identity."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    return encoding not in ("", "identity")


async def read_within(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is known to exceed `limit` (from its declared length, or
    while it is read: a chunked body declares none); BodyTooSlow if it does not arrive in
    time. The rest of a refused body is read and dropped by aiohttp for a few seconds (so a
    client still sending can read the answer), never kept."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    if request.content.is_eof():  # all of it came with the headers: a webhook's few KB do
        body = await request.read()
        return body if len(body) <= limit else None
    deadline = asyncio.get_running_loop().time() + BODY_SECONDS
    chunks, size = [], 0
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await request.content.readany()
        except TimeoutError:
            raise BodyTooSlow(TOO_SLOW) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        deadline += len(chunk) / MIN_BODY_BYTES_PER_SECOND
