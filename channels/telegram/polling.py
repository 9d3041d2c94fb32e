"""Long polling: each batch of updates is committed with the offset past it, then confirmed."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.warnings import PTBUserWarning

from channels.base import PullSink, SyncCounts
from channels.telegram.api_errors import retry_seconds
from channels.telegram.update import HANDLED_UPDATE_TYPES
from timeline.events import RawPayload

POLL_SECONDS = 50
"""How long one getUpdates waits for an update before answering with none."""
BATCH_LIMIT = 100
"""The most updates getUpdates hands out at once."""
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds between attempts after a network failure; the last repeats."""

# getUpdates is called raw on purpose (see UpdatePoller); python-telegram-bot would advise
# Bot.get_updates instead, once per process, in every serving hub's log.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


class UpdatePoller:
    """Fetches one bot's updates and hands them, as the raw JSON of each, to a pull sink.

    The offset is stored with each batch, in the sink's transaction, and only the next
    getUpdates with it lets Telegram forget the batch: a poller killed between fetching and
    committing fetches the same updates again and loses none, and one killed after
    committing starts past them and doubles none.

    Updates are fetched raw (not through python-telegram-bot's Update objects): an update the
    library cannot read (a field a newer Bot API made required, say) must still be stored, or
    quarantined by the parser, rather than stop the poller at that offset forever.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        poll_seconds: int = POLL_SECONDS,
        limit: int = BATCH_LIMIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._poll_seconds = poll_seconds
        self._limit = limit
        self._sleep = sleep

    async def pull(
        self, sink: PullSink, *, once: bool, progress: Callable[[SyncCounts], None] | None = None
    ) -> SyncCounts:
        """Fetch and commit batch after batch; with `once`, stop when Telegram has no more
        (and let a network failure raise), else wait for updates and retry failures forever."""
        offset = _offset(await sink.load_cursor())
        total = SyncCounts()
        while True:
            updates = await self._fetch(offset, once=once)
            if not updates:
                if once:
                    return total
                continue
            offset = _next_offset(updates)
            counts = await sink.commit([_raw(update) for update in updates], {"offset": offset})
            total += counts
            if progress is not None:
                progress(counts)

    async def _fetch(self, offset: int | None, *, once: bool) -> list[dict[str, Any]]:
        wait = 0 if once else self._poll_seconds
        parameters: dict[str, Any] = {
            "timeout": wait,
            "limit": self._limit,
            "allowed_updates": list(HANDLED_UPDATE_TYPES),
        }
        if offset is not None:
            parameters["offset"] = offset
        failures = 0
        while True:
            try:
                result = await self._bot.do_api_request(
                    "getUpdates", api_kwargs=parameters, read_timeout=wait + 10
                )
            except RetryAfter as error:
                await self._sleep(retry_seconds(error))
                continue
            except BadRequest:
                raise
            except NetworkError:
                if once:
                    raise
                await self._sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            if not isinstance(result, list) or not all(isinstance(u, dict) for u in result):
                raise ValueError("getUpdates answered something other than a list of updates")
            return result


def _offset(cursor: Mapping[str, Any] | None) -> int | None:
    offset = (cursor or {}).get("offset")
    return offset if isinstance(offset, int) and not isinstance(offset, bool) else None


def _next_offset(updates: list[dict[str, Any]]) -> int:
    """Past the newest update with a numeric id; one without (a malformed update, quarantined
    by the parser like any other) does not hold the others back."""
    ids = [
        update_id
        for update_id in (update.get("update_id") for update in updates)
        if isinstance(update_id, int) and not isinstance(update_id, bool)
    ]
    if not ids:
        raise ValueError("getUpdates answered no update with a numeric update_id")
    return max(ids) + 1


def _raw(update: Mapping[str, Any]) -> RawPayload:
    """One update as the bytes a webhook would have carried: the same update fetched twice
    gives the same bytes, hence the same digest."""
    body = json.dumps(update, separators=(",", ":")).encode("ascii")
    return RawPayload(content_type="application/json", body=body)
