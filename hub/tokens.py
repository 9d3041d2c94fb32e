"""API tokens: minted once, stored as an HMAC keyed by the hub's secret key, named, scoped to
permissions, optionally expiring; found for a request, listed and revoked.

Tokens made before the HMAC (stored as a bare SHA-256) still work: the first request that
presents one rehashes its row with the HMAC (`adopt_legacy_token`); a bare SHA-256 cannot be
turned into an HMAC without the token itself, which only its holder has.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal, principal_from, principal_of_users
from hub.crypto import KeyedHash
from hub.models import ApiToken
from timeline.models import User
from timeline.policy import Permission, known_permissions

TOKEN_PREFIX = "sbt_"
tokens = ApiToken.__table__
users = User.__table__


class TokenKey:
    """The keyed hash of API tokens (`hub.crypto.KeyedHash`, derived from
    SWITCHBOARD_SECRET_KEY): a copy of the database alone does not let anyone test guesses
    offline. Changing the secret key invalidates every token."""

    def __init__(self, hashes: KeyedHash) -> None:
        self._hashes = hashes

    def digest(self, token: str) -> str:
        return self._hashes.digest("api-token", token)


def _legacy_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as its owner and admins see it (never the token itself)."""

    id: int
    user_id: int
    name: str
    permissions: frozenset[Permission] | None
    """None: every permission its user's role allows."""
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


async def create_token(
    conn: AsyncConnection,
    key: TokenKey,
    workspace_id: int,
    user_id: int,
    name: str,
    *,
    permissions: frozenset[Permission] | None = None,
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """Mint a token; only its HMAC is stored, so this is the one time it can be shown.
    Returns its id and the token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    result = await conn.execute(
        tokens.insert().returning(tokens.c.id),
        {
            "workspace_id": workspace_id,
            "user_id": user_id,
            "name": name,
            "token_hash": key.digest(token),
            "permissions": sorted(permissions) if permissions is not None else None,
            "created_at": datetime.now(UTC),
            "expires_at": expires_at,
        },
    )
    return result.scalar_one(), token


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """A valid token's caller, and whether its row still holds a bare SHA-256."""

    principal: Principal
    token_id: int
    legacy: bool


_VALID = (
    principal_of_users()
    .add_columns(
        tokens.c.id.label("token_id"), tokens.c.token_hash, tokens.c.permissions.label("scope")
    )
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash.in_([bindparam("keyed"), bindparam("legacy")]))
    .where(tokens.c.revoked_at.is_(None))
    .where(or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > bindparam("now")))
)


async def find_token(conn: AsyncConnection, key: TokenKey, token: str) -> PresentedToken | None:
    """The caller of `token`, unless it is unknown, revoked or expired."""
    keyed, legacy = key.digest(token), _legacy_digest(token)
    params = {"keyed": keyed, "legacy": legacy, "now": datetime.now(UTC)}
    row = (await conn.execute(_VALID, params)).first()
    if row is None:
        return None
    scope = None if row.scope is None else known_permissions(row.scope)
    principal = principal_from(row, scope=scope, token_id=row.token_id)
    return PresentedToken(principal, row.token_id, legacy=row.token_hash == legacy)


async def adopt_legacy_token(
    conn: AsyncConnection, key: TokenKey, token_id: int, token: str
) -> None:
    """Replace a legacy row's bare SHA-256 with the token's HMAC."""
    await conn.execute(
        update(tokens).where(tokens.c.id == token_id).values(token_hash=key.digest(token))
    )


async def list_tokens(
    conn: AsyncConnection,
    workspace_id: int,
    *,
    user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 10_000,
) -> list[TokenRow]:
    """The workspace's tokens (or one user's), newest first, revoked and expired ones too."""
    query = select(tokens).where(tokens.c.workspace_id == workspace_id)
    if user_id is not None:
        query = query.where(tokens.c.user_id == user_id)
    if before_id is not None:
        query = query.where(tokens.c.id < before_id)
    rows = await conn.execute(query.order_by(tokens.c.id.desc()).limit(limit))
    return [_token_row(row) for row in rows]


async def token_by_id(conn: AsyncConnection, workspace_id: int, token_id: int) -> TokenRow | None:
    """The workspace's token `token_id` (None: no such token there)."""
    query = select(tokens).where(tokens.c.workspace_id == workspace_id, tokens.c.id == token_id)
    row = (await conn.execute(query)).first()
    return _token_row(row) if row else None


async def revoke_token(conn: AsyncConnection, token_id: int) -> datetime | None:
    """Revoke the token now (its next request is refused); None if it was revoked already."""
    now = datetime.now(UTC)
    result = await conn.execute(
        update(tokens)
        .where(tokens.c.id == token_id)
        .where(tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return now if result.rowcount else None


async def revoke_tokens_of(conn: AsyncConnection, user_id: int) -> list[int]:
    """Revoke every token of the user still valid; the ids revoked, in order."""
    result = await conn.execute(
        update(tokens)
        .where(tokens.c.user_id == user_id)
        .where(tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(tokens.c.id)
    )
    return sorted(result.scalars())


def _token_row(row: Row[Any]) -> TokenRow:
    return TokenRow(
        row.id,
        row.user_id,
        row.name,
        None if row.permissions is None else known_permissions(row.permissions),
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )
