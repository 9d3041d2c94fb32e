"""The named permissions an API token (and, later, a role) is made of: the one list of them."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    READ = "read"
    """Every reading operation (GET) but the audit log."""
    CONVERSATIONS_WRITE = "conversations:write"
    """Reply, note, assign, transfer, resolve, reopen, snooze, mark pending."""
    AGENTS_WRITE = "agents:write"
    """Set an agent's availability."""
    TEAMS_WRITE = "teams:write"
    """Create teams, set their members."""
    TOKENS_WRITE = "tokens:write"
    """Create and revoke API tokens."""
    AUDIT_READ = "audit:read"
    """Read the audit log."""


EVERY_PERMISSION = frozenset(Permission)
"""A token without a scope: whatever its user's role allows."""

READ_ONLY = frozenset({Permission.READ})
"""A read-only token: refused (403) on every operation that changes something."""
