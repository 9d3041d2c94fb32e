"""POST /webhooks/<kind>/<provider>/<channel id>: verify, parse, commit, then acknowledge."""

from __future__ import annotations

import logging

from aiohttp import web

from channels.base import SignatureInvalid, WebhookRequest
from hub.channel_directory import UnknownChannel
from hub.errors import error_response
from hub.intake import take_in
from hub.web_keys import HUB

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 10 * 1024 * 1024


async def receive_webhook(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    kind, provider, channel_id = (request.match_info[k] for k in ("kind", "provider", "channel_id"))
    try:
        channel = await hub.channels.get(int(channel_id)) if channel_id.isdigit() else None
    except UnknownChannel:
        channel = None
    if channel is None or (channel.kind, channel.provider) != (kind, provider):
        return error_response(404, "not_found", "no such channel")
    body = await request.read()
    webhook = WebhookRequest(
        url=hub.settings.base_url + request.rel_url.path_qs,
        headers=request.headers,
        body=body,
        content_type=request.content_type,
    )
    try:
        channel.adapter.verify(webhook)
    except SignatureInvalid as reason:
        log.warning(
            "webhook for channel %s refused from %s: %s", channel_id, request.remote, reason
        )
        return error_response(403, "bad_signature", f"signature check failed: {reason}")
    result = await take_in(hub, channel, webhook.raw())
    if result.error is not None:
        return error_response(
            400,
            "malformed_payload",
            f"{result.error} (kept as quarantine #{result.quarantined_id})",
        )
    text, content_type = channel.adapter.webhook_response()
    return web.Response(text=text, content_type=content_type)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/{kind}/{provider}/{channel_id}", receive_webhook)
