"""Who may do what: named permissions, roles, record rules and field rules (pure), in one place."""

from timeline.policy.fields import (
    CONTACT_DETAIL_KINDS,
    CONTACT_DETAIL_META,
    sees_identity_kind,
    visible_event_data,
    visible_event_meta,
    visible_field_values,
)
from timeline.policy.permissions import READING, Permission, known_permissions
from timeline.policy.records import (
    Holding,
    act_refusal,
    assign_refusal,
    availability_refusal,
    transfer_refusal,
)
from timeline.policy.roles import BUILT_IN_ROLES, missing_permission, role_permissions

__all__ = [
    "BUILT_IN_ROLES",
    "CONTACT_DETAIL_KINDS",
    "CONTACT_DETAIL_META",
    "Holding",
    "READING",
    "Permission",
    "act_refusal",
    "assign_refusal",
    "known_permissions",
    "availability_refusal",
    "missing_permission",
    "role_permissions",
    "sees_identity_kind",
    "transfer_refusal",
    "visible_event_data",
    "visible_event_meta",
    "visible_field_values",
]
