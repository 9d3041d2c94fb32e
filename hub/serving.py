"""Serves the app over TCP, answering even requests that are not readable HTTP in JSON."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hub.access_log import RedactingAccessLogger
from hub.errors import status_response
from hub.security_headers import SECURITY_HEADERS


class _JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, but its own error answers are in the API's shape.

    Why this hook exists: when the request line or a header is too long or malformed, aiohttp
    answers from here, before any middleware runs, in plain text that quotes up to 100 bytes
    of what was sent. Only the answer changes: aiohttp still logs the error and still closes
    the connection.
    """

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)
        answer = status_response(status, SECURITY_HEADERS)
        answer.force_close()
        return answer


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class HubRunner(web.AppRunner):
    """An AppRunner whose connections answer unreadable requests in the JSON error shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp takes no handler class as a parameter: the Application builds a plain Server,
        # and this subclass differs only in the connection handlers it makes (see above).
        server.__class__ = _JsonErrorServer
        return server


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    access_log: logging.Logger | None = None,
) -> None:
    """Serve `app` on host:port until SIGINT or SIGTERM, then stop it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = HubRunner(app, access_log=access_log, access_log_class=RedactingAccessLogger)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
