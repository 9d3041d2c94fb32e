"""A user's own sign-in settings (two-factor, password), and the admin's: temporary passwords,
which roles must use two-factor."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import NO_NUL, Access, ApiRoutes, Call, Id
from hub.api.sessions import TOTP_CODE, EndedSessions, session_cookie
from hub.api.users import RoleName
from hub.errors import ApiError, invalid
from hub.jobs import enqueue_committed
from hub.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    change_own_password,
    set_temporary_password,
)
from hub.request_ids import counted_address
from hub.two_factor import AlreadyEnrolled
from hub.two_factor_roles import choose_two_factor_roles
from hub.web_keys import HUB
from timeline.policy import Permission

routes = ApiRoutes()
MAX_TWO_FACTOR_ROLES = 200


class EnrolmentOut(BaseModel):
    """Shown once: put it in an authenticator app, then confirm with its first code."""

    secret: str
    otpauth_uri: str


class CodeIn(BaseModel):
    code: str = Field(max_length=6, pattern=TOTP_CODE)


class EnrolledOut(BaseModel):
    """Ten single-use recovery codes, shown once; and the session's new CSRF token (signing
    up for two-factor renews the session id, and the token with it; null for a bearer token)."""

    recovery_codes: list[str]
    csrf_token: str | None


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, pattern=NO_NUL)
    new_password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, pattern=NO_NUL
    )


class TemporaryPasswordIn(BaseModel):
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, pattern=NO_NUL
    )


class ResetRequestIn(BaseModel):
    email: str = Field(min_length=1, max_length=320, pattern=NO_NUL)
    workspace_id: Id | None = None
    """Only that workspace's account of the email (all of them by default)."""


class ResetRequested(BaseModel):
    """The same answer whether or not the email has an account: nobody learns who does."""

    sent: bool


class ResetIn(BaseModel):
    token: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    new_password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, pattern=NO_NUL
    )


class TwoFactorRoles(BaseModel):
    roles: list[RoleName] = Field(max_length=MAX_TWO_FACTOR_ROLES)


@routes.add(
    "POST",
    "/two-factor",
    summary="Start two-factor enrolment",
    tag="accounts",
    response=EnrolmentOut,
    status=201,
    access=Access.ENROLLING,
    permission=Permission.ACCOUNT_OWN,
)
async def begin_two_factor(call: Call[Any, Any]) -> EnrolmentOut:
    """409 `already_enrolled` once confirmed."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        try:
            enrolment = await hub.two_factor.begin(conn, call.principal.user_id)
        except AlreadyEnrolled as error:
            raise ApiError(409, "already_enrolled", str(error)) from None
    return EnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@routes.add(
    "POST",
    "/two-factor/confirm",
    summary="Confirm two-factor with a first code",
    tag="accounts",
    response=EnrolledOut,
    body=CodeIn,
    access=Access.ENROLLING,
    permission=Permission.ACCOUNT_OWN,
)
async def confirm_two_factor(call: Call[CodeIn, Any]) -> EnrolledOut:
    """Turns two-factor on; a session that could only enrol becomes a full one, under a new id."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        codes = await hub.two_factor.confirm(conn, call.principal, call.body.code)
        if codes is None:
            raise invalid({"code": "wrong code, or no enrolment started (POST /two-factor)"})
        token = None
        if call.session_id is not None:
            token = await hub.sessions.renew(conn, call.session_id)
    if token is None:
        return EnrolledOut(recovery_codes=codes, csrf_token=None)
    call.cookies.append(session_cookie(call, token))
    return EnrolledOut(recovery_codes=codes, csrf_token=hub.sessions.csrf_token(token))


@routes.add(
    "PUT",
    "/password",
    summary="Change my password",
    tag="accounts",
    response=EndedSessions,
    body=PasswordIn,
    permission=Permission.ACCOUNT_OWN,
)
async def change_password(call: Call[PasswordIn, Any]) -> EndedSessions:
    """Ends the caller's other sessions (all of them, for a bearer token)."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        ended = await change_own_password(
            conn,
            hub.sessions,
            call.principal,
            call.session_id,
            call.body.current_password,
            call.body.new_password,
        )
    return EndedSessions(ended=ended)


@routes.add(
    "PUT",
    "/users/{user_id}/password",
    summary="Set a user's temporary password (admins)",
    tag="accounts",
    response=EndedSessions,
    body=TemporaryPasswordIn,
    permission=Permission.USERS_MANAGE,
)
async def set_user_password(call: Call[TemporaryPasswordIn, Any]) -> EndedSessions:
    """Ends every session the user had."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        ended = await set_temporary_password(
            conn,
            hub.sessions,
            call.principal.workspace_id,
            call.ids["user_id"],
            call.body.password,
            admin=call.principal,
        )
    return EndedSessions(ended=ended)


@routes.add(
    "PUT",
    "/workspace/two-factor-roles",
    summary="Set which roles must sign in with two-factor (admins)",
    tag="accounts",
    response=TwoFactorRoles,
    body=TwoFactorRoles,
    permission=Permission.USERS_MANAGE,
)
async def set_two_factor_roles(call: Call[TwoFactorRoles, Any]) -> TwoFactorRoles:
    """Any role the workspace has, built-in or custom (422 for another name). Their users
    without two-factor can, after their password, only enrol."""
    async with call.request.app[HUB].engine.begin() as conn:
        roles = await choose_two_factor_roles(
            conn,
            call.principal.workspace_id,
            call.body.roles,
            actor_user_id=call.principal.user_id,
        )
    return TwoFactorRoles(roles=roles)


@routes.add(
    "POST",
    "/password-reset",
    summary="Mail me a password-reset link",
    tag="accounts",
    response=ResetRequested,
    body=ResetRequestIn,
    status=202,
    access=Access.PUBLIC,
)
async def request_password_reset(call: Call[ResetRequestIn, Any]) -> ResetRequested:
    """Through the workspace's email channel. The answer is the same for an unknown email and
    for an account whose workspace has no email channel (the audit log tells its admins, who
    set a temporary password instead). The link works once, within the hour. Three asks per
    email and address, and 20 per address, in 15 minutes; then 429."""
    hub = call.request.app[HUB]
    address = counted_address(call.request) or "unknown"
    queued = await hub.password_resets.send_links(
        hub.engine, call.body.email, call.body.workspace_id, address
    )
    for link in queued:
        await enqueue_committed(hub.jobs, "send_message", link.message_id)
    return ResetRequested(sent=True)


@routes.add(
    "POST",
    "/password-reset/complete",
    summary="Choose a new password with a reset link's token",
    tag="accounts",
    response=EndedSessions,
    body=ResetIn,
    access=Access.PUBLIC,
)
async def complete_password_reset(call: Call[ResetIn, Any]) -> EndedSessions:
    """Ends every session of the user. 422 for a token unknown, used or expired."""
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        ended = await hub.password_resets.complete(conn, call.body.token, call.body.new_password)
    return EndedSessions(ended=ended)
