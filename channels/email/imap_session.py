"""One logged-in IMAP connection whose every command is raced against its loss and a timeout."""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import Awaitable, Iterable
from types import TracebackType
from typing import Literal, Self, TypeVar

from aioimaplib import aioimaplib

from channels.email.imap_errors import (
    ImapAuthFailed,
    ImapCommandFailed,
    ImapConnectionLost,
    ImapError,
)
from channels.email.imap_responses import quote_string, response_text
from channels.email.imap_url import MailboxUrl

log = logging.getLogger(__name__)

T = TypeVar("T")
Default = Literal["default"]

DEFAULT_TIMEOUT = 30.0
_LOGOUT_TIMEOUT = 5.0


class ImapSession:
    """One logged-in IMAP connection; subclasses add what follows the login in `_after_login`.

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
        ignore_capabilities: Iterable[str] = (),
    ) -> None:
        self.url = url if isinstance(url, MailboxUrl) else MailboxUrl.parse(url)
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._ignored = frozenset(cap.upper() for cap in ignore_capabilities)
        self._client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Future[Exception | None] | None = None
        self._capabilities: frozenset[str] = frozenset()

    # -- lifecycle

    async def __aenter__(self) -> Self:
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
        """Connect (TLS for imaps), log in, read capabilities, then run `_after_login`."""
        if self.connected:
            raise RuntimeError(f"{type(self).__name__} is already connected; close it first")
        self._abort()
        self._client = None
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
            await self._after_login()
        except BaseException:
            self._abort()
            self._client = None
            raise

    async def _after_login(self) -> None:
        """What follows the login before connect() returns, such as a SELECT (nothing here)."""

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
    def capabilities(self) -> frozenset[str]:
        """What the server offers after login, upper-cased, minus any ignored ones."""
        return self._capabilities

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
                raise RuntimeError(f"{type(self).__name__} is not connected")
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
            raise RuntimeError(f"{type(self).__name__} is not connected")
        return self._client

    async def _login(self) -> None:
        if "LOGINDISABLED" in self._imap.protocol.capabilities:
            raise ImapAuthFailed(
                f"IMAP server {self._server} disables LOGIN on this connection; use imaps://"
            )
        response = await self._guard(
            self._imap.login(quote_string(self.url.user), self.url.password), "LOGIN"
        )
        if response.result == "OK":
            return
        text = response_text(response)
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

    async def _checked(
        self, awaitable: Awaitable[aioimaplib.Response], what: str
    ) -> aioimaplib.Response:
        response = await self._guard(awaitable, what)
        if response.result != "OK":
            raise ImapCommandFailed(f"{what} failed on {self._server}: {response_text(response)}")
        return response


def _settle(lost: asyncio.Future[Exception | None], exc: Exception | None) -> None:
    if not lost.done():
        lost.set_result(exc)


def _discard(awaitable: Awaitable[object]) -> None:
    """Close a coroutine that will not be awaited, so Python does not warn about it."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
