"""The `switchboard audit verify` command: walks every audit chain and names the first entry
that was changed or deleted."""

from __future__ import annotations

import argparse
from typing import Any

from hub.commands import command_hub
from hub.config import Settings


def add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the audit log").add_subparsers(required=True)
    verify = audit.add_parser(
        "verify", help="check the hash chains; exit 1 naming the first changed or deleted entry"
    )
    verify.set_defaults(command=_verify)


async def _verify(settings: Settings, args: argparse.Namespace) -> int:
    from timeline.audit_chain import verify_chains

    async with command_hub(settings) as hub, hub.reads.connect() as conn:
        outcome = await verify_chains(conn)
    if outcome.broken is not None:
        broken = outcome.broken
        print(
            f"audit log BROKEN in the {broken.chain} chain: "
            f"entry #{broken.entry_id} {broken.problem}"
        )
        return 1
    print(f"audit log intact: {outcome.entries} entries in {len(outcome.heads)} chains")
    for chain, head in sorted(outcome.heads.items()):
        print(f"  {chain}: newest hash {head}")
    print("(keep them elsewhere: a chain's newest entries deleted show only against them)")
    return 0
