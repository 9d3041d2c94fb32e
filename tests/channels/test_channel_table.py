"""README's table of channels is the one their specs make."""

from __future__ import annotations

from pathlib import Path

from scripts.channel_table import channel_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_the_shipped_channels_as_their_specs_describe_them() -> None:
    assert channel_table() in README.read_text()
