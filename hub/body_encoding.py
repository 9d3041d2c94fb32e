"""Request bodies are read as they were sent: the server decodes no Content-Encoding, and a
body that declares one is refused (415) where bodies are read.

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


def encoded(request: web.Request) -> bool:
    """Whether the request's body declares a Content-Encoding other than identity."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    return encoding not in ("", "identity")
