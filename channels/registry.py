"""Maps (kind, provider) to the adapter class that implements it."""

from __future__ import annotations

from channels.base import ChannelAdapter, ChannelConfig

_ADAPTERS: dict[tuple[str, str], type[ChannelAdapter]] = {}


class UnknownProvider(LookupError):
    """No adapter is registered for this kind and provider."""


def register(adapter: type[ChannelAdapter]) -> type[ChannelAdapter]:
    """Class decorator: make an adapter available under its kind and provider."""
    _ADAPTERS[(adapter.kind, adapter.provider)] = adapter
    return adapter


def adapter_class(kind: str, provider: str) -> type[ChannelAdapter]:
    _load_builtin_adapters()
    try:
        return _ADAPTERS[(kind, provider)]
    except KeyError:
        raise UnknownProvider(f"no {kind} adapter for provider {provider!r}") from None


def build_adapter(kind: str, provider: str, config: ChannelConfig) -> ChannelAdapter:
    return adapter_class(kind, provider)(config)


def available() -> list[tuple[str, str]]:
    _load_builtin_adapters()
    return sorted(_ADAPTERS)


def _load_builtin_adapters() -> None:
    # Each import registers its adapters.
    import channels.email.adapter
    import channels.sms  # noqa: F401
