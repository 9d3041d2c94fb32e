"""Passwords (argon2), bearer API tokens, and the principal each API request acts as."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.models import ApiToken
from timeline.actor import Actor
from timeline.models import CustomRole, User
from timeline.policy import Permission, role_permissions

TOKEN_PREFIX = "sbt_"
_hasher = PasswordHasher()
tokens = ApiToken.__table__
users = User.__table__
custom_roles = CustomRole.__table__


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user in one workspace with one role, and what that role grants."""

    user_id: int
    workspace_id: int
    role: str
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> Actor:
        """The principal as the core's services know it."""
        return Actor(self.workspace_id, self.user_id, self.permissions)


def principal_of_users() -> Select[tuple[int, int, str, list[str] | None]]:
    """A user's row as `principal_from` reads it (their custom role's permissions joined):
    every way in (tokens, sessions) filters this and makes the principal in one place."""
    return select(
        users.c.id, users.c.workspace_id, users.c.role, custom_roles.c.permissions
    ).outerjoin(
        custom_roles,
        (custom_roles.c.workspace_id == users.c.workspace_id)
        & (custom_roles.c.name == users.c.role),
    )


def principal_from(row: Row[tuple[int, int, str, list[str] | None]]) -> Principal:
    return Principal(
        row.id, row.workspace_id, row.role, role_permissions(row.role, row.permissions)
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(conn: AsyncConnection, workspace_id: int, user_id: int, name: str) -> str:
    """Mint a token; only its digest is stored, so this is the one time it can be shown."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        tokens.insert(),
        {
            "workspace_id": workspace_id,
            "user_id": user_id,
            "name": name,
            "token_hash": _digest(token),
            "created_at": datetime.now(UTC),
        },
    )
    return token


_PRINCIPAL = (
    principal_of_users()
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == bindparam("token_hash"))
    .where(tokens.c.revoked_at.is_(None))
)


async def principal_for_token(conn: AsyncConnection, token: str) -> Principal | None:
    row = (await conn.execute(_PRINCIPAL, {"token_hash": _digest(token)})).first()
    return principal_from(row) if row else None
