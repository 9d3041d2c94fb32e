"""Passwords (argon2), bearer API tokens, and the principal each API request acts as."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.models import ApiToken
from timeline.actor import Actor
from timeline.models import Role, User

TOKEN_PREFIX = "sbt_"
_hasher = PasswordHasher()
tokens = ApiToken.__table__
users = User.__table__


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user in one workspace with one role."""

    user_id: int
    workspace_id: int
    role: Role

    @property
    def manages(self) -> bool:
        return self.role in (Role.ADMIN, Role.MANAGER)

    @property
    def actor(self) -> Actor:
        """The principal as the core's services know it."""
        return Actor(self.workspace_id, self.user_id, self.manages)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the hasher's now (rehash it)."""
    return _hasher.check_needs_rehash(password_hash)


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
    select(users.c.id, users.c.workspace_id, users.c.role)
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == bindparam("token_hash"))
    .where(tokens.c.revoked_at.is_(None))
)


async def principal_for_token(conn: AsyncConnection, token: str) -> Principal | None:
    row = (await conn.execute(_PRINCIPAL, {"token_hash": _digest(token)})).first()
    return Principal(row.id, row.workspace_id, Role(row.role)) if row else None
