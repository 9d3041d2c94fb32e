"""Passwords (argon2), and the principal each API request acts as (API tokens: hub.tokens)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Row, Select, select

from timeline.actor import Actor
from timeline.models import CustomRole, User
from timeline.policy import Permission, role_permissions

_hasher = PasswordHasher()
users = User.__table__
custom_roles = CustomRole.__table__


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user in one workspace with one role, and what the role grants within
    what the credentials allow (a token's scope narrows the role, never widens it)."""

    user_id: int
    workspace_id: int
    role: str
    permissions: frozenset[Permission]
    token_id: int | None = None
    """The API token the request came with, if it came with one."""
    narrowed: bool = False
    """Whether the credentials allow less than the role grants (a scoped token)."""

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> Actor:
        """The principal as the core's services know it."""
        return Actor(self.workspace_id, self.user_id, self.permissions)


def principal_of_users() -> Select[tuple[int, int, str, list[str] | None]]:
    """An active user's row as `principal_from` reads it (their custom role's permissions
    joined): every way in (sign-in, tokens, sessions) filters this and makes the principal in
    one place, so a deactivated user has none."""
    return (
        select(users.c.id, users.c.workspace_id, users.c.role, custom_roles.c.permissions)
        .outerjoin(
            custom_roles,
            (custom_roles.c.workspace_id == users.c.workspace_id)
            & (custom_roles.c.name == users.c.role),
        )
        .where(users.c.deactivated_at.is_(None))
    )


def principal_from(
    row: Row[tuple[int, int, str, list[str] | None]],
    *,
    scope: Collection[Permission] | None = None,
    token_id: int | None = None,
) -> Principal:
    """The principal of a `principal_of_users` row; `scope`: what its credentials allow (None:
    all its role grants)."""
    granted = role_permissions(row.role, row.permissions)
    permissions = granted if scope is None else granted & frozenset(scope)
    return Principal(
        row.id, row.workspace_id, row.role, permissions, token_id, permissions != granted
    )


async def hash_password(password: str) -> str:
    """The password's argon2 hash, made in a worker thread (see `password_matches`)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(password_hash: str, password: str) -> bool:
    """Verified in a worker thread: argon2 takes about 150 ms of CPU here, and on the event
    loop every sign-in held each other request of its process (webhooks too) that long."""
    return await asyncio.to_thread(_verifies, password_hash, password)


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


async def match_nobody(password: str) -> None:
    """Verify `password` against a hash no account has, in a worker thread: a refusal for an
    email without an account takes as long as one for a wrong password."""
    await asyncio.to_thread(lambda: _verifies(_unusable_hash(), password))


@cache
def _unusable_hash() -> str:
    """Made on first use, not at import: an argon2 hash (115 ms here) in every process and
    every CLI command that imports this module."""
    return _hasher.hash("a password nobody has: verified when no account matches")


def password_needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the hasher's now (rehash it)."""
    return _hasher.check_needs_rehash(password_hash)
