"""TOTP two-factor: enrol (secret shown once, confirmed by a first code), accept each code once,
ten single-use recovery codes (replaceable), and removal."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal
from hub.crypto import KeyedHash, SecretBox
from hub.models import RecoveryCode, TwoFactorSecret
from timeline import audit
from timeline.models import User

ISSUER = "Switchboard"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
"""No 0/o or 1/l: codes are read off paper."""
DRIFT_STEPS = 1
"""Codes of the step before and after now are accepted too (a clock 30 s off)."""

secrets_table = TwoFactorSecret.__table__
codes = RecoveryCode.__table__
users = User.__table__


class AlreadyEnrolled(Exception):
    """The user has confirmed two-factor already; a new secret needs it removed first."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the user's authenticator app needs, shown once."""

    secret: str
    otpauth_uri: str


class TwoFactor:
    """Secrets sealed with the hub's SecretBox; recovery codes hashed with its KeyedHash."""

    def __init__(self, box: SecretBox, hasher: KeyedHash) -> None:
        self._box = box
        self._hasher = hasher

    async def enrolled(self, conn: AsyncConnection, user_id: int) -> bool:
        confirmed = await conn.execute(
            select(secrets_table.c.user_id)
            .where(secrets_table.c.user_id == user_id)
            .where(secrets_table.c.confirmed_at.is_not(None))
        )
        return confirmed.first() is not None

    async def begin(self, conn: AsyncConnection, user_id: int) -> Enrolment:
        """A new unconfirmed secret (replacing an unconfirmed one); AlreadyEnrolled if confirmed."""
        email = (
            await conn.execute(select(users.c.email).where(users.c.id == user_id))
        ).scalar_one()
        if await self.enrolled(conn, user_id):
            raise AlreadyEnrolled("two-factor is already on for this user")
        secret = pyotp.random_base32()
        await conn.execute(delete(secrets_table).where(secrets_table.c.user_id == user_id))
        await conn.execute(
            secrets_table.insert(),
            {"user_id": user_id, "sealed_secret": self._box.seal({"totp": secret})},
        )
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
        return Enrolment(secret, uri)

    async def confirm(self, conn: AsyncConnection, user: Principal, code: str) -> list[str] | None:
        """Confirm the pending secret with a first code: the ten recovery codes (shown once),
        or None if the code is wrong or nothing is pending."""
        user_id = user.user_id
        if await self.enrolled(conn, user_id) or not await self._accept(conn, user_id, code):
            return None
        await conn.execute(
            update(secrets_table)
            .where(secrets_table.c.user_id == user_id)
            .values(confirmed_at=datetime.now(UTC))
        )
        recovery = await self.replace_recovery_codes(conn, user_id)
        await audit.record(
            conn,
            workspace_id=user.workspace_id,
            actor_user_id=user_id,
            action="user.two_factor_enrolled",
            entity_type="user",
            entity_id=user_id,
        )
        return recovery

    async def verify(self, conn: AsyncConnection, user_id: int, code: str) -> bool:
        """A confirmed user's code, accepted once: never again, nor any of an earlier step."""
        return await self.enrolled(conn, user_id) and await self._accept(conn, user_id, code)

    async def spend(
        self,
        conn: AsyncConnection,
        user_id: int,
        *,
        totp_code: str | None,
        recovery_code: str | None,
    ) -> bool | None:
        """The app's code if given, else the recovery code, spent: whether it was right; None
        when neither was given."""
        if totp_code:
            return await self.verify(conn, user_id, totp_code)
        if recovery_code:
            return await self.use_recovery_code(conn, user_id, recovery_code)
        return None

    async def replace_recovery_codes(self, conn: AsyncConnection, user_id: int) -> list[str]:
        """Ten new recovery codes, stored hashed; the user's earlier ones stop working at once."""
        recovery = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        await conn.execute(delete(codes).where(codes.c.user_id == user_id))
        await conn.execute(
            codes.insert(),
            [{"user_id": user_id, "code_hash": self._code_hash(code)} for code in recovery],
        )
        return recovery

    async def remove(self, conn: AsyncConnection, user_id: int) -> bool:
        """Two-factor off: the secret (confirmed or pending) and the recovery codes go; whether
        it had been confirmed."""
        was_enrolled = await self.enrolled(conn, user_id)
        await conn.execute(delete(codes).where(codes.c.user_id == user_id))
        await conn.execute(delete(secrets_table).where(secrets_table.c.user_id == user_id))
        return was_enrolled

    async def use_recovery_code(self, conn: AsyncConnection, user_id: int, code: str) -> bool:
        """Spend one recovery code; each works once (the conditional UPDATE decides)."""
        used = await conn.execute(
            update(codes)
            .where(codes.c.user_id == user_id)
            .where(codes.c.code_hash == self._code_hash(code))
            .where(codes.c.used_at.is_(None))
            .values(used_at=datetime.now(UTC))
            .returning(codes.c.id)
        )
        return used.first() is not None

    async def _accept(self, conn: AsyncConnection, user_id: int, code: str) -> bool:
        sealed = (
            await conn.execute(
                select(secrets_table.c.sealed_secret).where(secrets_table.c.user_id == user_id)
            )
        ).scalar_one_or_none()
        if sealed is None:
            return False
        step = _matching_step(pyotp.TOTP(self._box.open(sealed)["totp"]), code)
        if step is None:
            return False
        # Moves only forward, in one statement: of two requests with one code, one wins.
        moved = await conn.execute(
            update(secrets_table)
            .where(secrets_table.c.user_id == user_id)
            .where(or_(secrets_table.c.last_step.is_(None), secrets_table.c.last_step < step))
            .values(last_step=step)
            .returning(secrets_table.c.user_id)
        )
        return moved.first() is not None

    def _code_hash(self, code: str) -> str:
        return self._hasher.digest("recovery-code", _normalized(code))


def _matching_step(totp: pyotp.TOTP, code: str) -> int | None:
    now = totp.timecode(datetime.now(UTC))
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalized(code: str) -> str:
    return code.lower().replace("-", "").replace(" ", "")
