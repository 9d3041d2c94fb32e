"""`POST /conversations/bulk`: one conversation action on up to 500 conversations, each
answered on its own (hub.bulk_actions)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from hub.api.conversations import AssignIn, SnoozeIn, TransferIn
from hub.api.framework import ApiRoutes, Call, Empty, Id
from hub.bulk_actions import MAX_BULK_ITEMS, Operation, act_on_each
from hub.web_keys import HUB
from timeline.conversation_service import ConversationService
from timeline.policy import Permission

routes = ApiRoutes()

ConversationIds = Annotated[
    list[Id],
    Field(
        min_length=1,
        max_length=MAX_BULK_ITEMS,
        description="the conversations to act on, each once (a repeated id is acted on once)",
    ),
]


class PlainBulkIn(BaseModel):
    action: Literal["resolve", "reopen", "mark_pending", "unassign"]
    ids: ConversationIds
    params: Empty = Field(default_factory=Empty, description="no parameters")


class AssignBulkIn(BaseModel):
    action: Literal["assign"]
    ids: ConversationIds
    params: AssignIn


class TransferBulkIn(BaseModel):
    action: Literal["transfer"]
    ids: ConversationIds
    params: TransferIn


class SnoozeBulkIn(BaseModel):
    action: Literal["snooze"]
    ids: ConversationIds
    params: SnoozeIn


class BulkIn(RootModel[Any]):
    root: Annotated[
        PlainBulkIn | AssignBulkIn | TransferBulkIn | SnoozeBulkIn, Field(discriminator="action")
    ]


class BulkItemOut(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="the status the single action would have answered")
    code: str | None = Field(description="why it was refused (not_yours, not_found...), if it was")
    message: str | None


class BulkOut(BaseModel):
    items: list[BulkItemOut] = Field(description="one per conversation, in the order asked")


_PLAIN: dict[str, Operation] = {
    "resolve": ConversationService.resolve,
    "reopen": ConversationService.reopen,
    "mark_pending": ConversationService.mark_pending,
    "unassign": partial(ConversationService.assign, agent_id=None),
}


def _operation(body: PlainBulkIn | AssignBulkIn | TransferBulkIn | SnoozeBulkIn) -> Operation:
    match body:
        case AssignBulkIn():
            return partial(ConversationService.assign, agent_id=body.params.agent_id)
        case TransferBulkIn():
            return partial(ConversationService.transfer, team_id=body.params.team_id)
        case SnoozeBulkIn():
            return partial(ConversationService.snooze, until=body.params.until)
        case PlainBulkIn():
            return _PLAIN[body.action]


@routes.add(
    "POST",
    "/conversations/bulk",
    summary="Resolve, reopen, mark pending, assign, unassign, transfer or snooze many "
    "conversations",
    tag="conversations",
    response=BulkOut,
    body=BulkIn,
    permission=Permission.BULK_ACTIONS,
)
async def bulk_action(call: Call[BulkIn, Any]) -> BulkOut:
    """Each conversation is changed as the single action would change it (its permission and
    record rules, its audit entry and events), in a change of its own: a refused item (403
    `not_yours`, 404, 409...) is reported in its place and the others go ahead."""
    outcomes = await act_on_each(
        call.request.app[HUB], call.principal.actor, _operation(call.body.root), call.body.root.ids
    )
    return BulkOut(
        items=[
            BulkItemOut(
                id=outcome.conversation_id,
                ok=outcome.code is None,
                status=outcome.status,
                code=outcome.code,
                message=outcome.message,
            )
            for outcome in outcomes
        ]
    )
