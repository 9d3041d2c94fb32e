"""The SMS channel (Twilio-compatible providers): its spec is the package's entry point."""

from channels.sms.spec import SPEC

__all__ = ["SPEC"]
