"""Request networks parsed by hand, for the gates' hot path (docs/design.md, "cidr").

``ipaddress`` costs about 3 µs a call, three times the whole decision budget, so the
runtime parses networks itself: an IPv4 network in a few hundred nanoseconds, an IPv6
one in about a microsecond.

Guarantee: ``parse_network`` accepts exactly the syntax that the compiler's reference
parser (``dualgate.compiler.networks.parse_network``) accepts, and gives the same
network; ``tests/test_runtime_networks.py`` checks the two against each other on many
generated inputs. The syntax, also stated in docs/language.md ("Networks"):

- ``ADDRESS`` or ``ADDRESS/PREFIX``; a bare address is a /32 (IPv4) or /128 (IPv6);
- ``PREFIX``: ASCII decimal digits without sign, spaces or leading zero (``0`` alone is
  fine), 0..32 for IPv4, 0..128 for IPv6; no netmask or hostmask form;
- IPv4 address: four dot-separated decimal octets 0..255 of 1-3 ASCII digits, without
  leading zeros;
- IPv6 address: the RFC 4291 text forms as ``ipaddress.IPv6Address`` accepts them (1-4
  hex digits a group, at most one ``::`` standing for at least one group, an optional
  embedded dotted IPv4 address as the last two groups), but no scope id (``%eth0``);
- no surrounding whitespace, no non-ASCII character, no host bits set.

A bare IPv4 address, the common request, is the evaluator's to parse inline:
``ipv4_bytes(IPV4, text)`` is C's ``inet_pton`` where the platform's is strict (checked
at import: glibc, musl and the BSDs accept exactly the canonical dotted quad of four
0..255 octets without leading zeros, signs, spaces or other forms, as ``parse_network``
does), else the same by the lookup tables; either raises ``OSError`` or ``ValueError``
for anything else. About 100 ns, a third of a split and four lookups.

This module imports nothing but ``_socket`` (C, no Python module behind it), so neither
the compiler nor ``ipaddress`` (a test proves it).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["IPV4", "OCTET", "OCTET_8", "OCTET_16", "OCTET_24", "ipv4_bytes", "mask",
           "parse_network"]

# Lookup tables instead of digit checks plus int(): one dict lookup validates a field
# completely (ASCII digits only, no sign, no space, no leading zero, in range) and
# converts it. A key is the canonical decimal spelling, so `010`, `+1`, ` 1` and the
# fullwidth `\uff11` are simply absent. (str.isdigit would accept non-ASCII digits and
# int() would accept signs, underscores and whitespace.) The octet tables hold the value
# already shifted into place, which saves three shifts on the hot path.
OCTET: dict[str, int] = {str(i): i for i in range(256)}
OCTET_8 = {text: value << 8 for text, value in OCTET.items()}
OCTET_16 = {text: value << 16 for text, value in OCTET.items()}
OCTET_24 = {text: value << 24 for text, value in OCTET.items()}
_PREFIX_V4: dict[str, int] = {str(i): i for i in range(33)}
_PREFIX_V6: dict[str, int] = {str(i): i for i in range(129)}
# Host bits of each prefix length: a network is valid when these are all zero.
_HOST_BITS_V4 = tuple((1 << (32 - length)) - 1 for length in range(33))
_HOST_BITS_V6 = tuple((1 << (128 - length)) - 1 for length in range(129))


def _ipv4_bytes_by_tables(family: int, text: str) -> bytes:
    """``inet_pton(AF_INET, text)`` by the lookup tables (``family`` is ignored)."""
    try:
        a, b, c, d = text.split(".")
        return bytes((OCTET[a], OCTET[b], OCTET[c], OCTET[d]))
    except (KeyError, ValueError):
        raise OSError("no dotted-quad IPv4 address") from None


#: Non-canonical spellings a strict ``inet_pton`` refuses (so does ``parse_network``).
_NOT_DOTTED_QUADS = ("01.2.3.4", "1.2.3.04", "00.0.0.0", "1.2.3", "1.2.3.4.5", "256.0.0.0",
                     "1.2.3.400", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "+1.2.3.4", "0x1.2.3.4",
                     "1.2.3.0x4", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4/32", "4294967295",
                     "\u0661.2.3.4", "1.2.3.\uff14", "", "1.2.3.-4", "1 .2.3.4")


def _strict(pton: Callable[[int, str], bytes], family: int) -> bool:
    """Whether ``pton`` accepts canonical dotted quads and refuses the other forms."""
    try:
        if (pton(family, "1.2.3.4") != bytes((1, 2, 3, 4))
                or pton(family, "255.255.255.255") != bytes((255,) * 4)
                or pton(family, "0.0.0.0") != bytes(4)):
            return False
    except (OSError, ValueError):
        return False
    for text in _NOT_DOTTED_QUADS:
        try:
            pton(family, text)
        except (OSError, ValueError):
            continue
        return False
    return True


#: The address family argument of ``ipv4_bytes``.
IPV4: int = 2
ipv4_bytes: Callable[[int, str], bytes] = _ipv4_bytes_by_tables
try:
    import _socket
except ImportError:  # a Python built without sockets: the tables
    pass
else:
    if _strict(_socket.inet_pton, _socket.AF_INET):
        IPV4, ipv4_bytes = _socket.AF_INET, _socket.inet_pton

# The characters of IPv6 groups. `text.strip(_HEX_DIGITS_AND_COLON)` is empty exactly
# when every character of `text` is one of them: a single C-speed pass (faster than a
# regex here) that keeps out non-ASCII characters, whitespace and the `%` of a scope id,
# and makes int(group, 16) safe later (int() alone would accept signs, underscores,
# surrounding whitespace, non-ASCII digits and a `0x` prefix).
_HEX_DIGITS_AND_COLON = "0123456789abcdefABCDEF:"

#: The network part of ::ffff:0:0/96 (IPv4-mapped addresses), shifted down by 32 bits.
_IPV4_MAPPED = 0xFFFF
_MAPPED_PREFIX = "::ffff:"


def parse_network(text: str) -> tuple[int, int, int] | None:
    """(version, network address as an int, prefix length) of `text`, or None when `text`
    is no valid network.

    version is 4 or 6. An IPv4-mapped IPv6 network (inside ::ffff:0:0/96 with prefix >= 96)
    is returned as the IPv4 network it maps (version 4, low 32 bits, prefix - 96). A network
    with host bits set is None.

    The accepted syntax is the module docstring's, exactly that of the compiler's
    reference parser. Never raises on a ``str``, whatever it contains.
    """
    address, slash, prefix_text = text.partition("/")
    if ":" not in address:
        # IPv4, the common case: a split and four dict lookups (_ipv4_address inlined,
        # as a call would cost as much again). A second `/` stays in prefix_text, which
        # then matches no key; so does the dotted netmask form.
        try:
            a, b, c, d = address.split(".")
            value = OCTET_24[a] + OCTET_16[b] + OCTET_8[c] + OCTET[d]
            if not slash:
                return 4, value, 32
            prefix = _PREFIX_V4[prefix_text]
        except (KeyError, ValueError):  # an unknown field, or not four of them
            return None
        if value & _HOST_BITS_V4[prefix]:
            return None
        return 4, value, prefix

    if slash:
        length = _PREFIX_V6.get(prefix_text)
        if length is None:
            return None
        prefix = length
    else:
        prefix = 128
    # Most IPv6 requests carry no embedded IPv4 address: call the group parser directly.
    ipv6 = _groups(address, 8) if "." not in address else _with_embedded_ipv4(address)
    if ipv6 is None or ipv6 & _HOST_BITS_V6[prefix]:
        return None
    if prefix >= 96 and ipv6 >> 32 == _IPV4_MAPPED:
        # docs/design.md: an IPv4-mapped IPv6 address is the IPv4 address.
        return 4, ipv6 & 0xFFFFFFFF, prefix - 96
    return 6, ipv6, prefix


def mask(value: int, version: int, length: int) -> int:
    """``value`` with every bit after its first ``length`` bits cleared.

    ``value`` is an address of ``version`` 4 (32 bits wide) or 6 (128 bits wide), and
    ``0 <= length <= width``; the result is the network of that prefix length containing
    the address, as an int (``mask(0x0A010203, 4, 8) == 0x0A000000``).
    """
    shift = (32 if version == 4 else 128) - length
    return value >> shift << shift


def _ipv4_address(text: str) -> int | None:
    """The dotted IPv4 address ``text`` as an int, or None (rules as in ``parse_network``)."""
    try:
        a, b, c, d = text.split(".")
        return OCTET_24[a] + OCTET_16[b] + OCTET_8[c] + OCTET[d]
    except (KeyError, ValueError):
        return None


def _with_embedded_ipv4(text: str) -> int | None:
    """The IPv6 address ``text``, which contains a `.`, as an int, or None.

    The dotted IPv4 address can only be the last part and stands for the last two
    groups (as in ipaddress, which looks for it in the last `:`-separated part only).
    """
    if text[:7].lower() == _MAPPED_PREFIX:
        # Fast path for what dual-stack sockets report, `::ffff:a.b.c.d`. Anything
        # else after the prefix (`::ffff:1:1.2.3.4` is valid too) takes the long way.
        ipv4 = _ipv4_address(text[7:])
        if ipv4 is not None:
            return _IPV4_MAPPED << 32 | ipv4
    head, _, dotted = text.rpartition(":")
    ipv4 = _ipv4_address(dotted)
    if ipv4 is None:
        return None
    # The `:` before the IPv4 address separates it from the groups, unless it ends a
    # `::` (`::a.b.c.d`, `1::a.b.c.d`), which must then be kept whole. Another `.` in
    # `head` is a character _groups rejects.
    high = _groups(head + ":" if head.endswith(":") else head, 6)
    if high is None:
        return None
    return high << 32 | ipv4


def _groups(text: str, count: int) -> int | None:
    """``count`` 16-bit groups written as ``text``, as an int, or None.

    Each group is 1-4 hex digits, the groups are separated by `:`. Without `::` there
    must be exactly ``count`` groups; with one `::` at most ``count - 1``, since `::`
    stands for at least one zero group (as in ipaddress). A second `::`, `:::`, or a `:`
    at either end that is no part of a `::` leaves an empty group, which is rejected.
    """
    if text.strip(_HEX_DIGITS_AND_COLON):
        return None  # some character is no hex digit or `:` (see _HEX_DIGITS_AND_COLON)
    head, double_colon, tail = text.partition("::")
    value = 0
    if not double_colon:
        groups = text.split(":")
        if len(groups) != count:
            return None
        for group in groups:
            if not 0 < len(group) <= 4:
                return None
            value = value << 16 | int(group, 16)
        return value
    high = head.split(":") if head else []
    low = tail.split(":") if tail else []
    skipped = count - len(high) - len(low)
    if skipped < 1:
        return None
    for group in high:
        if not 0 < len(group) <= 4:
            return None
        value = value << 16 | int(group, 16)
    value <<= 16 * skipped
    for group in low:
        if not 0 < len(group) <= 4:
            return None
        value = value << 16 | int(group, 16)
    return value
