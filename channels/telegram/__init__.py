"""The Telegram channel (a bot customers write to): its spec is the package's entry point."""

from channels.telegram.spec import SPEC

__all__ = ["SPEC"]
