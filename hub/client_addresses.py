"""Who a request came from: the peer's address, or, when the peer is a proxy the operator
trusts (SWITCHBOARD_TRUSTED_PROXIES), the client that proxy names in X-Forwarded-For; and the
key its per-address limits count under."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import overload

Network = IPv4Network | IPv6Network
COUNTED_IPV6_PREFIX = 64
"""An IPv6 client is counted by its /64: one subscriber's network (providers hand out a /64 or
more), in which a host can take any of 2**64 addresses, a new one for every guess."""


@overload
def limited_as(address: str) -> str: ...
@overload
def limited_as(address: None) -> None: ...
def limited_as(address: str | None) -> str | None:
    """The key per-address limits (sign-in, reset links, bad tokens, refused webhooks) count
    `address` under: an IPv6 address's /64 network, an IPv4-mapped IPv6 address's IPv4
    address, anything else (IPv4, not an address) as it is."""
    if address is None:
        return None
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if not isinstance(parsed, IPv6Address):
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ip_network(f"{parsed}/{COUNTED_IPV6_PREFIX}", strict=False))


class ProxyListError(ValueError):
    """SWITCHBOARD_TRUSTED_PROXIES names something that is not an address or a network."""


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The reverse proxies in front of the hub. Only a request whose peer is one of them has
    its X-Forwarded-For read; from anyone else the header is the client's own claim, and a
    client could name any address it likes (and so never be locked out)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """A comma-separated list of addresses and networks (`10.0.0.0/8, ::1`)."""
        networks = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise ProxyListError(f"not an IP address or network: {item!r}") from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trust(self, address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def client_of(self, peer: str | None, forwarded_for: Iterable[str]) -> str | None:
        """The client's address: walking X-Forwarded-For from the nearest hop, the first one
        that is not a trusted proxy. A hop that is not an address ends the walk at the proxy
        that passed it on (what lies beyond it cannot be told apart from a forgery)."""
        if peer is None or not self.trust(peer):
            return peer
        client = peer
        for hop in reversed([hop.strip() for value in forwarded_for for hop in value.split(",")]):
            try:
                ip_address(hop)
            except ValueError:
                return client
            client = hop
            if not self.trust(hop):
                return hop
        return client
