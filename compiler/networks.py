"""Network syntax (docs/design.md, "cidr"): IPv4 or IPv6 networks, strict about host bits."""

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

    The syntax is ``ipaddress``'s minus three forms it also accepts (docs/language.md,
    "Networks"): a netmask or hostmask for the prefix (``10.0.0.0/255.0.0.0``), a scope
    id (``fe80::1%eth0``) and a prefix length with a leading zero (``10.0.0.0/08``). The
    runtime's own parser (``dualgate.runtime.networks``) accepts exactly this syntax; a
    differential test holds the two together.
    """
    _reject_what_ipaddress_allows(text)
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            fault = _fault(text)
            raise NetworkError(f"`{text}` is not an IPv4 or IPv6 network"
                               + (f": {fault}" if fault else "")) from None
        raise NetworkError(
            f"network `{text}` has host bits set", suggestion=str(_unmap(loose))
        ) from None
    return _unmap(network)


def _reject_what_ipaddress_allows(text: str) -> None:
    """Raise ``NetworkError`` for the forms ipaddress accepts and dualgate does not.

    Each is reported only when the rest of ``text`` is a valid address, so that the
    message names the one fault; anything else falls through to ipaddress.
    """
    address, slash, prefix = text.partition("/")
    if "%" in address and _is_address(address, ipaddress.IPv6Address):
        # Networks are global; a scope id only names an interface of one host.
        raise NetworkError(f"`{text}` has a scope id, which networks cannot carry")
    if not slash:
        return
    if "." in prefix and _is_address(address, ipaddress.IPv4Address):
        mask = _as_mask(prefix)
        if mask is None:
            return  # not a mask either: ipaddress rejects it with the generic message
        kind, length = mask
        raise NetworkError(
            f"`{text}` writes the prefix as a {kind}; write `{address}/{length}`"
        )
    if len(prefix) > 1 and prefix.startswith("0") and prefix.isascii() and prefix.isdigit():
        # ipaddress reads `08` as 8; dualgate wants one spelling per network.
        if _is_address(address, ipaddress.IPv4Address):
            width = 32
        elif _is_address(address, ipaddress.IPv6Address):
            width = 128
        else:
            return
        fix = f"; write `{address}/{int(prefix)}`" if int(prefix) <= width else ""
        raise NetworkError(f"prefix length `{prefix}` has a leading zero{fix}")


def _fault(text: str) -> str | None:
    """What is wrong with ``text``, which ipaddress refused, when one fault explains it."""
    address, slash, prefix = text.partition("/")
    octets = address.split(".")
    if all(o.isascii() and o.isdigit() for o in octets) and len(octets) > 1:
        if len(octets) != 4:
            return f"an IPv4 address has four octets, not {len(octets)}"
        for octet in octets:
            if len(octet) > 1 and octet.startswith("0"):
                return f"octet `{octet}` has a leading zero (write `{int(octet)}`)"
            if int(octet) > 255:
                return f"octet `{octet}` is greater than 255"
        return _prefix_fault(prefix, 32) if slash else None
    if slash and _is_address(address, ipaddress.IPv6Address):
        return _prefix_fault(prefix, 128)
    return None


def _prefix_fault(prefix: str, width: int) -> str | None:
    if not prefix:
        return "the prefix length is missing"
    if "." in prefix:
        return f"`{prefix}` is neither a prefix length nor a netmask"
    if not (prefix.isascii() and prefix.isdigit()):
        return f"prefix length `{prefix}` is not a number"
    if int(prefix) > width:
        return f"prefix length `{prefix}` is longer than {width}"
    return None


def _is_address(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _as_mask(text: str) -> tuple[str, int] | None:
    """("netmask" or "hostmask", prefix length) if ``text`` is a dotted IPv4 mask.

    As in ipaddress, 0.0.0.0 and 255.255.255.255 count as netmasks (/0 and /32).
    """
    try:
        value = int(ipaddress.IPv4Address(text))
    except ValueError:
        return None
    for kind, bits in (("netmask", value), ("hostmask", value ^ 0xFFFFFFFF)):
        length = bin(bits).count("1")
        if bits == (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF:
            return kind, length
    return None


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

