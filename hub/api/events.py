"""Timeline events' attachments: one file's bytes, for events of the caller's workspace only."""

from __future__ import annotations

from typing import Any

from hub.api.framework import ApiRoutes, Call, Download, Position
from hub.errors import ApiError, not_found
from hub.web_keys import HUB
from timeline.blobs import AttachmentNotKept, attachment_content
from timeline.policy import Permission

routes = ApiRoutes()


@routes.add(
    "GET",
    "/events/{event_id}/attachments/{attachment}",
    summary="Download the n-th attachment (from 0) of a timeline event",
    tag="events",
    response=Download,
    path_types={"attachment": Position},
    permission=Permission.CUSTOMERS_READ,
)
async def download_attachment(call: Call[Any, Any]) -> Download:
    async with call.request.app[HUB].reads.connect() as conn:
        try:
            found = await attachment_content(
                conn, call.principal.workspace_id, call.ids["event_id"], call.ids["attachment"]
            )
        except AttachmentNotKept as error:
            raise ApiError(
                404, "attachment_not_kept", f"attachment not kept: {error.reason}"
            ) from None
    if found is None:
        raise not_found("attachment")
    return Download(found.filename, found.content_type, found.content)
