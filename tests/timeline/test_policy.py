"""The policy's pure rules: roles' permissions, record rules, field rules."""

from __future__ import annotations

from timeline.actor import Actor
from timeline.models import Role
from timeline.policy import (
    BUILT_IN_ROLES,
    Holding,
    Permission,
    act_refusal,
    assign_refusal,
    role_permissions,
    sees_identity_kind,
    visible_event_data,
)

AGENT = Actor(1, 10, BUILT_IN_ROLES[Role.AGENT])
MANAGER = Actor(1, 11, BUILT_IN_ROLES[Role.MANAGER])


def test_a_custom_role_grants_only_the_known_names_it_lists() -> None:
    granted = role_permissions("senior", ["conversations.act", "gone.permission"])
    assert granted == {Permission.CONVERSATIONS_ACT}
    assert role_permissions("nobody-knows", None) == frozenset()
    assert role_permissions(Role.ADMIN, None) == frozenset(Permission)


def test_agents_act_on_their_own_and_take_unassigned_ones_of_their_teams() -> None:
    assert act_refusal(AGENT, Holding(10, None), ()) is None
    assert act_refusal(AGENT, Holding(None, None), ()) is None
    assert act_refusal(AGENT, Holding(None, 5), {5}) is None
    assert act_refusal(AGENT, Holding(None, 6), {5}).code == "not_your_team"  # type: ignore[union-attr]
    assert act_refusal(AGENT, Holding(12, None), ()).code == "not_yours"  # type: ignore[union-attr]
    assert act_refusal(MANAGER, Holding(12, 6), ()) is None


def test_only_reassign_gives_away_or_takes_from_someone_else() -> None:
    assert assign_refusal(AGENT, Holding(None, None), (), 10) is None
    assert assign_refusal(AGENT, Holding(10, None), (), None) is None
    refused = assign_refusal(AGENT, Holding(10, None), (), 12)
    assert refused is not None and refused.code == "reassign_not_allowed"
    senior = Actor(
        1, 13, frozenset({Permission.CONVERSATIONS_ACT, Permission.CONVERSATIONS_ACT_ON_ANY})
    )
    assert act_refusal(senior, Holding(12, None), ()) is None
    assert assign_refusal(senior, Holding(12, None), (), None) is not None
    assert assign_refusal(MANAGER, Holding(12, None), (), 10) is None


def test_field_rules_hide_contact_details_and_sensitive_fields() -> None:
    marketer = BUILT_IN_ROLES[Role.MARKETER]
    assert not sees_identity_kind(marketer, "phone")
    assert not sees_identity_kind(marketer, "email")
    assert sees_identity_kind(marketer, "telegram")
    assert sees_identity_kind(BUILT_IN_ROLES[Role.AGENT], "phone")
    data = {"customer_id": 1, "fields": {"tier": "gold", "health": "x"}}
    agent_sees = visible_event_data(BUILT_IN_ROLES[Role.AGENT], data, {"health"})
    assert agent_sees == {"customer_id": 1, "fields": {"tier": "gold"}}
    assert visible_event_data(BUILT_IN_ROLES[Role.MANAGER], data, {"health"}) == data
