"""Two-factor after enrolment: its user turns it off or draws new recovery codes, a user manager
(or the operator) resets it; each audited, ending the sessions the change calls for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal
from hub.passwords import require_own_password
from hub.sessions import SessionStore
from hub.two_factor import TwoFactor
from hub.two_factor_roles import role_requires_two_factor
from hub.users import require_managed_user
from timeline import audit
from timeline.errors import Conflict, Invalid


@dataclass(frozen=True, slots=True)
class TurnOffProof:
    """What turning one's own two-factor off asks for: the password and a second factor (a
    current code of the authenticator app, or an unused recovery code)."""

    password: str
    totp_code: str | None = None
    recovery_code: str | None = None


class TwoFactorChanges:
    """Turning off, new recovery codes and resets, over the hub's two-factor and sessions."""

    def __init__(self, two_factor: TwoFactor, sessions: SessionStore) -> None:
        self._two_factor = two_factor
        self._sessions = sessions

    async def turn_off_own(
        self,
        conn: AsyncConnection,
        caller: Principal,
        current_session_id: int | None,
        proof: TurnOffProof,
    ) -> list[int]:
        """Two-factor off for the caller; the ids of their other sessions, which end (all of
        them for a bearer token). Conflict `two_factor_required` when the workspace makes the
        caller's role use it, `not_enrolled` when it is off; Invalid for a wrong password or
        second factor."""
        if await role_requires_two_factor(conn, caller.workspace_id, caller.role):
            raise Conflict(
                "two_factor_required",
                f"your role ({caller.role}) must sign in with two-factor in this workspace, so "
                "it stays on; an admin can reset it if you lost your authenticator app",
            )
        await self._require_enrolled(conn, caller.user_id)
        await require_own_password(conn, caller, proof.password, "password")
        spent = await self._two_factor.spend(
            conn, caller.user_id, totp_code=proof.totp_code, recovery_code=proof.recovery_code
        )
        if not spent:
            raise Invalid(
                {"totp_code": "give a current code of your app, or an unused recovery_code"}
            )
        await self._two_factor.remove(conn, caller.user_id)
        return await self._audit_and_end(
            conn,
            caller.workspace_id,
            caller.user_id,
            caller.user_id,
            "two_factor.disabled",
            keep=current_session_id,
        )

    async def new_recovery_codes(
        self, conn: AsyncConnection, caller: Principal, code: str
    ) -> list[str]:
        """Ten new recovery codes for the caller, shown once, for a current code of their app:
        the earlier ones stop working at once. Conflict `not_enrolled`, Invalid for a wrong
        code."""
        await self._require_enrolled(conn, caller.user_id)
        if not await self._two_factor.verify(conn, caller.user_id, code):
            raise Invalid({"code": "wrong or spent code"})
        recovery = await self._two_factor.replace_recovery_codes(conn, caller.user_id)
        await audit.record(
            conn,
            workspace_id=caller.workspace_id,
            actor_user_id=caller.user_id,
            action="two_factor.recovery_regenerated",
            entity_type="user",
            entity_id=caller.user_id,
        )
        return recovery

    async def reset(
        self, conn: AsyncConnection, workspace_id: int, user_id: int, *, admin: Principal | None
    ) -> list[int]:
        """A user manager (None: the operator) removes a user's two-factor, for one who lost
        their app: every session of the user ends (ids returned), and if their role requires
        two-factor they enrol again at their next sign-in. Conflict `own_two_factor` for the
        admin's own (they turn it off with their password and a code), `not_enrolled`."""
        await require_managed_user(conn, workspace_id, user_id, admin)
        if admin is not None and admin.user_id == user_id:
            raise Conflict(
                "own_two_factor",
                "turn your own two-factor off with your password and a code "
                "(POST /api/v1/two-factor/disable)",
            )
        if not await self._two_factor.remove(conn, user_id):
            raise Conflict("not_enrolled", "this user has no two-factor to reset")
        actor_user_id = None if admin is None else admin.user_id
        return await self._audit_and_end(
            conn, workspace_id, actor_user_id, user_id, "two_factor.reset", keep=None
        )

    async def _require_enrolled(self, conn: AsyncConnection, user_id: int) -> None:
        if not await self._two_factor.enrolled(conn, user_id):
            raise Conflict("not_enrolled", "two-factor is not on for you")

    async def _audit_and_end(
        self,
        conn: AsyncConnection,
        workspace_id: int,
        actor_user_id: int | None,
        user_id: int,
        action: str,
        *,
        keep: int | None,
    ) -> list[int]:
        await audit.record(
            conn,
            workspace_id=workspace_id,
            actor_user_id=actor_user_id,
            action=action,
            entity_type="user",
            entity_id=user_id,
        )
        return await self._sessions.end(
            conn, workspace_id=workspace_id, actor_user_id=actor_user_id, user_id=user_id, keep=keep
        )
