"""SQLAlchemy 2 typed models; every row belongs to exactly one workspace."""

from timeline.models.audit import AuditEntry
from timeline.models.base import Base
from timeline.models.blobs import Blob, EventAttachment
from timeline.models.channels import (
    ChannelAccount,
    ChannelCursor,
    DeliveryReceipt,
    OutboundMessage,
    PullLease,
    ThreadKey,
)
from timeline.models.conversations import Conversation, ConversationStatus, TimelineEvent
from timeline.models.customers import Consent, Customer, Identity
from timeline.models.intake import QuarantinedPayload, RawPayloadRecord
from timeline.models.people import Role, Team, TeamMember, User, Workspace
from timeline.models.routing import RoutingCursor

__all__ = [
    "AuditEntry",
    "Base",
    "Blob",
    "ChannelAccount",
    "ChannelCursor",
    "Consent",
    "Conversation",
    "ConversationStatus",
    "Customer",
    "DeliveryReceipt",
    "EventAttachment",
    "Identity",
    "OutboundMessage",
    "PullLease",
    "QuarantinedPayload",
    "RawPayloadRecord",
    "Role",
    "RoutingCursor",
    "Team",
    "TeamMember",
    "ThreadKey",
    "TimelineEvent",
    "User",
    "Workspace",
]
