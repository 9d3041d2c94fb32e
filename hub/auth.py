"""Passwords (argon2), and the principal each API request acts as (API tokens: hub.tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from hub.permissions import EVERY_PERMISSION, Permission
from timeline.actor import Actor
from timeline.models import Role

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user in one workspace with one role, through credentials that allow
    `permissions` (a token's scope; the role still decides what the user may do at all)."""

    user_id: int
    workspace_id: int
    role: Role
    permissions: frozenset[Permission] = EVERY_PERMISSION
    token_id: int | None = None
    """The API token the request came with, if it came with one."""

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

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
