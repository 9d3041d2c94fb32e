"""The Telegram channel (a bot customers write to): its pure parts, not yet registered."""
