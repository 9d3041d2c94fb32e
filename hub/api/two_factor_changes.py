"""Two-factor after enrolment: a user turns theirs off or draws new recovery codes, an admin
resets someone's."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from hub.api.accounts import CodeIn
from hub.api.framework import NO_NUL, ApiRoutes, Call
from hub.api.sessions import TOTP_CODE, EndedSessions
from hub.passwords import MAX_PASSWORD_LENGTH
from hub.two_factor_changes import TurnOffProof
from hub.web_keys import HUB
from timeline.policy import Permission

routes = ApiRoutes()


class TurnOffIn(BaseModel):
    """The password and a second factor: a current code of the app, or an unused recovery code."""

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, pattern=NO_NUL)
    totp_code: Annotated[str, Field(max_length=6, pattern=TOTP_CODE)] | None = None
    recovery_code: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = None


class RecoveryCodesOut(BaseModel):
    """Ten new single-use recovery codes, shown once; the earlier ones no longer work."""

    recovery_codes: list[str]


@routes.add(
    "POST",
    "/two-factor/disable",
    summary="Turn my two-factor off",
    tag="accounts",
    response=EndedSessions,
    body=TurnOffIn,
    permission=Permission.ACCOUNT_OWN,
)
async def turn_off_two_factor(call: Call[TurnOffIn, Any]) -> EndedSessions:
    """Ends the caller's other sessions (all of them, for a bearer token). 409
    `two_factor_required` when the workspace makes the caller's role use it, `not_enrolled`
    when it is off; 422 for a wrong password or code."""
    hub = call.request.app[HUB]
    proof = TurnOffProof(call.body.password, call.body.totp_code, call.body.recovery_code)
    async with hub.engine.begin() as conn:
        ended = await hub.two_factor_changes.turn_off_own(
            conn, call.principal, call.session_id, proof
        )
    return EndedSessions(ended=ended)


@routes.add(
    "POST",
    "/two-factor/recovery-codes",
    summary="Draw new recovery codes (the old ones stop working)",
    tag="accounts",
    response=RecoveryCodesOut,
    body=CodeIn,
    status=201,
    permission=Permission.ACCOUNT_OWN,
)
async def new_recovery_codes(call: Call[CodeIn, Any]) -> RecoveryCodesOut:
    """Needs a current code of the app. 409 `not_enrolled`; 422 for a wrong code."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        codes = await hub.two_factor_changes.new_recovery_codes(
            conn, call.principal, call.body.code
        )
    return RecoveryCodesOut(recovery_codes=codes)


@routes.add(
    "DELETE",
    "/users/{user_id}/two-factor",
    summary="Reset a user's two-factor (admins)",
    tag="accounts",
    response=EndedSessions,
    permission=Permission.USERS_MANAGE,
)
async def reset_two_factor(call: Call[Any, Any]) -> EndedSessions:
    """For a user who lost their app: every session they had ends, and if their role requires
    two-factor they enrol again at their next sign-in. 409 `not_enrolled`, `own_two_factor`."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        ended = await hub.two_factor_changes.reset(
            conn, call.principal.workspace_id, call.ids["user_id"], admin=call.principal
        )
    return EndedSessions(ended=ended)
