"""SMS channel adapters; importing this package registers them (Twilio-compatible for now)."""

from channels.sms import twilio  # noqa: F401  (registers TwilioSmsAdapter)
