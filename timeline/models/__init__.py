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
)
from timeline.models.conversations import (
    Conversation,
    ConversationStatus,
    MessageVersion,
    TimelineEvent,
)
from timeline.models.customers import Consent, Customer, Identity
from timeline.models.domain_log import LoggedDomainEvent
from timeline.models.history import ChangeSource, FieldChange, RecordType
from timeline.models.intake import QuarantinedPayload, RawPayloadRecord
from timeline.models.people import Role, Team, TeamMember, User, Workspace
from timeline.models.policy import CustomField, CustomRole
from timeline.models.routing import RoutingCursor
from timeline.models.threads import ThreadKeyRecord

__all__ = [
    "AuditEntry",
    "Base",
    "Blob",
    "ChangeSource",
    "ChannelAccount",
    "ChannelCursor",
    "Consent",
    "Conversation",
    "ConversationStatus",
    "CustomField",
    "CustomRole",
    "Customer",
    "DeliveryReceipt",
    "EventAttachment",
    "FieldChange",
    "Identity",
    "LoggedDomainEvent",
    "MessageVersion",
    "OutboundMessage",
    "PullLease",
    "QuarantinedPayload",
    "RawPayloadRecord",
    "RecordType",
    "Role",
    "RoutingCursor",
    "Team",
    "TeamMember",
    "ThreadKeyRecord",
    "TimelineEvent",
    "User",
    "Workspace",
]
