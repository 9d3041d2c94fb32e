"""Finds channels through the `switchboard.channels` entry-point group: a channel is its folder
plus one line in its package's entry points; nothing else lists the kinds."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from channels.base import ChannelAdapter, ChannelConfig, ChannelSpec, ProviderSpec

ENTRY_POINT_GROUP = "switchboard.channels"


class UnknownChannelKind(LookupError):
    """No installed channel has this kind, or it has no such provider."""


@cache
def specs() -> dict[str, ChannelSpec]:
    """Every installed channel's spec by kind, sorted by kind. Loaded once per process."""
    found: dict[str, ChannelSpec] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, ChannelSpec) or spec.kind != entry.name:
            raise TypeError(
                f"entry point {entry.name} = {entry.value} must name the ChannelSpec of kind "
                f"{entry.name!r}"
            )
        found[spec.kind] = spec
    return dict(sorted(found.items()))


def spec(kind: str) -> ChannelSpec:
    try:
        return specs()[kind]
    except KeyError:
        known = ", ".join(specs())
        raise UnknownChannelKind(f"no channel kind {kind!r} (installed: {known})") from None


def provider_spec(kind: str, provider: str) -> ProviderSpec:
    try:
        return spec(kind).provider(provider)
    except LookupError as error:
        raise UnknownChannelKind(str(error)) from None


def build_adapter(kind: str, provider: str, config: ChannelConfig) -> ChannelAdapter:
    return provider_spec(kind, provider).adapter(config)
