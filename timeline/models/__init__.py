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
from timeline.models.domain_log import LoggedDomainEvent
from timeline.models.intake import QuarantinedPayload, RawPayloadRecord
from timeline.models.people import Role, Team, TeamMember, User, Workspace

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
    "LoggedDomainEvent",
    "OutboundMessage",
    "PullLease",
    "QuarantinedPayload",
    "RawPayloadRecord",
    "Role",
    "Team",
    "TeamMember",
    "ThreadKey",
    "TimelineEvent",
    "User",
    "Workspace",
]
