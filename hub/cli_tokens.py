"""The `switchboard token` commands: create (named, scoped, optionally expiring), list, revoke."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.cli_args import row_id, whole_number
from hub.commands import CommandError, command_hub
from hub.config import Settings
from timeline.policy import READING, Permission


def add_token_commands(commands: Any) -> None:
    token = commands.add_parser("token", help="API tokens").add_subparsers(required=True)
    create = token.add_parser("create", help="create an API token for a user")
    create.add_argument("--user", type=row_id, required=True)
    create.add_argument("--name", default="cli")
    scope = create.add_mutually_exclusive_group()
    scope.add_argument("--read-only", action="store_true", help="allow only reading operations")
    scope.add_argument(
        "--permission",
        action="append",
        choices=[permission.value for permission in Permission],
        help="allow only this (repeat for each); default: all the user's role allows",
    )
    create.add_argument(
        "--expires-in-days", type=whole_number(1, 36_500), metavar="DAYS", help="default: never"
    )
    create.set_defaults(command=_create)

    listing = token.add_parser("list", help="list a workspace's (or a user's) tokens")
    listing.add_argument("--workspace", type=row_id, required=True)
    listing.add_argument("--user", type=row_id, help="only this user's")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(command=_list)

    revoke = token.add_parser("revoke", help="revoke a token: its next request is refused")
    revoke.add_argument("--workspace", type=row_id, required=True)
    revoke.add_argument("id", type=row_id)
    revoke.set_defaults(command=_revoke)


async def _create(settings: Settings, args: argparse.Namespace) -> int:
    from hub.provisioning import create_api_token

    expires_at = (
        datetime.now(UTC) + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    )
    permissions = (
        READING
        if args.read_only
        else frozenset(Permission(name) for name in args.permission)
        if args.permission
        else None
    )
    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        try:
            new = await create_api_token(
                conn,
                hub.token_key,
                args.user,
                args.name,
                permissions=permissions,
                expires_at=expires_at,
            )
        except LookupError as error:
            raise CommandError(str(error)) from None
    print(new.token)
    return 0


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.tokens import list_tokens

    async with command_hub(settings) as hub, hub.reads.connect() as conn:
        rows = await list_tokens(conn, args.workspace, user_id=args.user)
    listed = [
        {
            "id": row.id,
            "user_id": row.user_id,
            "name": row.name,
            "permissions": None if row.permissions is None else sorted(row.permissions),
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]
    if args.json:
        print(json.dumps(listed))
        return 0
    for item in listed:
        scope = ", ".join(item["permissions"]) if item["permissions"] is not None else "all"
        state = (
            f"revoked {item['revoked_at']}"
            if item["revoked_at"]
            else f"expires {item['expires_at']}"
            if item["expires_at"]
            else "active"
        )
        print(f"#{item['id']}  user {item['user_id']}  {item['name']}  [{scope}]  {state}")
    print(f"{len(listed)} token(s)")
    return 0


async def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from hub.provisioning import revoke_api_token

    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        try:
            await revoke_api_token(conn, args.workspace, args.id)
        except LookupError as error:
            raise CommandError(f"{error} in workspace {args.workspace}") from None
    print(f"revoked token #{args.id}")
    return 0
