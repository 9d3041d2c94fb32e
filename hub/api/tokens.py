"""API tokens: a user lists, creates and revokes their own; an admin lists and revokes every
token of the workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Id, Instant, Text
from hub.api.paging import Cursor, PageLimit, decode_cursor, encode_cursor
from hub.errors import ApiError, invalid, not_found
from hub.provisioning import create_api_token, revoke_api_token
from hub.tokens import TokenRow, list_tokens, token_by_id
from hub.web_keys import HUB
from timeline.policy import READING, Permission, missing_permission

routes = ApiRoutes()


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    permissions: list[Permission] | None = Field(
        description="null: every permission of its user's role"
    )
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the token itself, shown this once")


class TokenQuery(BaseModel):
    user_id: Id | None = Field(None, description="one user's tokens (admins; others see theirs)")
    limit: PageLimit = 50
    cursor: Cursor | None = None


class TokenIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    read_only: bool = Field(False, description="allow only reading (GET) operations")
    permissions: list[Permission] | None = Field(
        None, max_length=len(Permission), description="allow only these (default: all)"
    )
    expires_at: Instant | None = Field(None, description="refused from then on (default: never)")


@routes.add(
    "GET", "/tokens", summary="List API tokens", tag="tokens", response=TokenPage, query=TokenQuery
)
async def get_tokens(call: Call[Any, TokenQuery]) -> TokenPage:
    principal, query = call.principal, call.query
    if principal.may(Permission.TOKENS_MANAGE):
        user_id = query.user_id
    elif query.user_id in (None, principal.user_id):
        user_id = principal.user_id
    else:
        raise missing_permission(Permission.TOKENS_MANAGE)
    before_id = decode_cursor(query.cursor, int)[0] if query.cursor else None
    async with call.request.app[HUB].reads.connect() as conn:
        rows = await list_tokens(
            conn,
            principal.workspace_id,
            user_id=user_id,
            before_id=before_id,
            limit=query.limit + 1,
        )
    page = rows[: query.limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > query.limit else None
    return TokenPage(items=[_out(row) for row in page], next_cursor=next_cursor)


@routes.add(
    "POST",
    "/tokens",
    summary="Create an API token for yourself",
    tag="tokens",
    permission=Permission.TOKENS_OWN,
    response=NewTokenOut,
    body=TokenIn,
    status=201,
)
async def post_token(call: Call[TokenIn, Any]) -> NewTokenOut:
    body, principal = call.body, call.principal
    if body.read_only and body.permissions is not None:
        raise invalid({"permissions": "give read_only or permissions, not both"})
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise invalid({"expires_at": "must be in the future"})
    permissions = READING & principal.permissions if body.read_only else _scope(body.permissions)
    wider = principal.narrowed if permissions is None else not permissions <= principal.permissions
    if wider:
        raise ApiError(403, "forbidden", "a token cannot make a token that may do more than it")
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        new = await create_api_token(
            conn,
            hub.token_key,
            principal.user_id,
            body.name,
            permissions=permissions,
            expires_at=body.expires_at,
            actor_user_id=principal.user_id,
        )
        row = await token_by_id(conn, principal.workspace_id, new.id)
    assert row is not None
    return NewTokenOut(**_out(row).model_dump(), token=new.token)


@routes.add(
    "DELETE",
    "/tokens/{token_id}",
    summary="Revoke an API token (yours; admins: any) other than the one calling",
    tag="tokens",
    permission=Permission.TOKENS_OWN,
    response=TokenOut,
)
async def delete_token(call: Call[Any, Any]) -> TokenOut:
    principal = call.principal
    async with call.request.app[HUB].engine.begin() as conn:
        found = await token_by_id(conn, principal.workspace_id, call.ids["token_id"])
        theirs = found is not None and found.user_id != principal.user_id
        if found is None or (theirs and not principal.may(Permission.TOKENS_MANAGE)):
            raise not_found("API token")
        if found.id == principal.token_id:
            raise ApiError(
                409,
                "own_token",
                "a token does not revoke itself (a script would lock itself out): revoke it "
                "with another token or `switchboard token revoke`",
            )
        revoked = await revoke_api_token(
            conn, principal.workspace_id, found.id, actor_user_id=principal.user_id
        )
    return _out(revoked)


def _scope(names: list[Permission] | None) -> frozenset[Permission] | None:
    return None if names is None else frozenset(names)


def _out(row: TokenRow) -> TokenOut:
    return TokenOut(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        permissions=None if row.permissions is None else sorted(row.permissions),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
