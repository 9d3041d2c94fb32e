"""IMAP transport for the email channel: UID-batched fetching, IDLE, and after-import actions."""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

from aioimaplib import aioimaplib

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORTS = {"imap": 143, "imaps": 993}
DEFAULT_TIMEOUT = 30.0
DEFAULT_POLL_INTERVAL = 30.0
FETCH_ITEMS = "(UID FLAGS BODY.PEEK[])"
# aioimaplib parses a received chunk recursively, one stack frame per response line (two per
# fetched message): ~500 small messages arriving in one chunk overflow Python's stack.
MAX_BATCH_SIZE = 200
_MAX_RANGES_PER_COMMAND = 500
_LOGOUT_TIMEOUT = 5.0
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_ENCODING_HINT = "percent-encode '/', '?', '#' and '@' in the user name and password"


class ImapError(Exception):
    """Base of the errors this transport raises."""


class ImapConnectionLost(ImapError, ConnectionError):
    """The connection dropped, timed out or could not be made: reconnect with backoff."""


class ImapAuthFailed(ImapError):
    """The server refused the credentials: retrying will not help until they are fixed."""


class ImapCommandFailed(ImapError):
    """The server answered NO or BAD to a command (for example: the mailbox does not exist)."""


# --- URLs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxUrl:
    """Where to read mail: `imap[s]://user:password@host[:port][/Mailbox]`, parts decoded."""

    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"

    @property
    def tls(self) -> bool:
        return self.scheme == "imaps"

    @classmethod
    def parse(cls, url: str) -> MailboxUrl:
        """Parse and validate; a ValueError names what is wrong and never echoes the password."""
        parts = _split_url(url)
        return cls(
            scheme=parts.scheme.lower(),
            host=_url_host(parts),
            port=_url_port(parts),
            user=_url_user(parts),
            password=_url_password(parts),
            mailbox=_url_mailbox(parts),
        )

    def __str__(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


def _split_url(url: str) -> SplitResult:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("IMAP URL is empty; expected imap://user:password@host/INBOX")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise ValueError(
            f"IMAP URL must start with imap:// or imaps://, not {parts.scheme or '(none)'}://"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"IMAP URL must not have a ?query or #fragment ({_ENCODING_HINT})")
    return parts


def _url_host(parts: SplitResult) -> str:
    if not parts.hostname:
        raise ValueError("IMAP URL has no host; expected imap://user:password@host/INBOX")
    return parts.hostname


def _url_port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"IMAP URL port must be a number from 1 to 65535 ({_ENCODING_HINT})"
        ) from None
    if port is None:
        return DEFAULT_PORTS[parts.scheme.lower()]
    if not 1 <= port <= 65535:
        raise ValueError("IMAP URL port must be a number from 1 to 65535")
    return port


def _url_user(parts: SplitResult) -> str:
    if not parts.username:
        raise ValueError("IMAP URL has no user name; expected imap://user:password@host/INBOX")
    user = unquote(parts.username)
    _reject_control_chars(user, "user name")
    return user


def _url_password(parts: SplitResult) -> str:
    if parts.password is None:
        raise ValueError("IMAP URL has no password; expected imap://user:password@host/INBOX")
    password = unquote(parts.password)
    _reject_control_chars(password, "password")
    return password


def _url_mailbox(parts: SplitResult) -> str:
    mailbox = unquote(parts.path.strip("/"))
    if not mailbox or mailbox.upper() == "INBOX":
        return "INBOX"
    _reject_control_chars(mailbox, "mailbox name")
    return mailbox


def _reject_control_chars(value: str, what: str) -> None:
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"IMAP URL {what} contains a control character")


# --- Cursors, fetched messages, actions ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxCursor:
    """How far a mailbox has been imported: valid only while the UIDVALIDITY is unchanged."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message exactly as the server stores it, with its UID and flags."""

    uid: int
    raw: bytes
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AfterImport:
    """What to do with messages once imported: `none`, `seen` or `move:<Folder>`."""

    kind: Literal["none", "seen", "move"]
    folder: str | None = None

    @classmethod
    def parse(cls, action: str) -> AfterImport:
        keyword, sep, folder = action.strip().partition(":")
        keyword = keyword.lower()
        if keyword in ("none", "seen") and not sep:
            return cls(kind="none" if keyword == "none" else "seen")
        if keyword == "move" and folder.strip():
            _reject_control_chars(folder, "folder name")
            return cls(kind="move", folder=folder.strip())
        raise ValueError(
            f"after-import action must be 'none', 'seen' or 'move:<Folder>', not {action!r}"
        )


# --- Sequence sets and mailbox names ------------------------------------------------------

UidRange = tuple[int, int]
Default = Literal["default"]


def uid_ranges(uids: Iterable[int]) -> list[UidRange]:
    """Sorted, merged inclusive ranges covering the given UIDs."""
    ranges: list[UidRange] = []
    for uid in sorted(set(uids)):
        if uid < 1:
            raise ValueError(f"UIDs start at 1, got {uid}")
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


def format_uid_set(ranges: Iterable[UidRange]) -> str:
    """`[(1, 3), (7, 7)]` -> `1:3,7`."""
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)


def parse_uid_set(text: str) -> list[UidRange]:
    """`1:3,7` -> `[(1, 3), (7, 7)]`; the server's answer, so no `*`."""
    ranges: list[UidRange] = []
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        ranges.append((min(first, last), max(first, last)))
    return ranges


def clip_ranges(ranges: Iterable[UidRange], after: int) -> list[UidRange]:
    """Only the UIDs above `after`: `n:*` also answers the highest UID when it is below n."""
    return [(max(lo, after + 1), hi) for lo, hi in ranges if hi > after]


def batch_ranges(ranges: Iterable[UidRange], size: int) -> Iterator[list[UidRange]]:
    """Split ranges into groups of at most `size` UIDs each, in ascending order."""
    batch: list[UidRange] = []
    room = size
    for lo, hi in sorted(ranges):
        while lo <= hi:
            take = min(room, hi - lo + 1)
            batch.append((lo, lo + take - 1))
            lo += take
            room -= take
            if room == 0:
                yield batch
                batch, room = [], size
    if batch:
        yield batch


def encode_mailbox_name(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded: list[str] = []
    pending: list[str] = []
    for char in name:
        if " " <= char <= "~":
            encoded.append(_utf7_run(pending))
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    encoded.append(_utf7_run(pending))
    return _quote("".join(encoded))


def _utf7_run(chars: list[str]) -> str:
    if not chars:
        return ""
    packed = base64.b64encode("".join(chars).encode("utf-16-be")).decode("ascii")
    chars.clear()
    return "&" + packed.rstrip("=").replace("/", ",") + "-"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- Response parsing ---------------------------------------------------------------------

_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_FETCH_UID = re.compile(rb"[( ]UID (\d+)")
_FETCH_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_LITERAL_START = re.compile(rb"\{(\d+)\}$")
_BODY_LITERAL = re.compile(rb"BODY\[\] \{(\d+)\}$")

Item = tuple[bool, bytes]
"""A piece of a FETCH response: (is_literal, bytes)."""


def parse_fetch_lines(lines: Sequence[bytes | bytearray]) -> list[FetchedMessage]:
    """Messages from aioimaplib's FETCH response lines (the tagged completion line cut off).

    aioimaplib gives text lines as bytes and each literal as the element after the line that
    announced it (`... {123}`), currently a bytearray; literals are told apart by position,
    not type. FETCH responses without a UID and a BODY[] (flag updates) are skipped.
    """
    messages = []
    for record in _fetch_records(_items(lines)):
        message = _fetched_message(record)
        if message is not None:
            messages.append(message)
    return messages


def _items(lines: Sequence[bytes | bytearray]) -> Iterator[Item]:
    literal_next = False
    for line in lines:
        yield literal_next, bytes(line)
        literal_next = not literal_next and _LITERAL_START.search(line) is not None


def _fetch_records(items: Iterable[Item]) -> Iterator[list[Item]]:
    record: list[Item] = []
    for is_literal, data in items:
        if not is_literal and _FETCH_START.match(data):
            if record:
                yield record
            record = [(is_literal, data)]
        elif record:
            record.append((is_literal, data))
    if record:
        yield record


def _fetched_message(record: list[Item]) -> FetchedMessage | None:
    text = b" ".join(data for is_literal, data in record if not is_literal)
    uid = _FETCH_UID.search(text)
    if uid is None:
        return None
    raw = _body_literal(record)
    if raw is None:
        if b"BODY[]" in text:
            log.error("IMAP server sent no body for UID %s: %r", uid.group(1), text[:200])
        return None
    flags = _FETCH_FLAGS.search(text)
    flag_names = tuple(flags.group(1).decode("ascii", "replace").split()) if flags else ()
    return FetchedMessage(uid=int(uid.group(1)), raw=raw, flags=flag_names)


def _body_literal(record: list[Item]) -> bytes | None:
    for (text_is_literal, text), (is_literal, literal) in zip(record, record[1:], strict=False):
        declared = None if text_is_literal or not is_literal else _BODY_LITERAL.search(text)
        if declared is None:
            continue
        if len(literal) != int(declared.group(1)):
            raise ImapConnectionLost(
                f"IMAP literal truncated: got {len(literal)} of {declared.group(1)} bytes"
            )
        return literal
    return None


def _response_text(response: aioimaplib.Response) -> str:
    if not response.lines:
        return response.result
    last = response.lines[-1]
    return f"{response.result} {bytes(last).decode('utf-8', 'replace')}".strip()


def _response_code_number(lines: Sequence[bytes | bytearray], code: bytes) -> int | None:
    pattern = re.compile(rb"\[" + re.escape(code) + rb" (\d+)\]")
    for line in lines:
        match = pattern.search(bytes(line))
        if match:
            return int(match.group(1))
    return None


def _search_ranges(response: aioimaplib.Response, extended: bool) -> list[UidRange]:
    lines = [bytes(line) for line in response.lines[:-1]]
    if extended:
        for line in lines:
            match = re.search(rb"\bALL ([0-9:,]+)", line)
            if match:
                return parse_uid_set(match.group(1).decode("ascii"))
        return []
    return uid_ranges(int(token) for line in lines for token in line.split() if token.isdigit())


def _is_new_mail_push(lines: Sequence[bytes | bytearray]) -> bool:
    return any(re.match(rb"^\d+ (EXISTS|RECENT)\b", bytes(line)) for line in lines)


# --- The mailbox --------------------------------------------------------------------------


class ImapMailbox:
    """One logged-in IMAP connection with one mailbox selected read-write.

    Use it from one task at a time. Every command is raced against the connection's loss and
    a timeout, so a dropped or silent server raises ImapConnectionLost instead of hanging;
    after that (or after a cancelled call) `connected` is False and connect() starts over.
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
        self.url = url if isinstance(url, MailboxUrl) else MailboxUrl.parse(url)
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._use_idle = use_idle
        self._poll_interval = poll_interval
        self._ignored = frozenset(cap.upper() for cap in ignore_capabilities)
        self._client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Future[Exception | None] | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._uidvalidity: int | None = None
        self._high_uid = 0
        self._folders_ready: set[str] = set()

    # -- lifecycle

    async def __aenter__(self) -> ImapMailbox:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect (TLS for imaps), log in, read capabilities and SELECT the mailbox."""
        if self.connected:
            raise RuntimeError("ImapMailbox is already connected; close it first")
        self._abort()
        self._client = None
        self._folders_ready.clear()
        lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._lost = lost
        self._client = aioimaplib.IMAP4(
            host=self.url.host,
            port=self.url.port,
            timeout=self._timeout,
            # Bound to this connection's future: a previous connection's late callback must
            # not mark a new one as lost.
            conn_lost_cb=lambda exc: _settle(lost, exc),
            ssl_context=self._tls_context(),
        )
        try:
            await self._guard(self._client.wait_hello_from_server(), "the greeting")
            await self._login()
            await self._load_capabilities()
            await self._select()
        except BaseException:
            self._abort()
            self._client = None
            raise

    async def close(self) -> None:
        """LOGOUT politely when the connection is still up, then drop it."""
        if self._client is None:
            return
        if self.connected:
            try:
                await self._guard(self._client.logout(), "LOGOUT", _LOGOUT_TIMEOUT)
            except ImapError as exc:
                log.debug("IMAP logout from %s failed: %s", self.url, exc)
        self._abort()
        self._client = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._lost is not None and not self._lost.done()

    @property
    def uidvalidity(self) -> int:
        """The selected mailbox's UIDVALIDITY; a cursor from another value is void."""
        if self._uidvalidity is None:
            raise RuntimeError("ImapMailbox is not connected")
        return self._uidvalidity

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server offers after login, upper-cased, minus any ignored ones."""
        return self._capabilities

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
            batch = await self._fetch_batch(uid_ranges_batch, after)
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

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.url.tls:
            return None
        return self._ssl_context or ssl.create_default_context(ssl.Purpose.SERVER_AUTH)

    def _abort(self) -> None:
        """Drop the connection now and cancel aioimaplib's leftover tasks."""
        client = self._client
        if client is None:
            return
        if not client._client_task.done():
            client._client_task.cancel()
        for task in (*client.tasks, *client.protocol.tasks):
            task.cancel()
        transport = client.protocol.transport
        if transport is not None:
            transport.abort()
        if self._lost is not None:
            _settle(self._lost, None)

    async def _guard(
        self, awaitable: Awaitable[T], what: str, timeout: float | None | Default = "default"
    ) -> T:
        """Await one command; a drop, a timeout or a protocol error raises ImapConnectionLost."""
        lost = self._lost
        if lost is None or self._client is None or lost.done():
            _discard(awaitable)
            if lost is None or self._client is None:
                raise RuntimeError("ImapMailbox is not connected")
            raise ImapConnectionLost(f"IMAP connection to {self._server} is closed ({what})")
        limit = self._timeout if timeout == "default" else timeout
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            # The server will still answer the abandoned command: the session is unusable.
            task.cancel()
            self._abort()
            raise
        if task in done:
            return self._command_result(task, what)
        task.cancel()
        dropped = lost.done()
        self._abort()
        if dropped:
            raise ImapConnectionLost(f"IMAP connection to {self._server} lost during {what}")
        raise ImapConnectionLost(f"IMAP server {self._server} did not answer {what} in {limit}s")

    def _command_result(self, task: asyncio.Future[T], what: str) -> T:
        try:
            return task.result()
        except (TimeoutError, aioimaplib.CommandTimeout) as exc:
            self._abort()
            raise ImapConnectionLost(
                f"IMAP server {self._server} did not answer {what} in {self._timeout}s"
            ) from exc
        except (aioimaplib.AioImapException, OSError) as exc:
            self._abort()
            raise ImapConnectionLost(
                f"IMAP connection to {self._server} failed during {what}: {exc!r}"
            ) from exc

    @property
    def _server(self) -> str:
        return f"{self.url.host}:{self.url.port}"

    @property
    def _imap(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise RuntimeError("ImapMailbox is not connected")
        return self._client

    async def _login(self) -> None:
        if "LOGINDISABLED" in self._imap.protocol.capabilities:
            raise ImapAuthFailed(
                f"IMAP server {self._server} disables LOGIN on this connection; use imaps://"
            )
        response = await self._guard(
            self._imap.login(_quote(self.url.user), self.url.password), "LOGIN"
        )
        if response.result == "OK":
            return
        text = _response_text(response)
        if "[UNAVAILABLE]" in text.upper():
            raise ImapConnectionLost(f"IMAP server {self._server} cannot log in now: {text}")
        raise ImapAuthFailed(
            f"IMAP server {self._server} refused the login of {self.url.user!r}: {text}"
        )

    async def _load_capabilities(self) -> None:
        # The LOGIN answer's [CAPABILITY ...] code is not parsed reliably by aioimaplib (its
        # last entry keeps the "]"), so ask again now that we are authenticated.
        await self._guard(self._imap.protocol.capability(), "CAPABILITY")
        offered = {str(cap).upper() for cap in self._imap.protocol.capabilities}
        self._capabilities = frozenset(offered - self._ignored)

    async def _select(self) -> None:
        response = await self._guard(
            self._imap.select(encode_mailbox_name(self.url.mailbox)), "SELECT"
        )
        if response.result != "OK":
            raise ImapCommandFailed(
                f"cannot open mailbox {self.url.mailbox!r} on {self._server}: "
                f"{_response_text(response)}"
            )
        uidvalidity = _response_code_number(response.lines, b"UIDVALIDITY")
        if uidvalidity is None:
            raise ImapCommandFailed(f"{self._server} sent no UIDVALIDITY for {self.url.mailbox!r}")
        self._uidvalidity = uidvalidity
        uidnext = _response_code_number(response.lines, b"UIDNEXT")
        self._high_uid = uidnext - 1 if uidnext else 0

    async def _checked(
        self, awaitable: Awaitable[aioimaplib.Response], what: str
    ) -> aioimaplib.Response:
        response = await self._guard(awaitable, what)
        if response.result != "OK":
            raise ImapCommandFailed(f"{what} failed on {self._server}: {_response_text(response)}")
        return response

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
        ranges = clip_ranges(_search_ranges(response, extended), after)
        if ranges:
            self._high_uid = max(self._high_uid, ranges[-1][1])
        return ranges

    async def _fetch_batch(self, ranges: list[UidRange], after: int) -> list[FetchedMessage]:
        uid_set = format_uid_set(ranges)
        # aioimaplib's FETCH timeout restarts on every chunk received, so a big message on a
        # slow link is fine while a silent server still times out.
        fetching = self._imap.uid("fetch", uid_set, FETCH_ITEMS)
        response = await self._guard(fetching, "UID FETCH", timeout=None)
        text = _response_text(response)
        if response.result != "OK" and "EXPUNGEISSUED" not in text.upper():
            raise ImapCommandFailed(f"UID FETCH {uid_set} failed on {self._server}: {text}")
        wanted = {uid for lo, hi in ranges for uid in range(lo, hi + 1) if uid > after}
        try:
            fetched = parse_fetch_lines(response.lines[:-1])
        except ImapConnectionLost:
            self._abort()
            raise
        by_uid = {message.uid: message for message in fetched if message.uid in wanted}
        return [by_uid[uid] for uid in sorted(by_uid)]

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
            if _is_new_mail_push(lines):
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
        for chunk in _chunks(ranges, _MAX_RANGES_PER_COMMAND):
            uid_set = format_uid_set(chunk)
            await self._checked(self._imap.uid("store", uid_set, mode, flags), "UID STORE")

    async def _move(self, ranges: list[UidRange], folder: str) -> None:
        if _same_mailbox(folder, self.url.mailbox):
            raise ValueError(f"cannot move messages from {folder!r} into itself")
        await self._ensure_folder(folder)
        target = encode_mailbox_name(folder)
        for chunk in _chunks(ranges, _MAX_RANGES_PER_COMMAND):
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
                f"cannot create folder {folder!r} on {self._server}: {_response_text(created)}"
            )
        self._folders_ready.add(folder)

    async def _folder_exists(self, encoded_name: str) -> bool:
        response = await self._checked(self._imap.list('""', encoded_name), "LIST")
        return len(response.lines) > 1


def _settle(lost: asyncio.Future[Exception | None], exc: Exception | None) -> None:
    if not lost.done():
        lost.set_result(exc)


def _discard(awaitable: Awaitable[object]) -> None:
    """Close a coroutine that will not be awaited, so Python does not warn about it."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _same_mailbox(first: str, second: str) -> bool:
    """Mailbox names are case-sensitive, except INBOX."""
    return first == second or first.upper() == second.upper() == "INBOX"


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
