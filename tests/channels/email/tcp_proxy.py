"""An asyncio TCP proxy on 127.0.0.1 that can cut or stall live connections, for fault injection."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

_CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    """One proxied client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def cut(self) -> None:
        # abort() drops the sockets at once (RST), like a broken network path.
        for writer in (self.client, self.upstream):
            writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; tests call cut_all(), cut_after() or stall().

    `source_host` (another loopback address such as 127.0.0.2) makes the upstream connections
    come from that address, so the server sees a different client IP.
    """

    def __init__(self, target_host: str, target_port: int, source_host: str | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.source_host = source_host
        self.port = 0
        self.downstream_bytes = 0
        self.accepted = 0
        """Connections clients made, ever."""
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._cut_at: int | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [task for link in list(self._links) for task in link.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def live_connections(self) -> int:
        return len(self._links)

    def cut_all(self) -> None:
        """Abort every live connection, both sides."""
        for link in list(self._links):
            link.cut()

    def cut_after(self, nbytes: int) -> None:
        """Cut every connection once `nbytes` more bytes have gone from server to client."""
        self._cut_at = self.downstream_bytes + nbytes

    def stall(self) -> None:
        """Stop forwarding (connections stay open, data is held): a server gone silent."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.target_host,
                self.target_port,
                local_addr=(self.source_host, 0) if self.source_host else None,
            )
        except OSError:
            writer.transport.abort()
            return
        link = _Link(client=writer, upstream=up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link, downstream=False)),
            asyncio.create_task(self._pump(up_reader, writer, link, downstream=True)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        downstream: bool,
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()
                if downstream and self._forward_downstream(data, writer):
                    link.cut()
                    self.cut_all()
                    return
                if not downstream:
                    writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            link.cut()

    def _forward_downstream(self, data: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write server bytes to the client; True when the cut budget is now spent."""
        if self._cut_at is None:
            writer.write(data)
            self.downstream_bytes += len(data)
            return False
        allowed = max(0, self._cut_at - self.downstream_bytes)
        with contextlib.suppress(ConnectionError):
            writer.write(data[:allowed])
        self.downstream_bytes += min(allowed, len(data))
        if len(data) < allowed:
            return False
        self._cut_at = None
        return True
