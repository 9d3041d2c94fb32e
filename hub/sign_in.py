"""Signing in: email, password and second factor checked, an (email, address) pair locked after
repeated failures and an address after many more whatever the emails (password spraying), the
session started, and each outcome in the audit log.

Users are per workspace (an email is unique within one). The form names the workspace when the
email signs in to several; without it, the password decides: it must match exactly one of the
email's accounts, else the form is asked for the workspace (422). So one address book entry and
one password work for nearly everyone, and nobody learns which workspaces an email belongs to
without its password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Row, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.auth import (
    Principal,
    hash_password,
    match_nobody,
    password_matches,
    password_needs_rehash,
    principal_from,
    principal_of_users,
)
from hub.client_addresses import limited_as
from hub.errors import ApiError, invalid, too_many_failures
from hub.sessions import SessionStore, StartedSession
from hub.shared_failures import FailureCounts
from hub.two_factor import TwoFactor
from timeline import audit
from timeline.models import User, Workspace

users = User.__table__
workspaces = Workspace.__table__


@dataclass(frozen=True, slots=True)
class SignInForm:
    email: str
    password: str
    workspace_id: int | None = None
    totp_code: str | None = None
    recovery_code: str | None = None


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from: its address and what its User-Agent says it is."""

    address: str
    device: str

    @property
    def counted_as(self) -> str:
        """What its failures are counted under (an IPv6 address by its /64)."""
        return limited_as(self.address)


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    session: StartedSession
    enrolling: bool
    """The user's role must use two-factor and they have none yet: the session may only enrol."""


class SignInDesk:
    """Checks sign-ins; failures counted per (email, address) in `failures` and per address in
    `address_failures`."""

    def __init__(
        self,
        sessions: SessionStore,
        two_factor: TwoFactor,
        failures: FailureCounts,
        address_failures: FailureCounts,
    ) -> None:
        self._sessions = sessions
        self._two_factor = two_factor
        self._failures = failures
        self._address_failures = address_failures

    async def sign_in(
        self, engine: AsyncEngine, form: SignInForm, client: Client, previous: str | None
    ) -> SignedIn:
        """A new session for the form's user (the one `previous` cookie named ends: a session id
        is never carried across a sign-in), or ApiError: 401 wrong credentials or missing second
        factor, 422 workspace needed, 429 locked with Retry-After."""
        email = form.email.strip().lower()
        pair = f"{email}\n{client.counted_as}"
        if (wait := await self._address_failures.retry_after(client.counted_as)) is not None:
            raise _address_locked(wait)
        if (wait := await self._failures.retry_after(pair)) is not None:
            raise _locked(wait)
        async with engine.connect() as conn:
            candidates = await _accounts(conn, email, form.workspace_id)
        matched = [r for r in candidates if await password_matches(r.password_hash, form.password)]
        if not candidates:
            await match_nobody(form.password)
        if not matched:
            await self._fail(engine, pair, candidates, client, "email or password")
        if len(matched) > 1:
            raise invalid({"workspace_id": "this email signs in to several workspaces: name one"})
        user = matched[0]
        async with engine.begin() as conn:
            second_factor = await self._second_factor(conn, user, form)
        if second_factor is False:
            await self._fail(engine, pair, [user], client, "second-factor code")
        async with engine.begin() as conn:
            if password_needs_rehash(user.password_hash):
                await conn.execute(
                    update(users)
                    .where(users.c.id == user.id)
                    .values(password_hash=await hash_password(form.password))
                )
            principal = principal_from(user)
            enrolling = second_factor is None and user.role in (user.two_factor_roles or [])
            if previous is not None and (old := await self._sessions.find(conn, previous)):
                await self._sessions.end(
                    conn,
                    workspace_id=old.principal.workspace_id,
                    actor_user_id=old.principal.user_id,
                    session_ids=[old.id],
                )
            session = await self._sessions.start(
                conn, principal, enrolling=enrolling, device=client.device, address=client.address
            )
            await audit.record(
                conn,
                workspace_id=user.workspace_id,
                actor_user_id=user.id,
                action="user.signed_in",
                entity_type="user",
                entity_id=user.id,
                changes={
                    "session_id": session.id,
                    "address": client.address,
                    "second_factor": second_factor is not None,
                },
            )
        return SignedIn(principal, session, enrolling)

    async def _second_factor(
        self, conn: AsyncConnection, user: Row[tuple[object, ...]], form: SignInForm
    ) -> bool | None:
        """None: the user has no second factor; True: the form's code was right; False: wrong.
        ApiError 401 `two_factor_required` when the user has one and the form gave no code."""
        if not await self._two_factor.enrolled(conn, user.id):
            return None
        spent = await self._two_factor.spend(
            conn, user.id, totp_code=form.totp_code, recovery_code=form.recovery_code
        )
        if spent is not None:
            return spent
        raise ApiError(
            401,
            "two_factor_required",
            "send the code of your authenticator app as totp_code (or a recovery_code)",
        )

    async def _fail(
        self,
        engine: AsyncEngine,
        pair: str,
        accounts: list[Row[tuple[object, ...]]],
        client: Client,
        what: str,
    ) -> NoReturn:
        wait = await self._failures.record_failure(pair)
        address_wait = await self._address_failures.record_failure(client.counted_as)
        locked = wait is not None or address_wait is not None
        async with engine.begin() as conn:
            await audit.record_all(
                conn,
                [
                    audit.Audited(
                        row.workspace_id,
                        None,
                        action,
                        "user",
                        row.id,
                        {"address": client.address, "refused": what},
                    )
                    for row in accounts
                    for action in (
                        ["user.sign_in_failed"] + (["user.sign_in_locked"] if locked else [])
                    )
                ],
            )
        if wait is not None:
            raise _locked(wait)
        if address_wait is not None:
            raise _address_locked(address_wait)
        raise ApiError(401, "sign_in_failed", f"wrong {what}")


def _locked(wait: int) -> ApiError:
    return too_many_failures(
        wait,
        f"too many failed sign-ins for this email from this address: try again in {wait} s "
        "(or from another address)",
    )


def _address_locked(wait: int) -> ApiError:
    return too_many_failures(
        wait, f"too many failed sign-ins from this address: try again in {wait} s"
    )


async def _accounts(
    conn: AsyncConnection, email: str, workspace_id: int | None
) -> list[Row[tuple[object, ...]]]:
    """The email's accounts that have a password, with what signing in needs to know."""
    query = (
        principal_of_users()
        .add_columns(users.c.password_hash, workspaces.c.two_factor_roles)
        .join(workspaces, workspaces.c.id == users.c.workspace_id)
        .where(users.c.email == email)
        .where(users.c.password_hash.is_not(None))
        .order_by(users.c.id)
    )
    if workspace_id is not None:
        query = query.where(users.c.workspace_id == workspace_id)
    return list(await conn.execute(query))
