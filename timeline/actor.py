"""Who acts on the core: a user of one workspace, and the permissions their role grants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timeline.policy.permissions import Permission


@dataclass(frozen=True, slots=True)
class Actor:
    """The core's view of whoever calls it (the API's principal, say): enough to scope every
    query to one workspace, to check what the role allows and to name the author of a change."""

    workspace_id: int
    user_id: int
    permissions: frozenset[Permission]
    """What the actor's role grants (timeline.policy.role_permissions)."""

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions
