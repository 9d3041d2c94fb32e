"""The email channel (IMAP in, SMTP out): its spec is the package's entry point."""

from channels.email.spec import SPEC

__all__ = ["SPEC"]
