"""Record rules: which conversations and agents an actor may change, decided from data alone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from timeline.actor import Actor
from timeline.errors import Forbidden
from timeline.policy.permissions import Permission
from timeline.policy.roles import missing_permission


@dataclass(frozen=True, slots=True)
class Holding:
    """Who holds a conversation: its agent (None: nobody) and its team (None: the workspace)."""

    assignee_id: int | None
    team_id: int | None

    def needs_teams_of(self, actor: Actor) -> bool:
        """Whether the rules need the actor's teams to decide (else pass no teams)."""
        return (
            self.assignee_id is None
            and self.team_id is not None
            and not actor.may(Permission.CONVERSATIONS_ACT_ON_ANY)
        )


def act_refusal(actor: Actor, holding: Holding, team_ids: Collection[int]) -> Forbidden | None:
    """Why the actor may not act on the conversation (reply, note, resolve...), or None.

    Anyone with conversations.act acts on what they hold and on unassigned conversations of
    their teams (or of no team); conversations.act_on_any reaches the rest. `team_ids`: the
    actor's teams, needed only when `holding.needs_teams_of(actor)`.
    """
    if not actor.may(Permission.CONVERSATIONS_ACT):
        return missing_permission(Permission.CONVERSATIONS_ACT)
    if actor.may(Permission.CONVERSATIONS_ACT_ON_ANY) or holding.assignee_id == actor.user_id:
        return None
    if holding.assignee_id is not None:
        return Forbidden("this conversation is assigned to someone else", "not_yours")
    if holding.team_id is not None and holding.team_id not in team_ids:
        return Forbidden("this conversation waits in a team you are not in", "not_your_team")
    return None


def assign_refusal(
    actor: Actor, holding: Holding, team_ids: Collection[int], agent_id: int | None
) -> Forbidden | None:
    """Why the actor may not give the conversation to `agent_id` (None: nobody), or None:
    taking it or letting it go is acting on it; giving it to someone else, or taking or
    unassigning it from someone else, needs conversations.reassign."""
    if refusal := act_refusal(actor, holding, team_ids):
        return refusal
    ours = (None, actor.user_id)
    if (holding.assignee_id not in ours or agent_id not in ours) and not actor.may(
        Permission.CONVERSATIONS_REASSIGN
    ):
        return Forbidden(
            "only a role with conversations.reassign gives a conversation to someone else "
            "or takes it from them",
            "reassign_not_allowed",
        )
    return None


def transfer_refusal(actor: Actor, holding: Holding, team_ids: Collection[int]) -> Forbidden | None:
    """Why the actor may not hand the conversation to a team, or None: it leaves its agent, so
    one held by someone else needs conversations.reassign."""
    return assign_refusal(actor, holding, team_ids, None)


def availability_refusal(actor: Actor, agent_id: int) -> Forbidden | None:
    """Why the actor may not set `agent_id` available or away, or None: everyone sets their
    own; agents.availability sets anyone's."""
    if agent_id == actor.user_id or actor.may(Permission.AGENTS_AVAILABILITY):
        return None
    return missing_permission(Permission.AGENTS_AVAILABILITY)
