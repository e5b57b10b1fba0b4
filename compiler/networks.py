"""Network syntax (DESIGN.md, "cidr"): IPv4 or IPv6 networks, strict about host bits."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class NetworkError(ValueError):
    """A malformed network; ``suggestion`` is the network probably meant, if any."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


def parse_network(text: str) -> Network:
    """The network written as ``text``; raises ``NetworkError`` naming the fault.

    A bare address means a single host (/32 or /128). Host bits must be zero.
    IPv4-mapped IPv6 networks (inside ``::ffff:0:0/96``) mean the IPv4 network, as
    they do for requests.
    """
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise NetworkError(f"`{text}` is not an IPv4 or IPv6 network") from None
        raise NetworkError(
            f"network `{text}` has host bits set", suggestion=str(_unmap(loose))
        ) from None
    return _unmap(network)


def _unmap(network: Network) -> Network:
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= 96
        and network.subnet_of(_IPV4_MAPPED)
    ):
        address = network.network_address.ipv4_mapped
        assert address is not None
        return ipaddress.IPv4Network((address, network.prefixlen - 96))
    return network

