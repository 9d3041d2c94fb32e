"""The named permissions a role is made of; the API, the stream and the core check these."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    """One thing a role may do. Custom roles are sets of these names."""

    CONVERSATIONS_READ = "conversations.read"
    """List and read conversations and outbound messages."""
    CONVERSATIONS_ACT = "conversations.act"
    """Reply, note, resolve, reopen, snooze, mark pending, assign to oneself or nobody,
    transfer: on conversations one holds, and on unassigned ones of one's teams."""
    CONVERSATIONS_ACT_ON_ANY = "conversations.act_on_any"
    """Act on conversations someone else holds, or waiting in a team one is not in."""
    CONVERSATIONS_REASSIGN = "conversations.reassign"
    """Give a conversation to someone else, or take or unassign one someone else holds."""
    CUSTOMERS_READ = "customers.read"
    """List, search and read customers and their timelines."""
    CUSTOMERS_WRITE = "customers.write"
    """Set customers' custom field values (sensitive ones need customers.sensitive_fields)."""
    CUSTOMERS_CONTACT_DETAILS = "customers.contact_details"
    """See and search customers' phone numbers and email addresses."""
    CUSTOMERS_SENSITIVE_FIELDS = "customers.sensitive_fields"
    """See and set the custom fields marked sensitive."""
    CUSTOMERS_EXPORT = "customers.export"
    """Export customers (field rules still apply to what an export holds)."""
    BULK_ACTIONS = "bulk_actions"
    """Act on many records at once."""
    AGENTS_AVAILABILITY = "agents.availability"
    """Set other agents available or away (everyone sets their own)."""
    TEAMS_MANAGE = "teams.manage"
    """Create teams and set their members."""
    USERS_MANAGE = "users.manage"
    """List and create users and change their roles."""
    ROLES_MANAGE = "roles.manage"
    """List and create custom roles."""
    CHANNELS_MANAGE = "channels.manage"
    """Add channel accounts, rotate their credentials, change, deactivate them, and see their
    webhook URLs (which carry each channel's public key). Admins only, not managers: a
    channel's credentials spend the workspace's provider account and its webhook receives
    every customer's messages, which is the installation's trust, not the team's running."""
    CUSTOM_FIELDS_MANAGE = "custom_fields.manage"
    """Define customers' custom fields and whether each is sensitive."""
    ACCOUNT_OWN = "account.own"
    """Sign out, end one's own sessions, change one's password, enrol in two-factor."""
    AUDIT_READ = "audit.read"
    """Read and filter the workspace's audit log."""
    TOKENS_OWN = "tokens.own"
    """Create, list and revoke one's own API tokens (never wider than one's own role)."""
    TOKENS_MANAGE = "tokens.manage"
    """List and revoke anyone's API tokens in the workspace."""


def known_permissions(names: Iterable[str]) -> frozenset[Permission]:
    """Stored permission names (a custom role's, a token's scope) as permissions; a name this
    hub no longer knows grants nothing."""
    known = {permission.value for permission in Permission}
    return frozenset(Permission(name) for name in names if name in known)


READING = frozenset(
    {
        Permission.CONVERSATIONS_READ,
        Permission.CUSTOMERS_READ,
        Permission.CUSTOMERS_CONTACT_DETAILS,
        Permission.CUSTOMERS_SENSITIVE_FIELDS,
    }
)
"""A read-only API token's scope: what lets its user see the workspace's conversations and
customers, nothing that changes any; not export, nor the audit log (each named explicitly)."""
