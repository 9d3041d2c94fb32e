"""Field rules: which of a customer's details a set of permissions sees (and so may search by)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from timeline.events import IdentityKind
from timeline.policy.permissions import Permission

CONTACT_DETAIL_KINDS = frozenset({IdentityKind.PHONE, IdentityKind.EMAIL})
"""Identity kinds that are contact details: seen and searched with customers.contact_details."""


def sees_identity_kind(permissions: Collection[Permission], kind: str) -> bool:
    """Whether identities of `kind` are shown to, and searchable by, these permissions."""
    return kind not in CONTACT_DETAIL_KINDS or Permission.CUSTOMERS_CONTACT_DETAILS in permissions


def visible_field_values(
    permissions: Collection[Permission], values: Mapping[str, Any], sensitive: Collection[str]
) -> dict[str, Any]:
    """Custom field values without the sensitive ones, unless customers.sensitive_fields."""
    if Permission.CUSTOMERS_SENSITIVE_FIELDS in permissions:
        return dict(values)
    return {name: value for name, value in values.items() if name not in sensitive}


def visible_event_data(
    permissions: Collection[Permission], data: Mapping[str, Any], sensitive: Collection[str]
) -> dict[str, Any]:
    """A domain event's data as these permissions may see it: custom field values (an event's
    `fields`) through `visible_field_values`."""
    if "fields" not in data:
        return dict(data)
    return {**data, "fields": visible_field_values(permissions, data["fields"], sensitive)}


CONTACT_DETAIL_META = frozenset({"sender", "reply_to", "bounced_recipient"})
"""Keys of a timeline event's `meta` whose values are the customer's handles (the sender's
number or address, an email's Reply-To, a bounced recipient)."""


def visible_event_meta(
    permissions: Collection[Permission], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """A timeline event's meta without the customer's handles, unless
    customers.contact_details."""
    if Permission.CUSTOMERS_CONTACT_DETAILS in permissions:
        return dict(meta)
    return {key: value for key, value in meta.items() if key not in CONTACT_DETAIL_META}
