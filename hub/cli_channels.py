"""The `switchboard channel` commands: add (its options made from each installed channel's
spec), list, update, sync."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from channels import registry
from channels.base import ChannelSpec, CheckFailed, SyncCounts
from hub.cli_args import row_id
from hub.commands import CommandError, command_hub
from hub.config import Settings

_CREDENTIAL = "credential:"
_SETTING = "setting:"


def add_channel_commands(commands: Any) -> None:
    """`channel add <kind>`, `channel list`, `channel update`, `channel sync`."""
    channel = commands.add_parser("channel", help="channel accounts").add_subparsers(required=True)
    kinds = channel.add_parser("add", help="connect a channel account").add_subparsers(
        dest="kind", required=True, metavar="kind"
    )
    for spec in registry.specs().values():
        _add_kind(kinds, spec)

    listing = channel.add_parser("list", help="list channel accounts and their webhook URLs")
    listing.add_argument("--workspace", type=row_id, help="only this workspace's")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(command=_list)

    update = channel.add_parser(
        "update", help="change a channel account; serving processes follow within seconds"
    )
    update.add_argument("channel", type=row_id)
    activity = update.add_mutually_exclusive_group()
    activity.add_argument("--activate", dest="active", action="store_const", const=True)
    activity.add_argument("--deactivate", dest="active", action="store_const", const=False)
    update.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a credential (e.g. auth_token=...); NAME= removes it; repeat for each",
    )
    update.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="likewise, a setting"
    )
    update.add_argument("--provider-base-url", default=None)
    update.add_argument(
        "--rotate-webhook-key",
        action="store_true",
        help="give the channel a new webhook URL (printed); the old one answers 404 from then on",
    )
    update.set_defaults(command=_update)

    sync = channel.add_parser("sync", help="fetch what is new for a channel that fetches")
    sync.add_argument("channel", type=row_id)
    sync.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="stop when caught up (the long-running reader runs in `serve`)",
    )
    sync.set_defaults(command=_sync)


def _add_kind(kinds: Any, spec: ChannelSpec) -> None:
    parser = kinds.add_parser(spec.kind, help=f"{spec.title} ({spec.docs})")
    parser.add_argument("--workspace", type=row_id, required=True)
    parser.add_argument(
        "--provider",
        choices=[provider.name for provider in spec.providers],
        default=spec.providers[0].name,
    )
    parser.add_argument("--name", default="")
    parser.add_argument("--address", help="the channel's own address (our number, our mailbox)")
    parser.add_argument("--provider-base-url", help="send to another compatible API")
    parser.add_argument(
        "--no-check", action="store_true", help="store it without asking the provider first"
    )
    seen: set[str] = set()
    for provider in spec.providers:
        for prefix, model in ((_CREDENTIAL, provider.credentials), (_SETTING, provider.settings)):
            _add_fields(parser, model, prefix, seen)
    parser.set_defaults(command=_add)


def _add_fields(
    parser: argparse.ArgumentParser, model: type[BaseModel], prefix: str, seen: set[str]
) -> None:
    """One option per field, `--account-sid` for `account_sid`; values are validated by the
    model afterwards, so every option takes text."""
    for name, field in model.model_fields.items():
        if name in seen:
            continue
        seen.add(name)
        what = field.description or name.replace("_", " ")
        option = name.replace("_", "-")
        parser.add_argument(
            "--" + option,
            dest=prefix + name,
            metavar=option.upper(),
            help=what + (" (required)" if field.is_required() else ""),
        )


async def _add(settings: Settings, args: argparse.Namespace) -> int:
    from hub.channel_accounts import add_channel
    from hub.provisioning import draft_account

    given = {name: value for name, value in vars(args).items() if value is not None}
    try:
        draft = draft_account(
            args.kind,
            args.provider,
            address=args.address,
            credentials=_prefixed(given, _CREDENTIAL),
            settings=_prefixed(given, _SETTING),
            provider_base_url=args.provider_base_url,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    name = args.name or f"{args.kind} {draft.address}"
    async with command_hub(settings) as hub:
        try:
            added = await add_channel(
                hub, args.workspace, draft, name=name, check=not args.no_check
            )
        except CheckFailed as error:
            raise CommandError(f"{args.kind} check failed: {error} (--no-check skips it)") from None
    print(added.channel.id)
    print(f"webhook URL: {added.channel.webhook_url}", file=sys.stderr)
    if added.unregistered is not None:
        raise CommandError(
            f"channel {added.channel.id} added, but the provider was not told its webhook URL:"
            f" {added.unregistered} (the hub tries again whenever it starts)"
        )
    return 0


def _prefixed(given: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {name.removeprefix(prefix): v for name, v in given.items() if name.startswith(prefix)}


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.channel_accounts import list_channels

    async with command_hub(settings) as hub, hub.engine.connect() as conn:
        rows = [
            {
                "id": channel.id,
                "workspace_id": channel.workspace_id,
                "kind": channel.kind,
                "provider": channel.provider,
                "name": channel.name,
                "address": channel.address,
                "active": channel.active,
                "webhook_url": channel.webhook_url,
            }
            for channel in await list_channels(hub, conn, args.workspace)
        ]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        state = "active" if row["active"] else "inactive"
        print(
            f"#{row['id']}  workspace {row['workspace_id']}  {row['kind']}/{row['provider']}  "
            f"{row['address']}  {state}  {row['webhook_url']}"
        )
    return 0


async def _update(settings: Settings, args: argparse.Namespace) -> int:
    from hub.channel_accounts import change_channel
    from hub.provisioning import ChannelChange

    change = ChannelChange(
        active=args.active,
        credentials=_assignments(args.credential, "--credential"),
        settings=_assignments(args.setting, "--setting"),
        provider_base_url=args.provider_base_url,
        new_webhook_key=args.rotate_webhook_key,
    )
    async with command_hub(settings) as hub:
        try:
            saved = await change_channel(hub, None, args.channel, change)
        except (LookupError, ValueError) as error:
            raise CommandError(str(error)) from None
    print(f"channel {args.channel} is at revision {saved.channel.revision}")
    if args.rotate_webhook_key:
        print(f"webhook URL: {saved.channel.webhook_url}", file=sys.stderr)
    if saved.unregistered is not None:
        raise CommandError(
            f"channel {args.channel} changed, but the provider was not told its webhook URL:"
            f" {saved.unregistered} (the hub tries again whenever it starts)"
        )
    return 0


def _assignments(items: list[str], option: str) -> dict[str, str | None]:
    """NAME=VALUE pairs; an empty VALUE (NAME=) stands for removing NAME."""
    pairs: dict[str, str | None] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not name or not equals:
            raise CommandError(f"{option} takes NAME=VALUE, got {item!r}")
        pairs[name] = value or None
    return pairs


async def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from hub.channel_directory import UnknownChannel
    from hub.pull import NotPulled, pull_once

    def show(counts: SyncCounts) -> None:
        print(
            f"\r{counts.imported} imported, {counts.duplicates} duplicates, "
            f"{counts.quarantined} quarantined",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async with command_hub(settings) as hub:
        try:
            channel = await hub.channels.get(args.channel)
            counts = await pull_once(hub, channel, progress=show)
        except (UnknownChannel, NotPulled) as error:
            raise CommandError(str(error)) from None
    print(file=sys.stderr)
    print(
        f"imported {counts.imported}, duplicates {counts.duplicates}, "
        f"quarantined {counts.quarantined}"
    )
    return 0
