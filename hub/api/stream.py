"""`/api/v1/stream`: the caller's workspace's domain events over a WebSocket, live, resumable
from the last event id a client saw, shown through the field rules (timeline.policy)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, Field

from hub.api.framework import DIGITS_ONLY, NO_NUL, ApiRoutes, Call, Caller, Upgraded
from hub.auth import Principal
from hub.callers import principal_now
from hub.context import Hub
from hub.errors import ApiError
from hub.realtime import Subscription
from hub.web_keys import HUB
from storage.uninterrupted import to_the_end
from timeline.customer_fields import sensitive_names
from timeline.domain import LoggedEvent
from timeline.event_log import last_position, read_after
from timeline.models.base import MAX_BIGINT
from timeline.policy import Permission, visible_event_data

log = logging.getLogger(__name__)
routes = ApiRoutes()

PAGE = 200
"""Events read from the log at a time."""
RINGS_KEPT = 1000
"""Events a connection's subscription keeps unread; past that it reads the log instead."""
CATCH_UP_SECONDS = 10.0
"""How often a connection reads the log though no publish rang (one may have been lost)."""
HEARTBEAT_SECONDS = 30.0
SEND_SECONDS = 20.0
"""How long a client may take to accept one message before it is told to resume later."""
RESUME_LATER = 4000
"""Close code: the client fell behind; reconnect with the last event id it received."""
CREDENTIAL_ENDED = 4001
"""Close code: the token was revoked or expired, or the session ended: sign in again."""


class StreamQuery(BaseModel):
    last_event_id: Annotated[int, Field(ge=0, le=MAX_BIGINT), DIGITS_ONLY] | None = None
    """The id of the last event the client received: it first gets every later one (0: the
    workspace's whole log). Without it, the stream starts with the next event."""
    access_token: Annotated[str, Field(max_length=200, pattern=NO_NUL)] | None = None
    """The API token, for clients that cannot send an Authorization header (browsers)."""


@routes.add(
    "GET",
    "/stream",
    summary="Stream the workspace's domain events (WebSocket)",
    tag="stream",
    response=Upgraded,
    query=StreamQuery,
    status=101,
    token_in_query=True,
)
async def stream(call: Call[Any, StreamQuery]) -> Upgraded:
    """A WebSocket of the caller's workspace's domain events, oldest first, each one once, as a
    JSON text message: `{"id", "type", "data", "logged_at"}`. The token goes in the
    Authorization header, or (browsers) in `access_token`. To resume after a disconnect, pass
    the last `id` received as `last_event_id`: what was missed comes first, then live events,
    with no gap and no repeat. The server pings every 30 s. A client that does not take a
    message within 20 s is closed with code 4000: reconnect with `last_event_id`. The
    credential is asked again before every batch of events and at least every 10 s: once the
    token is revoked or expired, or the session ended, nothing more is sent and the stream
    closes with code 4001. Custom field values (`data.fields`) come through the field rules
    of the caller's role as it is then, as the customer API shows them: sensitive ones only
    to roles with customers.sensitive_fields."""
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    if not socket.can_prepare(call.request).ok:
        raise ApiError(
            426,
            "upgrade_required",
            "this endpoint speaks WebSocket: connect with an Upgrade: websocket request",
            headers={"Upgrade": "websocket"},
        )
    hub = call.request.app[HUB]
    # Subscribed before the log is read: an event committed after that read rings here.
    subscription = await hub.bus.subscribe(RINGS_KEPT)
    try:
        position = call.query.last_event_id
        if position is None:
            async with hub.reads.connect() as conn:
                position = await last_position(conn)
        await socket.prepare(call.request)
        assert call.caller is not None  # the stream is not public
        sending = asyncio.create_task(_sending(socket, hub, call.caller, subscription, position))
        try:
            async for message in socket:  # the client's frames: pongs and its close
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
    finally:
        hub.bus.unsubscribe(subscription)
    return Upgraded(socket)


async def _sending(
    socket: web.WebSocketResponse,
    hub: Hub,
    caller: Caller,
    subscription: Subscription,
    position: int,
) -> None:
    """Send the workspace's events after `position`, read from the log, whenever a publish
    rings for them (or every CATCH_UP_SECONDS): log ids ascend in commit order, so reading by
    position skips nothing and repeats nothing, whatever order publishes arrive in. Closes with
    RESUME_LATER when the client does not take a message in time, with CREDENTIAL_ENDED once
    the caller's credential no longer holds, and with 1011 when reading the log fails (the
    database went away): but for the credential, the client resumes from its last id."""
    workspace_id = caller.principal.workspace_id
    try:
        while True:
            # This task is cancelled when its client leaves: the read finishes and gives its
            # connection back first (storage.uninterrupted).
            page = await to_the_end(_page(hub, caller, position))
            if page is None:
                await socket.close(code=CREDENTIAL_ENDED, message=b"sign in again")
                return
            principal, events, hidden = page
            for event in events:
                message = _message(principal, event, hidden)
                if _visible(principal, event) and not await _taken(socket, message):
                    await socket.close(code=RESUME_LATER, message=b"resume from last_event_id")
                    return
                position = event.id
            if len(events) < PAGE:
                await _rung(subscription, workspace_id, position)
    except ConnectionResetError:
        return  # the client went away
    except Exception:
        log.exception("the stream of workspace %d failed", workspace_id)
        await socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"resume from last_event_id")


async def _page(
    hub: Hub, caller: Caller, position: int
) -> tuple[Principal, list[LoggedEvent], frozenset[str]] | None:
    """The caller's principal as it stands now, the workspace's next events after `position`
    and the custom fields hidden from the caller (read only when there are events); None once
    the caller's credential no longer holds. The credential is asked after the events are
    read, so an event logged after a revocation committed is never sent."""
    workspace_id = caller.principal.workspace_id
    async with hub.reads.connect() as conn:
        events = await read_after(conn, position, limit=PAGE, workspace_id=workspace_id)
        principal = await principal_now(hub, conn, caller)
        if principal is None:
            return None
        hidden = await _hidden_fields(conn, principal) if events else frozenset()
    return principal, events, hidden


async def _hidden_fields(conn: Any, principal: Principal) -> frozenset[str]:
    """The custom fields whose values the caller may not see (none read when they see all)."""
    if principal.may(Permission.CUSTOMERS_SENSITIVE_FIELDS):
        return frozenset()
    return await sensitive_names(conn, principal.workspace_id)


async def _taken(socket: web.WebSocketResponse, message: str) -> bool:
    """Whether the client took the message within SEND_SECONDS."""
    try:
        async with asyncio.timeout(SEND_SECONDS):
            await socket.send_str(message)
    except TimeoutError:
        return False
    return True


async def _rung(subscription: Subscription, workspace_id: int, position: int) -> None:
    """Until a publish tells of the workspace's events after `position` (or of more than the
    subscription kept), or CATCH_UP_SECONDS pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CATCH_UP_SECONDS):
            while True:
                events = await subscription.next()
                if events is None or any(
                    e.workspace_id == workspace_id and e.id > position for e in events
                ):
                    return


def _visible(principal: Principal, event: LoggedEvent) -> bool:
    """Whether the caller may see the event: all of their workspace's (what each role sees
    of an event's data is the field rules' to decide, in `_message`)."""
    return event.workspace_id == principal.workspace_id


def _message(principal: Principal, event: LoggedEvent, hidden: frozenset[str]) -> str:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "data": visible_event_data(principal.permissions, event.data, hidden),
            "logged_at": event.logged_at.isoformat(),
        }
    )
