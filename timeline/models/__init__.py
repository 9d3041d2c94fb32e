"""SQLAlchemy 2 typed models; every row belongs to exactly one workspace."""

from timeline.models.base import Base
from timeline.models.channels import ChannelAccount, DeliveryReceipt, OutboundMessage
from timeline.models.conversations import Conversation, ConversationStatus, TimelineEvent
from timeline.models.customers import Consent, Customer, Identity
from timeline.models.intake import QuarantinedPayload, RawPayloadRecord
from timeline.models.people import Role, Team, TeamMember, User, Workspace

__all__ = [
    "Base",
    "ChannelAccount",
    "Consent",
    "Conversation",
    "ConversationStatus",
    "Customer",
    "DeliveryReceipt",
    "Identity",
    "OutboundMessage",
    "QuarantinedPayload",
    "RawPayloadRecord",
    "Role",
    "Team",
    "TeamMember",
    "TimelineEvent",
    "User",
    "Workspace",
]
