"""The conversation service: replies, notes, assignment, status and agents' availability,
for the API, automation and the scheduler alike (see service.py)."""

from timeline.conversation_service.agents import AgentState
from timeline.conversation_service.messages import ReplyCapabilities, ReplyDraft
from timeline.conversation_service.results import AvailabilitySet, Changed, Noted, Replied, Woken
from timeline.conversation_service.service import WAKE_BATCH, ConversationService
from timeline.conversation_service.snoozing import any_due
from timeline.conversation_service.state import (
    ConversationState,
    conversation_states,
    find_conversation,
)

__all__ = [
    "WAKE_BATCH",
    "AgentState",
    "AvailabilitySet",
    "Changed",
    "ConversationService",
    "ConversationState",
    "Noted",
    "ReplyCapabilities",
    "ReplyDraft",
    "Replied",
    "Woken",
    "any_due",
    "conversation_states",
    "find_conversation",
]
