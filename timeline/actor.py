"""Who acts on the core: a user of one workspace, and whether they manage it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """The core's view of whoever calls it (the API's principal, say): enough to scope every
    query to one workspace, to check what the role allows and to name the author of a change."""

    workspace_id: int
    user_id: int
    manages: bool
    """Admins and managers: they may act on conversations and agents other than their own."""
