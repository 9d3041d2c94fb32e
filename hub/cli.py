"""The `switchboard` command: serve, worker, migrate, demo, users, tokens, channels, quarantine,
audit, customers' link tokens and export."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from hub.cli_args import at_least_one, count, not_utf8, row_id
from hub.cli_audit import add_audit_commands
from hub.cli_channels import add_channel_commands
from hub.cli_tokens import add_token_commands
from hub.commands import CommandError, check_schema_of, command_hub
from hub.config import (
    ConfigError,
    Settings,
    load_settings,
    require_configured_key_beyond_loopback,
)
from timeline.audit import Origin, acting_from
from timeline.errors import Refused

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncConnection

ROLE_NAMES = ("admin", "manager", "agent", "marketer")
"""timeline.models.Role's values (not imported here: the command starts without the models)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = sys.argv[1:] if argv is None else argv
    undecodable = not_utf8(arguments)
    if undecodable is not None:
        parser.error(f"arguments must be UTF-8 text; this one is not: {undecodable!r}")
    args = parser.parse_args(arguments)
    os.umask(0o077)  # whatever the hub writes (database, key, logs) is its owner's only
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
        # Whatever the command changes is audited as the operating-system user's doing.
        with acting_from(Origin(os_user=_os_user())):
            result = args.command(settings, args)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
    except ConfigError as error:
        print(f"switchboard: configuration error: {error}", file=sys.stderr)
        return 2
    except (CommandError, Refused) as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 1
    return int(result or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="serve the hub (API, webhooks, inbox)")
    serve.add_argument("--migrate", action="store_true", help="run migrations first")
    serve.add_argument("--demo-if-empty", action="store_true", help="seed a demo on an empty db")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (off by default: it is slow)",
    )
    serve.add_argument(
        "--processes",
        type=at_least_one,
        default=1,
        metavar="N",
        help="serve from N processes sharing the port (PostgreSQL only; about one per core)",
    )
    serve.set_defaults(command=_serve)

    worker = commands.add_parser("worker", help="run background jobs from Redis (RQ)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(command=_worker)

    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        command=_migrate
    )

    demo = commands.add_parser("demo", help="seed a demo workspace and print how to use it")
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.add_argument("--provider-base-url", help="send demo channels' outbound calls here")
    demo.set_defaults(command=_demo)

    workspace = commands.add_parser("workspace", help="workspaces").add_subparsers(required=True)
    ws_create = workspace.add_parser("create", help="create a workspace")
    ws_create.add_argument("name")
    ws_create.add_argument("--country", default="US", help="default country for local numbers")
    ws_create.set_defaults(command=_workspace_create)

    user = commands.add_parser("user", help="users").add_subparsers(required=True)
    user_create = user.add_parser("create", help="create a user")
    user_create.add_argument("--workspace", type=row_id, required=True)
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--name", required=True)
    user_create.add_argument("--role", choices=ROLE_NAMES, default="agent")
    user_create.add_argument("--password", help="prompted for when omitted on a terminal")
    user_create.add_argument("--capacity", type=count, default=10)
    user_create.set_defaults(command=_user_create)
    user_password = _on_one_user(
        user,
        "set-password",
        "set a user's temporary password (ends their sessions)",
        _user_set_password,
    )
    user_password.add_argument("--password", help="prompted for when omitted on a terminal")
    _on_one_user(
        user,
        "reset-two-factor",
        "remove a user's two-factor, for one who lost their app (ends their sessions)",
        _user_reset_two_factor,
    )
    user_role = _on_one_user(
        user, "set-role", "change a user's role (ends their sessions)", _user_set_role
    )
    user_role.add_argument(
        "--role", required=True, help="admin, manager, agent, marketer or a custom role's name"
    )
    _on_one_user(
        user,
        "deactivate",
        "let a user go: ends their sessions and tokens, hands on their conversations",
        _user_deactivate,
    )
    _on_one_user(user, "reactivate", "undo a deactivation", _user_reactivate)

    team = commands.add_parser("team", help="teams").add_subparsers(required=True)
    team_create = team.add_parser("create", help="create a team of existing users")
    team_create.add_argument("--workspace", type=row_id, required=True)
    team_create.add_argument("--name", required=True)
    team_create.add_argument(
        "--member", action="append", default=[], metavar="EMAIL", help="repeat for each member"
    )
    team_create.set_defaults(command=_team_create)

    add_token_commands(commands)
    add_channel_commands(commands)
    add_audit_commands(commands)

    customer = commands.add_parser("customer", help="customers").add_subparsers(required=True)
    link_token = customer.add_parser(
        "link-token", help="issue a token (and deep links) a customer follows to say who they are"
    )
    link_token.add_argument("customer_id", type=row_id, metavar="ID")
    link_token.add_argument("--workspace", type=row_id, required=True)
    link_token.add_argument("--json", action="store_true", help="print one JSON object")
    link_token.set_defaults(command=_customer_link_token)
    export = customer.add_parser(
        "export", help="write the workspace's customers to stdout as CSV or NDJSON (audited)"
    )
    export.add_argument("--workspace", type=row_id, required=True)
    export.add_argument("--format", choices=["csv", "ndjson"], default="csv")
    export.add_argument("--q", help="only customers this search finds (as the API's q)")
    export.set_defaults(command=_customer_export)

    quarantine = commands.add_parser("quarantine", help="payloads that failed to parse")
    q_commands = quarantine.add_subparsers(required=True)
    q_list = q_commands.add_parser("list", help="list quarantined payloads")
    q_list.add_argument("--all", action="store_true", help="include replayed ones")
    q_list.add_argument("--json", action="store_true")
    q_list.set_defaults(command=_quarantine_list)
    q_replay = q_commands.add_parser("replay", help="parse and ingest quarantined payloads again")
    q_replay.add_argument(
        "ids", nargs="*", type=row_id, help="ids to replay (default: all pending)"
    )
    q_replay.set_defaults(command=_quarantine_replay)

    listener = commands.add_parser("listener", help="events a listener set aside")
    l_commands = listener.add_subparsers(required=True)
    l_parked = l_commands.add_parser("parked", help="list the events listeners set aside")
    l_parked.add_argument("--listener", help="one listener's (default: all)")
    l_parked.add_argument("--json", action="store_true")
    l_parked.set_defaults(command=_listener_parked)
    l_replay = l_commands.add_parser(
        "replay", help="hand the events listeners set aside to them again"
    )
    l_replay.add_argument("--listener", help="one listener's (default: all)")
    l_replay.set_defaults(command=_listener_replay)
    return parser


def _on_one_user(
    users: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    command: Callable[[Settings, argparse.Namespace], Awaitable[int]],
) -> argparse.ArgumentParser:
    """A `user` subcommand acting on one user, named by `--user N`."""
    parser = users.add_parser(name, help=help_text)
    parser.add_argument("--user", type=row_id, required=True)
    parser.set_defaults(command=command)
    return parser


def _os_user() -> str:
    """Who runs the command, as the system knows them (a uid without a name: the uid)."""
    try:
        return getpass.getuser()[:64]
    except OSError:
        return f"uid {os.getuid()}"


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    require_configured_key_beyond_loopback(settings)
    if args.processes > 1 and not settings.database_url.startswith("postgresql"):
        raise CommandError("--processes above 1 needs PostgreSQL: SQLite has a single writer")
    if args.migrate:
        _migrate(settings, args)
    if args.demo_if_empty:
        asyncio.run(_seed_if_empty(settings))
    asyncio.run(check_schema_of(settings))
    print(
        f"Switchboard serving on http://{settings.host}:{settings.port} "
        f"(public URL {settings.base_url})"
        + (f" from {args.processes} processes" if args.processes > 1 else ""),
        flush=True,
    )
    if args.processes == 1:
        _serve_web(settings, args, reuse_port=False)
        return 0
    from hub.processes import serve_in_processes

    return serve_in_processes(args.processes, lambda: _serve_web(settings, args, reuse_port=True))


def _serve_web(settings: Settings, args: argparse.Namespace, *, reuse_port: bool) -> None:
    from hub.app import create_app
    from hub.context import Hub
    from hub.serving import serve

    app = create_app(Hub(settings))
    # What is alive now (modules, models, routes) lives as long as the process: keep it out of
    # the collector's full scans, whose pauses would otherwise land on webhook
    # acknowledgements.
    gc.freeze()
    # Each request allocates many objects that die with it; at the default threshold (700) the
    # young generation was collected every few requests, scanning everything then in flight,
    # and the hub spent more CPU per event (docs/performance.md). Reference cycles are rare here.
    gc.set_threshold(20_000, 20, 20)
    asyncio.run(
        serve(
            app,
            settings.host,
            settings.port,
            reuse_port=reuse_port,
            access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
        )
    )


async def _seed_if_empty(settings: Settings) -> None:
    from hub.context import Hub
    from hub.demo import database_is_empty, describe, seed_demo

    hub = Hub(settings)
    try:
        if await database_is_empty(hub):
            print(describe(await seed_demo(hub)), flush=True)
    finally:
        await hub.stop()


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from hub.worker import work

    if settings.redis_url is None:
        raise CommandError(
            "`switchboard worker` needs SWITCHBOARD_REDIS_URL; without it the "
            "server runs jobs in-process"
        )
    work(settings, burst=args.burst)
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except OSError as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    return 0


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from hub.demo import describe, seed_demo

    async with command_hub(settings) as hub:
        demo = await seed_demo(hub, args.provider_base_url)
    print(json.dumps(demo.as_json()) if args.json else describe(demo))
    return 0


async def _workspace_create(settings: Settings, args: argparse.Namespace) -> int:
    from hub.provisioning import create_workspace

    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        workspace_id = await create_workspace(conn, args.name, default_country=args.country)
    print(workspace_id)
    return 0


async def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    from hub.provisioning import create_user
    from timeline.models import Role

    password = args.password
    if password is None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        user_id = await create_user(
            conn,
            args.workspace,
            email=args.email,
            name=args.name,
            role=Role(args.role),
            password=password,
            capacity=args.capacity,
        )
    print(user_id)
    return 0


async def _user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from hub.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, set_temporary_password

    password = args.password
    if password is None and sys.stdin.isatty():
        password = getpass.getpass("Temporary password: ")
    if not password or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise CommandError(
            f"give a password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        workspace_id = await _workspace_of(conn, args.user)
        ended = await set_temporary_password(
            conn, hub.sessions, workspace_id, args.user, password, admin=None
        )
    print(f"password set; {len(ended)} session(s) ended")
    return 0


async def _user_reset_two_factor(settings: Settings, args: argparse.Namespace) -> int:
    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        workspace_id = await _workspace_of(conn, args.user)
        ended = await hub.two_factor_changes.reset(conn, workspace_id, args.user, admin=None)
    print(f"two-factor removed; {len(ended)} session(s) ended")
    return 0


async def _user_set_role(settings: Settings, args: argparse.Namespace) -> int:
    from hub.users import set_role

    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        workspace_id = await _workspace_of(conn, args.user)
        await set_role(conn, hub.sessions, workspace_id, args.user, args.role, actor_user_id=None)
    print("role set; the user's sessions ended")
    return 0


async def _user_deactivate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.publishing import change
    from hub.users import deactivate_user

    async with command_hub(settings) as hub, change(hub) as changing:
        workspace_id = await _workspace_of(changing.conn, args.user)
        changed = changing.caused(
            await deactivate_user(
                changing.conn,
                hub.sessions,
                hub.conversations,
                workspace_id,
                args.user,
                actor_user_id=None,
            )
        )
    print(f"user {changed.user.id} deactivated")
    return 0


async def _user_reactivate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.users import reactivate_user

    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        workspace_id = await _workspace_of(conn, args.user)
        await reactivate_user(conn, workspace_id, args.user, actor_user_id=None)
    print(f"user {args.user} reactivated")
    return 0


async def _workspace_of(conn: AsyncConnection, user_id: int) -> int:
    from sqlalchemy import select

    from timeline.models import User

    found = await conn.execute(select(User.workspace_id).where(User.id == user_id))
    workspace_id = found.scalar_one_or_none()
    if workspace_id is None:
        raise CommandError(f"no user {user_id}")
    return workspace_id


async def _team_create(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from hub.teams import TeamNameTaken, create_team
    from timeline.models import User

    emails = {email.strip().lower() for email in args.member}
    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        rows = await conn.execute(
            select(User.email, User.id)
            .where(User.workspace_id == args.workspace)
            .where(User.email.in_(emails))
        )
        ids = dict(rows.all())
        unknown = sorted(emails - ids.keys())
        if unknown:
            raise CommandError(f"no such users in workspace {args.workspace}: {', '.join(unknown)}")
        try:
            team = await create_team(conn, args.workspace, args.name, ids.values())
        except TeamNameTaken as error:
            raise CommandError(str(error)) from None
    print(team.id)
    return 0


async def _customer_link_token(settings: Settings, args: argparse.Namespace) -> int:
    from hub.customer_links import issue_customer_link

    async with command_hub(settings) as hub, hub.engine.begin() as conn:
        issued = await issue_customer_link(
            conn, hub.link_tokens, args.workspace, args.customer_id, actor_user_id=None
        )
    if issued is None:
        raise CommandError(f"no customer {args.customer_id} in workspace {args.workspace}")
    if args.json:
        links = [
            {"channel_account_id": link.channel_account_id, "kind": link.kind, "url": link.url}
            for link in issued.links
        ]
        print(
            json.dumps(
                {
                    "token": issued.token,
                    "expires_at": issued.expires_at.isoformat(),
                    "links": links,
                }
            )
        )
        return 0
    print(issued.token)
    print(f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC")
    for link in issued.links:
        print(f"{link.kind} channel {link.channel_account_id}: {link.url}")
    return 0


async def _customer_export(settings: Settings, args: argparse.Namespace) -> int:
    """Everything the workspace holds (an operator's export sees as an admin does), in the
    API's format and with its audit entry, naming the operating-system user."""
    from contextlib import aclosing

    from sqlalchemy import select

    from reports.customer_export import Exporter, export_lines, start_export
    from reports.export_formats import ExportFormat
    from timeline.models import Workspace
    from timeline.policy import Permission

    async with command_hub(settings) as hub:
        async with hub.reads.connect() as conn:
            found = await conn.execute(select(Workspace.id).where(Workspace.id == args.workspace))
            if found.first() is None:
                raise CommandError(f"no workspace {args.workspace}")
        exporter = Exporter(args.workspace, frozenset(Permission), None)
        export = await start_export(hub.reads, exporter, ExportFormat(args.format), args.q)
        async with aclosing(export_lines(hub.reads, hub.engine, export)) as lines:
            async for line in lines:
                sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
    return 0


async def _listener_parked(settings: Settings, args: argparse.Namespace) -> int:
    from hub.parked_events import list_parked

    async with command_hub(settings) as hub, hub.engine.connect() as conn:
        items = await list_parked(conn, args.listener)
    rows = [
        {
            "listener": i.listener,
            "event_id": i.event_id,
            "parked_at": i.parked_at.isoformat(),
            "error": i.error,
        }
        for i in items
    ]
    return _listed(
        rows,
        args.json,
        lambda row: (
            f"{row['listener']}  event {row['event_id']}  {row['parked_at']}  {row['error']}"
        ),
    )


async def _listener_replay(settings: Settings, args: argparse.Namespace) -> int:
    from hub.listeners import LISTENERS
    from hub.parked_events import replay_parked

    async with command_hub(settings) as hub:
        replayed = await replay_parked(hub.engine, LISTENERS, args.listener)
    print(f"handed over {replayed.handed}, still failing {replayed.failing}")
    return 1 if replayed.failing else 0


async def _quarantine_list(settings: Settings, args: argparse.Namespace) -> int:
    from timeline.quarantine import list_quarantined

    async with command_hub(settings) as hub, hub.engine.connect() as conn:
        items = await list_quarantined(conn, include_replayed=args.all, limit=10_000)
    rows: list[dict[str, Any]] = [
        {
            "id": i.id,
            "channel_account_id": i.channel_account_id,
            "bytes": len(i.body),
            "received_at": i.received_at.isoformat(),
            "error": i.error,
            "replayed_at": i.replayed_at.isoformat() if i.replayed_at else None,
            "replay_error": i.replay_error,
        }
        for i in items
    ]

    def line(row: dict[str, Any]) -> str:
        state = "replayed" if row["replayed_at"] else "pending"
        return (
            f"#{row['id']}  channel {row['channel_account_id']}  {row['bytes']} bytes  "
            f"{row['received_at']}  {state}  {row['error']}"
        )

    return _listed(rows, args.json, line, total=f"{len(rows)} quarantined payload(s)")


def _listed(
    rows: list[dict[str, Any]],
    as_json: bool,
    line: Callable[[dict[str, Any]], str],
    total: str | None = None,
) -> int:
    """Print `rows` as one JSON array, or a line each (then `total`, if given)."""
    if as_json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(line(row))
    if total is not None:
        print(total)
    return 0


async def _quarantine_replay(settings: Settings, args: argparse.Namespace) -> int:
    from hub.replay import replay_quarantined

    async with command_hub(settings) as hub:
        results = await replay_quarantined(hub, args.ids or None)
    failed = 0
    for item_id, error in results:
        print(f"#{item_id}: {'replayed' if error is None else 'still failing: ' + error}")
        failed += error is not None
    print(f"{len(results) - failed} replayed, {failed} still failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
