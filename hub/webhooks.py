"""POST /webhooks/<kind>/<provider>/<webhook key>: verify, parse, commit, then acknowledge.

Nothing from a request that fails verification is kept: its body is read only up to the
channel's limit, decoded at most once for the check, and dropped with the answer. Failures
(an unknown key, a bad signature, an unreadable or oversized body) are counted per client
address; past the budget the answer is 429 instead. A correctly signed request is never
limited, whatever its address did.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web

from channels.base import SignatureInvalid, Transport, WebhookRequest
from hub.channel_directory import Channel, UnknownChannel
from hub.errors import error_response, too_many_failures, unavailable
from hub.intake import take_in
from hub.log_text import printable
from hub.rate_limit import FailureLimiter
from hub.request_bodies import UNSUPPORTED, BodyTooSlow, encoded, read_within
from hub.request_ids import client_address, counted_address
from hub.web_keys import HUB, WEBHOOK_FAILURES

log = logging.getLogger(__name__)

MAX_CONTENT_TYPE_CHARS = 200
"""As long as a stored payload's content type may be (timeline.models.RawPayloadRecord)."""


async def receive_webhook(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    kind, provider, key = (request.match_info[k] for k in ("kind", "provider", "channel_key"))
    channel = await _channel(request, key)
    if channel is None or (channel.kind, channel.provider) != (kind, provider):
        return _refused(request, 404, "not_found", "no such channel")
    content_type = request.headers.get(hdrs.CONTENT_TYPE, "")
    if len(content_type) > MAX_CONTENT_TYPE_CHARS:
        return _refused(request, 415, "unsupported_media_type", "Content-Type is too long")
    if encoded(request):
        return _refused(request, 415, "unsupported_encoding", UNSUPPORTED)
    limit = channel.adapter.capabilities.max_webhook_bytes
    try:
        body = await read_within(request, limit)
    except BodyTooSlow as slow:
        return _refused(request, 408, "request_timeout", str(slow))
    if body is None:
        too_large = f"this channel's webhooks carry at most {limit} bytes"
        return _refused(request, 413, "payload_too_large", too_large)
    webhook = WebhookRequest(
        url=hub.settings.base_url + request.rel_url.path_qs,
        headers=request.headers,
        body=body,
        content_type=content_type,
    )
    try:
        decoded = channel.adapter.verify(webhook)
    except SignatureInvalid as reason:
        return _refused(request, 403, "bad_signature", f"signature check failed: {reason}")
    try:
        result = await take_in(hub, channel, webhook.raw(), decoded)
    except Exception as error:
        log.error(
            "channel %s: webhook not taken in (%s: %s); asking the provider to retry",
            channel.context.channel_account_id,
            type(error).__name__,
            printable(error),
        )
        return unavailable("the hub cannot store this now; retry later")
    if result.error is not None:
        return error_response(
            400,
            "malformed_payload",
            f"{result.error} (kept as quarantine #{result.quarantined_id})",
        )
    text, content_type = channel.adapter.webhook_response()
    return web.Response(text=text, content_type=content_type)


async def _channel(request: web.Request, key: str) -> Channel | None:
    try:
        channel = await request.app[HUB].channels.by_webhook_key(key)
    except UnknownChannel:
        return None
    return channel if channel.transport is Transport.WEBHOOK else None


def _refused(request: web.Request, status: int, code: str, message: str) -> web.Response:
    """Answer a request that is not known to come from the provider, counting the failure
    against its address; an address past its budget is told to come back later (429)."""
    wait = request.app[WEBHOOK_FAILURES].fail(counted_address(request))
    if wait is not None:
        raise too_many_failures(wait, "too many refused webhooks from this address; retry later")
    log.warning(
        "webhook %s refused (%s) from %s: %s",
        printable(request.path),
        status,
        printable(client_address(request)),
        printable(message),
    )
    return error_response(status, code, message)


def add_routes(app: web.Application) -> None:
    app[WEBHOOK_FAILURES] = FailureLimiter()
    app.router.add_post("/webhooks/{kind}/{provider}/{channel_key}", receive_webhook)
