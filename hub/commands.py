"""What every `switchboard` command shares: its one-line error, and a Hub for one command."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from hub.config import Settings

Command = Callable[[Settings, argparse.Namespace], Awaitable[int] | int]


class CommandError(Exception):
    """A command could not do what was asked; the message says why, in one line."""


class command_hub:
    """A Hub for one command, started (without background services) and stopped."""

    def __init__(self, settings: Settings) -> None:
        from hub.context import Hub

        self._hub = Hub(settings, jobs_in_process=True)

    async def __aenter__(self) -> Any:
        await self._hub.start(background=False)
        return self._hub

    async def __aexit__(self, *exc: object) -> None:
        await self._hub.stop()
