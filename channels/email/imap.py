"""IMAP transport for the email channel: a mailbox read in UID batches, IDLE, after-import."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from aioimaplib import aioimaplib

from channels.email.imap_errors import ImapCommandFailed, ImapConnectionLost
from channels.email.imap_responses import (
    FetchedMessage,
    encode_mailbox_name,
    is_new_mail_push,
    parse_fetch_lines,
    parse_sizes,
    response_code_number,
    response_text,
    search_ranges,
)
from channels.email.imap_session import DEFAULT_TIMEOUT, ImapSession
from channels.email.imap_url import AfterImport, MailboxUrl
from channels.email.uid_sets import (
    UidRange,
    batch_ranges,
    batches_within,
    chunk_ranges,
    clip_ranges,
    format_uid_set,
    uid_ranges,
)

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 30.0
FETCH_ITEMS = "(UID FLAGS BODY.PEEK[])"
# aioimaplib parses a received chunk recursively, one stack frame per response line (two per
# fetched message): ~500 small messages arriving in one chunk overflow Python's stack.
MAX_BATCH_SIZE = 200
BATCH_BYTES = 32 * 1024 * 1024
"""The most message bytes fetched in one batch (a message larger than this comes alone):
counted in messages only, a batch of 100 mails of 25 MB each was held in memory at once,
several times over while parsed, and a process killed by it fetched the same batch again."""
_MAX_RANGES_PER_COMMAND = 500


@dataclass(frozen=True, slots=True)
class MailboxCursor:
    """How far a mailbox has been imported: valid only while the UIDVALIDITY is unchanged."""

    uidvalidity: int
    last_uid: int


class ImapMailbox(ImapSession):
    """One logged-in IMAP connection with one mailbox selected read-write.

    Use it from one task at a time; a dropped or silent server raises ImapConnectionLost
    instead of hanging (see ImapSession), and connect() then starts over.
    """

    def __init__(
        self,
        url: MailboxUrl | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        use_idle: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        ignore_capabilities: Iterable[str] = (),
    ) -> None:
        super().__init__(
            url, timeout=timeout, ssl_context=ssl_context, ignore_capabilities=ignore_capabilities
        )
        self._use_idle = use_idle
        self._poll_interval = poll_interval
        self._uidvalidity: int | None = None
        self._high_uid = 0
        self._folders_ready: set[str] = set()

    @property
    def uidvalidity(self) -> int:
        """The selected mailbox's UIDVALIDITY; a cursor from another value is void."""
        if self._uidvalidity is None:
            raise RuntimeError("ImapMailbox is not connected")
        return self._uidvalidity

    def cursor_after(self, batch: Sequence[FetchedMessage]) -> MailboxCursor:
        """The cursor to store once `batch` (from fetch_since) is safely imported."""
        if not batch:
            raise ValueError("an empty batch moves no cursor")
        return MailboxCursor(uidvalidity=self.uidvalidity, last_uid=max(m.uid for m in batch))

    # -- reading

    async def fetch_since(
        self, cursor: MailboxCursor | None, batch_size: int = 100
    ) -> AsyncIterator[list[FetchedMessage]]:
        """Yield the messages after the cursor in ascending UID order, `batch_size` at a time.

        A missing cursor, or one from another UIDVALIDITY, starts over from UID 1 (the caller
        dedupes); `self.uidvalidity` tells the new value. BODY.PEEK leaves messages unseen.
        """
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be from 1 to {MAX_BATCH_SIZE}, not {batch_size}")
        after = self._start_after(cursor)
        ranges = await self._uids_after(after)
        for uid_ranges_batch in batch_ranges(ranges, batch_size):
            for within_bytes in batches_within(await self._sizes(uid_ranges_batch), BATCH_BYTES):
                batch = await self._fetch_batch(within_bytes, after)
                if batch:
                    yield batch

    async def wait_for_changes(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True when mail newer than any UID that fetch_since
        has listed may have arrived (and at once when some already has).

        Uses IDLE when offered, else polls every `poll_interval`. Cancelling this call (like
        any call cancelled mid-command) drops the connection; pass a timeout instead.
        """
        if await self._has_new_uids():
            return True
        if self._use_idle and "IDLE" in self._capabilities:
            return await self._idle(timeout)
        return await self._poll(timeout)

    # -- after import

    async def after_import(self, uids: Iterable[int], action: str | AfterImport) -> None:
        """Mark imported messages seen, or move them to a folder (created when missing)."""
        plan = action if isinstance(action, AfterImport) else AfterImport.parse(action)
        ranges = uid_ranges(uids)
        if plan.kind == "none" or not ranges:
            return
        if plan.kind == "seen":
            await self._store(ranges, "+FLAGS.SILENT", r"(\Seen)")
            return
        assert plan.folder is not None
        await self._move(ranges, plan.folder)

    # -- connection plumbing

    async def _after_login(self) -> None:
        """SELECT the mailbox, forgetting which folders the last connection saw."""
        self._folders_ready.clear()
        await self._select()

    async def _select(self) -> None:
        response = await self._guard(
            self._imap.select(encode_mailbox_name(self.url.mailbox)), "SELECT"
        )
        if response.result != "OK":
            raise ImapCommandFailed(
                f"cannot open mailbox {self.url.mailbox!r} on {self._server}: "
                f"{response_text(response)}"
            )
        uidvalidity = response_code_number(response.lines, b"UIDVALIDITY")
        if uidvalidity is None:
            raise ImapCommandFailed(f"{self._server} sent no UIDVALIDITY for {self.url.mailbox!r}")
        self._uidvalidity = uidvalidity
        uidnext = response_code_number(response.lines, b"UIDNEXT")
        self._high_uid = uidnext - 1 if uidnext else 0

    # -- reading plumbing

    def _start_after(self, cursor: MailboxCursor | None) -> int:
        if cursor is None:
            return 0
        if cursor.uidvalidity != self.uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed from %s to %s: importing it again from UID 1",
                self.url,
                cursor.uidvalidity,
                self.uidvalidity,
            )
            return 0
        return cursor.last_uid

    async def _uids_after(self, after: int) -> list[UidRange]:
        """UIDs above `after` as ranges: ESEARCH keeps the answer small on huge mailboxes."""
        # A session only sees messages the server has announced with EXISTS, and Dovecot
        # announces them after a command has run: a NOOP first makes the SEARCH see new mail.
        await self._checked(self._imap.noop(), "NOOP")
        criteria = f"{after + 1}:*"
        extended = "ESEARCH" in self._capabilities
        if extended:
            command = aioimaplib.Command(
                "SEARCH",
                self._imap.protocol.new_tag(),
                "RETURN",
                "(ALL)",
                "UID",
                criteria,
                prefix="UID",
                untagged_resp_name="ESEARCH",
                loop=asyncio.get_running_loop(),
            )
            awaitable = self._imap.protocol.execute(command)
        else:
            awaitable = self._imap.uid_search("UID", criteria, charset=None)
        response = await self._checked(awaitable, "UID SEARCH")
        ranges = clip_ranges(search_ranges(response, extended), after)
        if ranges:
            self._high_uid = max(self._high_uid, ranges[-1][1])
        return ranges

    async def _sizes(self, ranges: list[UidRange]) -> list[tuple[int, int]]:
        """(uid, size) of the messages in `ranges` (those expunged meanwhile left out)."""
        response = await self._guard(
            self._imap.uid("fetch", format_uid_set(ranges), "(RFC822.SIZE)"), "UID FETCH"
        )
        self._fetched(response, f"UID FETCH {format_uid_set(ranges)} (RFC822.SIZE)")
        return parse_sizes(response.lines[:-1])

    async def _fetch_batch(self, ranges: list[UidRange], after: int) -> list[FetchedMessage]:
        uid_set = format_uid_set(ranges)
        # aioimaplib's FETCH timeout restarts on every chunk received, so a big message on a
        # slow link is fine while a silent server still times out.
        fetching = self._imap.uid("fetch", uid_set, FETCH_ITEMS)
        response = await self._guard(fetching, "UID FETCH", timeout=None)
        self._fetched(response, f"UID FETCH {uid_set}")
        wanted = {uid for lo, hi in ranges for uid in range(lo, hi + 1) if uid > after}
        try:
            fetched = parse_fetch_lines(response.lines[:-1])
        except ImapConnectionLost:
            self._abort()
            raise
        by_uid = {message.uid: message for message in fetched if message.uid in wanted}
        return [by_uid[uid] for uid in sorted(by_uid)]

    def _fetched(self, response: aioimaplib.Response, command: str) -> None:
        """ImapCommandFailed unless the FETCH succeeded (in part, when messages it named were
        expunged meanwhile: those are simply not in its answer)."""
        text = response_text(response)
        if response.result != "OK" and "EXPUNGEISSUED" not in text.upper():
            raise ImapCommandFailed(f"{command} failed on {self._server}: {text}")

    async def _has_new_uids(self) -> bool:
        known = self._high_uid
        return bool(await self._uids_after(known))

    async def _idle(self, timeout: float) -> bool:
        self._drain_idle_queue()
        # aioimaplib's own IDLE timer would stop the wait early; ours is the deadline.
        idle = await self._guard(self._imap.idle_start(timeout=timeout + 60), "IDLE")
        try:
            return await self._wait_for_push(timeout)
        except BaseException:
            idle.cancel()
            self._abort()
            raise
        finally:
            if self.connected:
                await self._end_idle(idle)

    async def _wait_for_push(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            lines = await self._next_push(remaining)
            if lines is None or lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                return False
            if is_new_mail_push(lines):
                return True
        return False

    async def _next_push(self, timeout: float) -> list[bytes] | None:
        assert self._lost is not None
        getter = asyncio.ensure_future(self._imap.wait_server_push(timeout))
        try:
            done, _ = await asyncio.wait({getter, self._lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            getter.cancel()
            raise
        if getter in done:
            try:
                return list(getter.result())
            except TimeoutError:
                return None
        getter.cancel()
        raise ImapConnectionLost(f"IMAP connection to {self._server} lost during IDLE")

    async def _end_idle(self, idle: asyncio.Future[aioimaplib.Response]) -> None:
        if not idle.done():
            self._imap.idle_done()
        await self._guard(idle, "IDLE DONE")
        self._drain_idle_queue()

    def _drain_idle_queue(self) -> None:
        queue = self._imap.protocol.idle_queue
        while not queue.empty():
            queue.get_nowait()

    async def _poll(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self._poll_interval, remaining))
            if await self._has_new_uids():
                return True
        return False

    # -- after-import plumbing

    async def _store(self, ranges: list[UidRange], mode: str, flags: str) -> None:
        for chunk in chunk_ranges(ranges, _MAX_RANGES_PER_COMMAND):
            uid_set = format_uid_set(chunk)
            await self._checked(self._imap.uid("store", uid_set, mode, flags), "UID STORE")

    async def _move(self, ranges: list[UidRange], folder: str) -> None:
        if _same_mailbox(folder, self.url.mailbox):
            raise ValueError(f"cannot move messages from {folder!r} into itself")
        await self._ensure_folder(folder)
        target = encode_mailbox_name(folder)
        for chunk in chunk_ranges(ranges, _MAX_RANGES_PER_COMMAND):
            uid_set = format_uid_set(chunk)
            if "MOVE" in self._capabilities:
                await self._checked(self._imap.uid("move", uid_set, target), "UID MOVE")
            else:
                await self._copy_and_expunge(chunk, uid_set, target)

    async def _copy_and_expunge(self, chunk: list[UidRange], uid_set: str, target: str) -> None:
        await self._checked(self._imap.uid("copy", uid_set, target), "UID COPY")
        await self._store(chunk, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in self._capabilities:
            await self._checked(self._imap.uid("expunge", uid_set), "UID EXPUNGE")
        else:
            # Without UIDPLUS, EXPUNGE also removes other messages already marked \Deleted.
            await self._checked(self._imap.expunge(), "EXPUNGE")

    async def _ensure_folder(self, folder: str) -> None:
        if folder in self._folders_ready:
            return
        name = encode_mailbox_name(folder)
        created = await self._guard(self._imap.create(name), "CREATE")
        if created.result != "OK" and not await self._folder_exists(name):
            raise ImapCommandFailed(
                f"cannot create folder {folder!r} on {self._server}: {response_text(created)}"
            )
        self._folders_ready.add(folder)

    async def _folder_exists(self, encoded_name: str) -> bool:
        response = await self._checked(self._imap.list('""', encoded_name), "LIST")
        return len(response.lines) > 1


def _same_mailbox(first: str, second: str) -> bool:
    """Mailbox names are case-sensitive, except INBOX."""
    return first == second or first.upper() == second.upper() == "INBOX"
