"""The HTTP ceiling: an aiohttp server that answers every POST at once, as a webhook would.

Run by bench/ingest.py in a child process as a second reference beside the database baseline:
whatever the hub does per webhook comes on top of what this costs.
Run alone: `.venv/bin/python bench/hello_server.py PORT`.
"""

from __future__ import annotations

import sys

from aiohttp import web

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def acknowledge(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=TWIML, content_type="text/xml")


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", acknowledge)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
