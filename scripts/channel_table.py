"""Prints the README's table of the channels Switchboard ships, from their specs.

Run `.venv/bin/python scripts/channel_table.py` after adding a channel and paste the table
into README.md; tests/channels/test_channel_table.py checks they agree.
"""

from __future__ import annotations

import sys
from importlib.metadata import distribution
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.base import ChannelSpec
from channels.registry import ENTRY_POINT_GROUP


def shipped_specs() -> list[ChannelSpec]:
    """The channels this distribution registers (not those a plugin adds)."""
    entries = distribution("switchboard").entry_points.select(group=ENTRY_POINT_GROUP)
    return sorted((entry.load() for entry in entries), key=lambda spec: spec.kind)


def channel_table() -> str:
    rows = [
        "| channel | kind | providers | receives by | page |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in shipped_specs():
        providers = ", ".join(provider.name for provider in spec.providers)
        transports = sorted({t.value for p in spec.providers for t in p.transports})
        rows.append(
            f"| {spec.title} | `{spec.kind}` | {providers} | {', '.join(transports)} |"
            f" [{spec.docs}]({spec.docs}) |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(channel_table())
