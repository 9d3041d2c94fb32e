"""The built-in roles (admin, manager, agent, marketer) as permission sets, and a user's
permissions from their role's name (built-in, or a workspace's custom role)."""

from __future__ import annotations

from collections.abc import Iterable

from timeline.errors import Forbidden
from timeline.models.people import Role
from timeline.policy.permissions import Permission as P
from timeline.policy.permissions import known_permissions

_AGENT = frozenset(
    {
        P.CONVERSATIONS_READ,
        P.CONVERSATIONS_ACT,
        P.CUSTOMERS_READ,
        P.CUSTOMERS_WRITE,
        P.CUSTOMERS_CONTACT_DETAILS,
        P.TOKENS_OWN,
        P.ACCOUNT_OWN,
    }
)
_MANAGER = _AGENT | {
    P.CONVERSATIONS_ACT_ON_ANY,
    P.CONVERSATIONS_REASSIGN,
    P.CUSTOMERS_SENSITIVE_FIELDS,
    P.CUSTOMERS_EXPORT,
    P.BULK_ACTIONS,
    P.AGENTS_AVAILABILITY,
    P.TEAMS_MANAGE,
}

BUILT_IN_ROLES: dict[str, frozenset[P]] = {
    Role.ADMIN: frozenset(P),
    Role.MANAGER: _MANAGER,
    Role.AGENT: _AGENT,
    Role.MARKETER: frozenset(
        {
            P.CONVERSATIONS_READ,
            P.CUSTOMERS_READ,
            P.CUSTOMERS_EXPORT,
            P.BULK_ACTIONS,
            P.TOKENS_OWN,
            P.ACCOUNT_OWN,
        }
    ),
}
"""What each built-in role may do. Marketers read, export and act in bulk, but see no contact
details and no sensitive fields; agents see contact details but not sensitive fields."""


def role_permissions(role: str, custom_permissions: Iterable[str] | None) -> frozenset[P]:
    """A role's permissions: a built-in role's set, else the custom role's stored names (None:
    no such role, so nothing). A stored name no longer known grants nothing."""
    if role in BUILT_IN_ROLES:
        return BUILT_IN_ROLES[role]
    return known_permissions(custom_permissions or ())


def missing_permission(permission: P) -> Forbidden:
    """The refusal of an operation the caller's role lacks `permission` for."""
    return Forbidden(f"your role lacks the permission {permission.value}", "missing_permission")
