"""Who a request came from: the peer's address, or, when the peer is a proxy the operator
trusts (SWITCHBOARD_TRUSTED_PROXIES), the client that proxy names in X-Forwarded-For."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network


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
