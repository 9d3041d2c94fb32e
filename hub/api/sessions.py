"""Signing in and out, who am I, and the sessions a user (or an admin) can see and end."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from hub.api.framework import NO_NUL, Access, ApiRoutes, Call, Cookie, Id
from hub.errors import not_found
from hub.request_ids import client_address
from hub.sessions import MAX_DEVICE, SESSION_COOKIE
from hub.sign_in import Client, SignInForm
from hub.web_keys import HUB
from timeline.policy import Permission, missing_permission

routes = ApiRoutes()

TOTP_CODE = r"^[0-9]{6}$"


class SignInIn(BaseModel):
    email: str = Field(min_length=1, max_length=320, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)
    workspace_id: Id | None = None
    """Needed only when the email signs in to several workspaces with this password."""
    totp_code: Annotated[str, Field(max_length=6, pattern=TOTP_CODE)] | None = None
    recovery_code: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = None


class SessionOut(BaseModel):
    """Who is signed in; `csrf_token` goes in the X-CSRF-Token header of every POST, PUT,
    PATCH and DELETE made with the session cookie (null for a bearer token, which needs none)."""

    user_id: int
    workspace_id: int
    role: str
    session_id: int | None
    csrf_token: str | None
    enrolling: bool
    """The user's role signs in with two-factor and they have none: enrol before anything else."""


class ActiveSessionOut(BaseModel):
    id: int
    user_id: int
    device: str
    address: str
    started_at: datetime
    last_seen_at: datetime
    current: bool


class SessionList(BaseModel):
    items: list[ActiveSessionOut]


class SessionsQuery(BaseModel):
    user_id: Id | None = None
    """Another user's sessions (admins only); the caller's own by default."""


class EndedSessions(BaseModel):
    ended: list[int]


@routes.add(
    "POST",
    "/session",
    summary="Sign in with email and password (and a second factor)",
    tag="sessions",
    response=SessionOut,
    body=SignInIn,
    status=201,
    access=Access.PUBLIC,
)
async def sign_in(call: Call[SignInIn, Any]) -> SessionOut:
    """Sets the session cookie (HttpOnly, SameSite=Lax) of a new session: any session the
    request's cookie named ends. 401 `two_factor_required` asks for `totp_code`; after repeated
    failures for one email from one address, 429 with Retry-After."""
    hub = call.request.app[HUB]
    form = SignInForm(**call.body.model_dump())
    client = Client(
        client_address(call.request) or "unknown",
        call.request.headers.get("User-Agent", "")[:MAX_DEVICE],
    )
    previous = call.request.cookies.get(SESSION_COOKIE)
    signed_in = await hub.sign_in.sign_in(hub.engine, form, client, previous)
    call.cookies.append(session_cookie(call, signed_in.session.token))
    principal = signed_in.principal
    return SessionOut(
        user_id=principal.user_id,
        workspace_id=principal.workspace_id,
        role=principal.role,
        session_id=signed_in.session.id,
        csrf_token=hub.sessions.csrf_token(signed_in.session.token),
        enrolling=signed_in.enrolling,
    )


@routes.add(
    "GET",
    "/session",
    summary="Who am I, and my session's CSRF token",
    tag="sessions",
    response=SessionOut,
    access=Access.ENROLLING,
)
async def who_am_i(call: Call[Any, Any]) -> SessionOut:
    hub = call.request.app[HUB]
    cookie = call.request.cookies.get(SESSION_COOKIE) if call.session_id else None
    principal = call.principal
    return SessionOut(
        user_id=principal.user_id,
        workspace_id=principal.workspace_id,
        role=principal.role,
        session_id=call.session_id,
        csrf_token=hub.sessions.csrf_token(cookie) if cookie else None,
        enrolling=call.caller is not None and call.caller.enrolling,
    )


@routes.add(
    "DELETE",
    "/session",
    summary="Sign out: end this session",
    tag="sessions",
    response=EndedSessions,
    access=Access.ENROLLING,
    permission=Permission.ACCOUNT_OWN,
)
async def sign_out(call: Call[Any, Any]) -> EndedSessions:
    """Ends nothing for a bearer token (revoke the token instead)."""
    call.cookies.append(Cookie(SESSION_COOKIE, "", _secure(call), max_age=0))
    if call.session_id is None:
        return EndedSessions(ended=[])
    return await _end(call, session_ids=[call.session_id])


@routes.add(
    "GET",
    "/sessions",
    summary="List active sessions",
    tag="sessions",
    response=SessionList,
    query=SessionsQuery,
)
async def list_sessions(call: Call[Any, SessionsQuery]) -> SessionList:
    """The caller's own, or (with users.manage) another user's of the workspace."""
    user_id = call.query.user_id or call.principal.user_id
    if user_id != call.principal.user_id:
        _require_admin(call)
    hub = call.request.app[HUB]
    async with hub.reads.connect() as conn:
        rows = await hub.sessions.list_active(conn, call.principal.workspace_id, user_id)
    current = call.session_id
    return SessionList(
        items=[
            ActiveSessionOut(
                id=row.id,
                user_id=row.user_id,
                device=row.device,
                address=row.address,
                started_at=row.started_at,
                last_seen_at=row.last_seen_at,
                current=row.id == current,
            )
            for row in rows
        ]
    )


@routes.add(
    "DELETE",
    "/sessions/{session_id}",
    summary="End a session",
    tag="sessions",
    response=EndedSessions,
    permission=Permission.ACCOUNT_OWN,
)
async def end_session(call: Call[Any, Any]) -> EndedSessions:
    """One of the caller's sessions, or (with users.manage) anyone's in the workspace."""
    owner = None if call.principal.may(Permission.USERS_MANAGE) else call.principal.user_id
    ended = await _end(call, session_ids=[call.ids["session_id"]], user_id=owner)
    if not ended.ended:
        raise not_found("session")
    return ended


@routes.add(
    "POST",
    "/session/end-others",
    summary="End all my other sessions",
    tag="sessions",
    response=EndedSessions,
    permission=Permission.ACCOUNT_OWN,
)
async def end_other_sessions(call: Call[Any, Any]) -> EndedSessions:
    """Every session of the caller but the one making this request (all of them, when the
    caller uses a bearer token). Under /session, not /sessions, where it would share its
    path with /sessions/{session_id}."""
    return await _end(call, user_id=call.principal.user_id, keep=call.session_id)


async def _end(
    call: Call[Any, Any],
    *,
    session_ids: list[int] | None = None,
    user_id: int | None = None,
    keep: int | None = None,
) -> EndedSessions:
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        ended = await hub.sessions.end(
            conn,
            workspace_id=call.principal.workspace_id,
            actor_user_id=call.principal.user_id,
            session_ids=session_ids or (),
            user_id=user_id,
            keep=keep,
        )
    return EndedSessions(ended=ended)


def _require_admin(call: Call[Any, Any]) -> None:
    if not call.principal.may(Permission.USERS_MANAGE):
        raise missing_permission(Permission.USERS_MANAGE)


def _secure(call: Call[Any, Any]) -> bool:
    return call.request.app[HUB].settings.sign_in.secure_cookies


def session_cookie(call: Call[Any, Any], token: str) -> Cookie:
    """The cookie of a session just started or renewed."""
    return Cookie(SESSION_COOKIE, token, _secure(call))
