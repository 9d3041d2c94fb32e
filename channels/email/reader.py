"""Reads one mailbox into a PullSink: batches committed before the cursor moves, reconnecting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from channels.base import PullSink, SyncCounts
from channels.email.imap import MAX_BATCH_SIZE, ImapMailbox, MailboxCursor
from channels.email.imap_errors import ImapAuthFailed, ImapConnectionLost
from channels.email.imap_url import AfterImport, MailboxUrl
from timeline.events import RawPayload

log = logging.getLogger(__name__)

MESSAGE_CONTENT_TYPE = "message/rfc822"
IDLE_RENEWAL_SECONDS = 25 * 60
"""RFC 2177: re-issue IDLE at least every 29 minutes or servers may drop the connection."""


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    after_import: AfterImport = AfterImport(kind="none")
    batch_size: int = 100
    first_retry_seconds: float = 1.0
    longest_retry_seconds: float = 300.0
    gives_up_after: int | None = None
    """With `once`, how many reconnections in a row before giving up (None: never)."""


class MailboxReader:
    """One long-running reader per mailbox; `once` makes it a backfill that stops when caught up."""

    def __init__(self, url: MailboxUrl, settings: ReaderSettings, **mailbox_options: Any) -> None:
        self._url = url
        self._settings = settings
        self._mailbox_options = mailbox_options

    async def pull(
        self, sink: PullSink, *, once: bool, progress: Callable[[SyncCounts], None] | None = None
    ) -> SyncCounts:
        total = SyncCounts()
        failures = 0
        while True:
            try:
                async with ImapMailbox(self._url, **self._mailbox_options) as mailbox:
                    failures = 0
                    while True:
                        total += await self._import_new(mailbox, sink, total, progress)
                        if once:
                            return total
                        await mailbox.wait_for_changes(timeout=IDLE_RENEWAL_SECONDS)
            except (ImapConnectionLost, ImapAuthFailed) as error:
                failures += 1
                limit = self._settings.gives_up_after
                if once and limit is not None and failures > limit:
                    raise
                auth = isinstance(error, ImapAuthFailed)
                delay = reconnect_delay(self._settings, failures, auth=auth)
                log.warning("mailbox %s: %s; reconnecting in %.1f s", self._url, error, delay)
                await asyncio.sleep(delay)
            except Exception:
                if once:
                    raise
                failures += 1
                delay = reconnect_delay(self._settings, failures, auth=False)
                log.exception("mailbox %s: import failed; retrying in %.1f s", self._url, delay)
                await asyncio.sleep(delay)

    async def _import_new(
        self,
        mailbox: ImapMailbox,
        sink: PullSink,
        total: SyncCounts,
        progress: Callable[[SyncCounts], None] | None,
    ) -> SyncCounts:
        counts = SyncCounts()
        cursor = _cursor(await sink.load_cursor())
        async for batch in mailbox.fetch_since(
            cursor, min(self._settings.batch_size, MAX_BATCH_SIZE)
        ):
            payloads = [RawPayload(MESSAGE_CONTENT_TYPE, message.raw) for message in batch]
            moved_to = mailbox.cursor_after(batch)
            counts += await sink.commit(payloads, _cursor_json(moved_to))
            if self._settings.after_import.kind != "none":
                await mailbox.after_import([m.uid for m in batch], self._settings.after_import)
            if progress is not None:
                progress(total + counts)
        return counts


def reconnect_delay(settings: ReaderSettings, failures: int, *, auth: bool) -> float:
    """How long a reader waits after `failures` in a row: doubling from the first delay (the
    longest at once when refused its login), at most the longest. The exponent is bounded: past
    1,024 failures the float would overflow and the reader die of its own backoff."""
    first = settings.longest_retry_seconds if auth else settings.first_retry_seconds
    return min(first * 2 ** min(failures - 1, 32), settings.longest_retry_seconds)


def _cursor(stored: Mapping[str, Any] | None) -> MailboxCursor | None:
    if not stored:
        return None
    return MailboxCursor(uidvalidity=int(stored["uidvalidity"]), last_uid=int(stored["last_uid"]))


def _cursor_json(cursor: MailboxCursor) -> dict[str, int]:
    return {"uidvalidity": cursor.uidvalidity, "last_uid": cursor.last_uid}
