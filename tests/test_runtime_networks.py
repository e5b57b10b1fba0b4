"""The runtime's hand-written network parser agrees with the compiler's reference parser.

``dualgate.runtime.networks.parse_network`` must accept exactly what
``dualgate.compiler.networks.parse_network`` accepts, and give the same network: a
differential property over structured near-valid inputs and over random text, tables
for the tricky cases, the new rejections' messages, ``mask``, and the import guarantee.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.networks import NetworkError
from dualgate.compiler.networks import parse_network as reference_parse
from dualgate.runtime import networks
from dualgate.runtime.networks import IPV4, ipv4_bytes, mask, parse_network
from tests.imports import imported_after
from tests.profiles import examples

Parsed = tuple[int, int, int] | None


def reference(text: str) -> Parsed:
    """What the runtime must answer for ``text``, according to the compiler's parser."""
    try:
        network = reference_parse(text)
    except NetworkError:
        return None
    return network.version, int(network.network_address), network.prefixlen


# --- generators ------------------------------------------------------------------------
#
# The structured inputs are built by plain functions from a ``Picker``: Hypothesis draws
# (``_Draws``, shrinkable) or a seeded ``random.Random`` (cheap, for volume: a Hypothesis
# draw costs far more than both parses together, so one example of the batch property
# checks a batch of strings). Pools are lists so that each choice is a single draw.

T = TypeVar("T")


class Picker(Protocol):
    def choice(self, options: Sequence[T]) -> T: ...
    def randint(self, low: int, high: int) -> int: ...


class _Draws:
    """A ``Picker`` that draws from Hypothesis, so failures shrink."""

    #: sampled_from copies its options: build each pool's strategy once, not per draw.
    #: Keyed by id, holding the pool itself so that the id cannot be reused.
    _strategies: ClassVar[dict[int, tuple[object, st.SearchStrategy[Any]]]] = {}

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def choice(self, options: Sequence[T]) -> T:
        cached = self._strategies.get(id(options))
        if cached is None or cached[0] is not options:
            cached = self._strategies[id(options)] = (options, st.sampled_from(options))
        result: T = self._draw(cached[1])
        return result

    def randint(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))


_FULLWIDTH_ONE = "\uff11"
_ARABIC_INDIC_THREE = "\u0663"

#: Octets as written: every valid one ("0" often, so that networks end in zeros), and
#: the near misses that ipaddress or int() treat specially (leading zeros, 256, signs,
#: spaces, non-ASCII digits, hex, empty).
_OCTETS = [str(i) for i in range(256)] + ["0"] * 100 + [
    "256", "299", "999", "1000", "00", "01", "010", "001", "", " 1", "1 ", "+1", "-1",
    "1_0", _FULLWIDTH_ONE, _ARABIC_INDIC_THREE, "0x1", "a", "\u00b2",
]


def _hex_group_pool() -> list[str]:
    """1-4 hex digits in both cases (leading zeros included), then near misses."""
    rng = random.Random(4291)
    digits = "0123456789abcdefABCDEF"
    pool = ["0"] * 40 + ["1", "ffff", "FFFF", "0000", "db8", "2001", "a", "F", "fffe"]
    pool += ["".join(rng.choices(digits, k=rng.randint(1, 4))) for _ in range(200)]
    misses = ["00000", "12345", "fffff", "", "g", " 1", "1 ", "+f", "-1", "0x1", "1_0",
              "\uff10", _FULLWIDTH_ONE, "1.2"]
    return pool + misses


_HEX_GROUPS = _hex_group_pool()
_PREFIX_MISSES = [
    "", "08", "00", "012", "0128", "-1", "+8", " 8", "8 ", "1_6", _FULLWIDTH_ONE, "8/8",
    "/8", "255.0.0.0", "255.255.255.0", "0.255.255.255", "0.0.0.0", "255.255.255.255",
    "255.0.255.0", "255.0.0", "ffff::", "8%eth0",
]
_PREFIXES_V4 = [str(i) for i in range(34)] * 2 + ["32"] * 20 + _PREFIX_MISSES
_PREFIXES_V6 = [str(i) for i in range(130)] + ["128", "96", "104", "120"] * 5 + _PREFIX_MISSES
_SCOPES = ["%eth0", "%1", "%", "%%", "%en0%x", "%a/b"]
_SPACES = [" ", "\t", "\n", "\u00a0", "\u3000"]
_MAPPED_HEADS = [
    "::ffff:", "::FFFF:", "::Ffff:", "0:0:0:0:0:ffff:", "0::ffff:", "::0:ffff:",
    "::ffff:0:", "::fffe:", ":ffff:", "::ffff::", "ffff:", "::1:ffff:", "::ffff:1:",
]
#: Characters a mutation inserts or substitutes.
_MUTATIONS = [*"0:.%/ aG", "::", _FULLWIDTH_ONE]


def ipv4_text(pick: Picker) -> str:
    count = pick.choice((4, 4, 4, 4, 4, 4, 3, 5))
    return ".".join(pick.choice(_OCTETS) for _ in range(count))


def ipv6_text(pick: Picker) -> str:
    """Groups, maybe a run of them written `::`, maybe an embedded IPv4 tail."""
    embedded = pick.randint(0, 3) == 0
    count = (6 if embedded else 8) + pick.choice((0, 0, 0, 0, 0, 0, -1, 1))
    groups = [pick.choice(_HEX_GROUPS) for _ in range(count)]
    if pick.randint(0, 2):
        # `::` for the run start..stop; an empty run is `::` standing for no group.
        start = pick.randint(0, count)
        stop = pick.randint(start, count)
        text = ":".join(groups[:start]) + "::" + ":".join(groups[stop:])
    else:
        text = ":".join(groups)
    if embedded:
        text += ("" if text.endswith("::") else ":") + ipv4_text(pick)
    return text


def mapped_text(pick: Picker) -> str:
    """IPv4-mapped addresses in the spellings people and sockets use, and near misses."""
    head = pick.choice(_MAPPED_HEADS)
    if pick.randint(0, 3):
        return head + ipv4_text(pick)
    return head + pick.choice(_HEX_GROUPS) + ":" + pick.choice(_HEX_GROUPS)


def near_valid_network(pick: Picker) -> str:
    kind = pick.randint(0, 9)
    if kind >= 8:
        return printed_network(pick)
    if kind < 4:
        text, prefixes = ipv4_text(pick), _PREFIXES_V4
    else:
        text, prefixes = (ipv6_text(pick) if kind < 7 else mapped_text(pick)), _PREFIXES_V6
    if pick.randint(0, 9) == 0:
        text += pick.choice(_SCOPES)
    if pick.randint(0, 3):
        text += "/" + pick.choice(prefixes)
    if pick.randint(0, 9) == 0:
        where = pick.randint(0, len(text))
        text = text[:where] + pick.choice(_SPACES) + text[where:]
    if pick.randint(0, 5) == 0:
        # One edit anywhere: a stray, doubled or missing separator, a bad character.
        where = pick.randint(0, len(text))
        cut = pick.randint(0, 1)
        text = text[:where] + pick.choice(_MUTATIONS) + text[where + cut:]
    return text


@st.composite
def near_valid_networks(draw: st.DrawFn) -> str:
    return near_valid_network(_Draws(draw))


#: One fault at a time in an otherwise valid printed network (None: no fault).
_FAULTS = (None,) * 8 + (
    "leading zero", "sign", "space", "netmask", "hostmask", "scope", "leading zero octet",
)


def printed_network(pick: Picker) -> str:
    """A network made from numbers and printed (with ipaddress, in several spellings).

    Mostly valid; some have host bits set, and some carry exactly one syntax fault that
    ipaddress itself would forgive (a leading-zero prefix, a netmask, a scope id...),
    which only shows when everything else is right.
    """
    version = pick.choice((4, 6, 6))
    width = 32 if version == 4 else 128
    mapped = version == 6 and pick.randint(0, 1) == 1
    if mapped:
        value = 0xFFFF << 32 | pick.randint(0, 2**32 - 1)
        length = pick.randint(94, 128)
    else:
        value = pick.randint(0, 2**width - 1)
        length = pick.randint(0, width)
    if pick.randint(0, 4):
        value = value >> (width - length) << (width - length)
    address = ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
    spelling = pick.choice(("compressed", "exploded", "upper", "dotted"))
    text = address.exploded if spelling == "exploded" else address.compressed
    if spelling == "upper":
        text = text.upper()
    elif spelling == "dotted" and version == 6:
        # The last 32 bits as an embedded IPv4 address, as sockets print mapped ones.
        # With the last two groups nonzero, `::` compresses only groups before them.
        high = ipaddress.IPv6Address(value | 0xFFFFFFFF).compressed.rsplit(":", 2)[0]
        text = f"{high}:{ipaddress.IPv4Address(value & 0xFFFFFFFF)}"
    prefix = str(length)
    fault = pick.choice(_FAULTS)
    if fault == "leading zero":
        prefix = "0" + prefix
    elif fault == "sign":
        prefix = "+" + prefix
    elif fault == "space":
        prefix = " " + prefix
    elif fault == "netmask":
        prefix = str(ipaddress.IPv4Network(f"0.0.0.0/{min(length, 32)}").netmask)
    elif fault == "hostmask":
        prefix = str(ipaddress.IPv4Network(f"0.0.0.0/{min(length, 32)}").hostmask)
    elif fault == "scope":
        text += "%eth0"
    elif fault == "leading zero octet" and "." in text:
        text = text.replace(".", ".0", 1)
    if fault is None and length == width and pick.randint(0, 1):
        return text
    return f"{text}/{prefix}"


@st.composite
def printed_networks(draw: st.DrawFn) -> str:
    return printed_network(_Draws(draw))


#: Random text over the characters networks are made of, plus a few troublemakers.
_NETWORK_ALPHABET = "0123456789abcdefABCDEF:./%x -+_\n" + _FULLWIDTH_ONE


# --- the differential properties ------------------------------------------------------

DIFFERENTIAL = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
BATCH = 20


@settings(DIFFERENTIAL, max_examples=examples(2500))
@given(near_valid_networks())
def test_agrees_with_the_reference_on_near_valid_networks(text: str) -> None:
    assert parse_network(text) == reference(text)


@settings(DIFFERENTIAL, max_examples=examples(1000))
@given(st.integers(0, 2**64))
def test_agrees_with_the_reference_on_batches_of_near_valid_networks(seed: int) -> None:
    """The same generator as above, seeded: ``BATCH`` strings for one Hypothesis draw."""
    rng = random.Random(seed)
    for _ in range(BATCH):
        text = near_valid_network(rng)
        assert parse_network(text) == reference(text), text


@settings(DIFFERENTIAL, max_examples=examples(2000))
@given(printed_networks())
def test_agrees_with_the_reference_on_printed_networks(text: str) -> None:
    expected = reference(text)
    assert parse_network(text) == expected
    assert expected is not None or "/" in text or "%" in text  # a printed address is valid


@settings(DIFFERENTIAL, max_examples=examples(2000))
@given(st.one_of(
    st.text(alphabet=_NETWORK_ALPHABET, max_size=45),
    st.text(max_size=20),
))
def test_agrees_with_the_reference_on_random_text(text: str) -> None:
    assert parse_network(text) == reference(text)


# --- the evaluator's inline IPv4 parse (``ipv4_bytes``) ------------------------------------

#: Both implementations: the platform's inet_pton if it is strict, and the fallback.
_IPV4_PARSERS = sorted({ipv4_bytes, networks._ipv4_bytes_by_tables},
                       key=lambda parse: parse.__name__)


def _parser_id(parse: Any) -> str:
    """A test id that is the same in every worker (a repr holds an address)."""
    return str(parse.__name__)


def bare_ipv4(parse: Any, text: str) -> int | None:
    """``text`` as the evaluator's inline parse reads it: an address, or None (refused)."""
    try:
        return int.from_bytes(parse(IPV4, text))
    except (OSError, ValueError):
        return None


def expected_bare_ipv4(text: str) -> int | None:
    """The reference's answer for a bare IPv4 address: its address, else None."""
    parsed = reference(text)
    return parsed[1] if parsed is not None and parsed[0] == 4 and parsed[2] == 32 and (
        ":" not in text and "/" not in text) else None


@pytest.mark.parametrize("parse", _IPV4_PARSERS, ids=_parser_id)
@settings(DIFFERENTIAL, max_examples=examples(1000))
@given(seed=st.integers(0, 2**64))
def test_the_inline_ipv4_parse_agrees_with_the_reference(parse: Any, seed: int) -> None:
    """Exactly the canonical dotted quads are accepted (no `:`, no `/`), as the reference
    reads them; anything else raises OSError or ValueError, never another exception."""
    rng = random.Random(seed)
    for _ in range(BATCH):
        text = rng.choice((ipv4_text, near_valid_network))(rng)
        if ":" not in text:  # the evaluator sends the others the general way
            assert bare_ipv4(parse, text) == expected_bare_ipv4(text), text


@pytest.mark.parametrize("parse", _IPV4_PARSERS, ids=_parser_id)
@settings(DIFFERENTIAL, max_examples=examples(500))
@given(st.one_of(st.text(alphabet="0123456789./ x+-", max_size=20), st.text(max_size=16)))
def test_the_inline_ipv4_parse_agrees_on_random_text(parse: Any, text: str) -> None:
    if ":" not in text:
        assert bare_ipv4(parse, text) == expected_bare_ipv4(text)


@pytest.mark.parametrize("parse", _IPV4_PARSERS, ids=_parser_id)
@pytest.mark.parametrize(("text", "expected"), [
    ("0.0.0.0", 0), ("255.255.255.255", 2**32 - 1), ("10.1.2.3", 0x0A010203),
    ("1.2.3.4\x00", None), ("1.2.3.\ud800", None), ("01.2.3.4", None), ("1.2.3.4/32", None),
    *((text, None) for text in networks._NOT_DOTTED_QUADS),
])
def test_the_inline_ipv4_parse_on_the_tricky_cases(parse: Any, text: str,
                                                    expected: int | None) -> None:
    assert bare_ipv4(parse, text) == expected


def test_the_strictness_check_refuses_a_lax_parser() -> None:
    """A parser accepting leading zeros (as some inet_aton do) is not used."""
    def lax(family: int, text: str) -> bytes:
        return bytes(int(part) for part in text.split("."))

    assert not networks._strict(lax, IPV4)
    assert networks._strict(networks._ipv4_bytes_by_tables, IPV4)


@settings(DIFFERENTIAL, max_examples=examples(300))
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_mask_keeps_exactly_the_first_bits_ipv4(value: int, length: int) -> None:
    expected = ipaddress.IPv4Network((value, length), strict=False).network_address
    assert mask(value, 4, length) == int(expected)


@settings(DIFFERENTIAL, max_examples=examples(300))
@given(st.integers(0, 2**128 - 1), st.integers(0, 128))
def test_mask_keeps_exactly_the_first_bits_ipv6(value: int, length: int) -> None:
    expected = ipaddress.IPv6Network((value, length), strict=False).network_address
    assert mask(value, 6, length) == int(expected)


# --- tables --------------------------------------------------------------------------

V4 = 4
V6 = 6

TABLE: list[tuple[str, Parsed]] = [
    # IPv4: bare addresses are /32, prefixes 0..32, host bits must be clear.
    ("10.1.2.3", (V4, 0x0A010203, 32)),
    ("10.1.2.0/24", (V4, 0x0A010200, 24)),
    ("0.0.0.0/0", (V4, 0, 0)),
    ("255.255.255.255", (V4, 0xFFFFFFFF, 32)),
    ("10.0.0.0/8", (V4, 0x0A000000, 8)),
    ("10.0.0.1/8", None),  # host bits set
    ("10.0.0.0/33", None),
    ("10.0.0.0/08", None),  # leading zero in the prefix
    ("10.0.0.0/00", None),
    ("10.0.0.0/0", None),  # host bits set for /0
    ("10.0.0.0/-1", None),
    ("10.0.0.0/+8", None),
    ("10.0.0.0/ 8", None),
    ("10.0.0.0/8 ", None),
    ("10.0.0.0/", None),
    ("10.0.0.0/8/8", None),
    ("10.0.0.0/1_6", None),
    ("10.0.0.0/\uff18", None),  # fullwidth 8
    ("10.0.0.0/8\n", None),
    ("10.0.0.0/\u00b2", None),  # superscript two: isdigit() says yes
    ("10.0.0.0/255.0.0.0", None),  # netmask
    ("10.0.0.0/0.255.255.255", None),  # hostmask
    ("10.0.0.0/255.255.255.255", None),
    ("010.0.0.1", None),  # leading zero in an octet
    ("10.0.0.01", None),
    ("0.0.0.0", (V4, 0, 32)),
    ("256.0.0.1", None),
    ("1.2.3", None),
    ("1.2.3.4.5", None),
    ("1..3.4", None),
    ("1.2.3.4.", None),
    ("+1.2.3.4", None),
    ("1.2.3.0x4", None),
    (" 10.0.0.1", None),
    ("10.0.0.1 ", None),
    ("10.0.0.1\n", None),
    (f"{_FULLWIDTH_ONE}0.0.0.1", None),  # str.isdigit() says yes
    (f"10.0.0.{_ARABIC_INDIC_THREE}", None),
    ("", None),
    ("/", None),
    ("/8", None),
    # IPv6.
    ("::", (V6, 0, 128)),
    ("::/0", (V6, 0, 0)),
    ("::1", (V6, 1, 128)),
    ("1::", (V6, 1 << 112, 128)),
    ("2001:db8::/32", (V6, 0x20010DB8 << 96, 32)),
    ("2001:DB8::/32", (V6, 0x20010DB8 << 96, 32)),
    ("2001:0db8:0000:0000:0000:0000:0000:0000/32", (V6, 0x20010DB8 << 96, 32)),
    ("2001:db8::1/32", None),  # host bits set
    ("2001:db8::/129", None),
    ("2001:db8::/032", None),
    ("::/0128", None),
    ("1:2:3:4:5:6:7:8", (V6, 0x00010002000300040005000600070008, 128)),
    ("1:2:3:4:5:6:7::", (V6, 0x00010002000300040005000600070000, 128)),
    ("::2:3:4:5:6:7:8", (V6, 0x00000002000300040005000600070008, 128)),
    ("1:2:3:4:5:6:7:8::", None),  # `::` standing for no group
    ("1:2:3:4::5:6:7:8", None),
    ("1:2:3:4:5:6:7", None),
    ("1:2:3:4:5:6:7:8:9", None),
    ("1::2::3", None),
    (":::", None),
    ("1:::2", None),
    (":1::2", None),
    ("1::2:", None),
    (":1:2:3:4:5:6:7:8", None),
    ("12345::", None),
    ("00000::", None),
    ("g::", None),
    ("0x1::", None),
    ("+1::", None),
    ("1_0::", None),
    (" ::1", None),
    ("::1 ", None),
    ("fe80::1%eth0", None),  # scope id
    ("fe80::1%eth0/128", None),
    ("fe80::%1/64", None),
    ("::/ffff::", None),
    # Embedded IPv4.
    ("::1.2.3.4", (V6, 0x01020304, 128)),
    ("1::1.2.3.4", (V6, 1 << 112 | 0x01020304, 128)),
    ("1:2:3:4:5:6:1.2.3.4", (V6, 0x000100020003000400050006_01020304, 128)),
    ("1:2:3:4:5::1.2.3.4", (V6, 0x000100020003000400050000_01020304, 128)),
    ("1:2:3:4:5:6::1.2.3.4", None),
    ("1:2:3:4:5:6:7:1.2.3.4", None),
    (":1.2.3.4", None),
    ("1.2.3.4::", None),
    ("1.2.3.4::1", None),
    ("::1.2.3.4:1", None),
    ("::01.2.3.4", None),
    ("::1.2.3.256", None),
    ("::1.2.3", None),
    # IPv4-mapped: the IPv4 network it maps.
    ("::ffff:10.1.2.3", (V4, 0x0A010203, 32)),
    ("::FFFF:10.1.2.3", (V4, 0x0A010203, 32)),
    ("::ffff:a01:203", (V4, 0x0A010203, 32)),
    ("0:0:0:0:0:ffff:10.1.2.3", (V4, 0x0A010203, 32)),
    ("::ffff:10.0.0.0/104", (V4, 0x0A000000, 8)),
    ("::ffff:10.1.2.3/128", (V4, 0x0A010203, 32)),
    ("::ffff:0.0.0.0/96", (V4, 0, 0)),
    ("::ffff:0:0/96", (V4, 0, 0)),
    ("::ffff:0:0/95", None),  # host bits set: ffff is beyond bit 95
    ("::fffe:0:0/95", (V6, 0xFFFE << 32, 95)),  # no mapping below /96
    ("::ffff:10.0.0.1/104", None),
    ("::ffff:1:1.2.3.4", (V6, 0xFFFF00010102_0304, 128)),
    ("::fffe:10.1.2.3", (V6, 0xFFFE << 32 | 0x0A010203, 128)),
    ("::ffff:10.1.2.3%eth0", None),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_both_parsers_give_the_tabled_answer(text: str, expected: Parsed) -> None:
    assert reference(text) == expected
    assert parse_network(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.0/255.0.0.0", "`10.0.0.0/255.0.0.0` writes the prefix as a netmask; "
         "write `10.0.0.0/8`"),
        ("10.0.0.0/0.255.255.255", "`10.0.0.0/0.255.255.255` writes the prefix as a "
         "hostmask; write `10.0.0.0/8`"),
        ("10.0.0.0/255.0.255.0", "`10.0.0.0/255.0.255.0` is not an IPv4 or IPv6 network: "
         "`255.0.255.0` is neither a prefix length nor a netmask"),
        ("fe80::1%eth0", "`fe80::1%eth0` has a scope id, which networks cannot carry"),
        ("fe80::%1/64", "`fe80::%1/64` has a scope id, which networks cannot carry"),
        ("fe80::1%", "`fe80::1%` is not an IPv4 or IPv6 network"),
        ("10.0.0.0/08", "prefix length `08` has a leading zero; write `10.0.0.0/8`"),
        ("2001:db8::/032", "prefix length `032` has a leading zero; write `2001:db8::/32`"),
        ("10.0.0.0/033", "prefix length `033` has a leading zero"),
        ("x/08", "`x/08` is not an IPv4 or IPv6 network"),
        ("010.0.0.1", "`010.0.0.1` is not an IPv4 or IPv6 network: octet `010` has a "
         "leading zero (write `10`)"),
        ("300.1.1.1", "`300.1.1.1` is not an IPv4 or IPv6 network: octet `300` is greater "
         "than 255"),
        ("10.0.0.0/33", "`10.0.0.0/33` is not an IPv4 or IPv6 network: prefix length `33` "
         "is longer than 32"),
        ("2001:db8::/129", "`2001:db8::/129` is not an IPv4 or IPv6 network: prefix length "
         "`129` is longer than 128"),
        ("10.0.0", "`10.0.0` is not an IPv4 or IPv6 network: an IPv4 address has four "
         "octets, not 3"),
        ("10.0.0.0/", "`10.0.0.0/` is not an IPv4 or IPv6 network: the prefix length is "
         "missing"),
        ("10.0.0.0/x", "`10.0.0.0/x` is not an IPv4 or IPv6 network: prefix length `x` is "
         "not a number"),
    ],
)
def test_the_reference_names_the_fault(text: str, message: str) -> None:
    with pytest.raises(NetworkError) as caught:
        reference_parse(text)
    assert (str(caught.value), caught.value.suggestion) == (message, None)


def test_host_bits_still_come_with_a_suggestion() -> None:
    with pytest.raises(NetworkError) as caught:
        reference_parse("::ffff:10.0.0.1/104")
    assert (str(caught.value), caught.value.suggestion) == (
        "network `::ffff:10.0.0.1/104` has host bits set", "10.0.0.0/8"
    )


def test_a_policy_netmask_is_a_dg103_naming_the_prefix() -> None:
    result = load_policy_text("policy p\nrule r\n  when cidr in 10.0.0.0/255.0.0.0\n  then deny\n")
    assert result.policy is None
    [diagnostic] = result.diagnostics
    assert (diagnostic.code.code, diagnostic.message) == (
        "DG103", "`10.0.0.0/255.0.0.0` writes the prefix as a netmask; write `10.0.0.0/8`"
    )


@pytest.mark.parametrize(
    ("value", "version", "length", "expected"),
    [
        (0x0A010203, 4, 8, 0x0A000000),
        (0x0A010203, 4, 32, 0x0A010203),
        (0x0A010203, 4, 0, 0),
        (0xFFFFFFFF, 4, 1, 0x80000000),
        (0xFFFFFFFF, 4, 31, 0xFFFFFFFE),
        (2**128 - 1, 6, 0, 0),
        (2**128 - 1, 6, 128, 2**128 - 1),
        (2**128 - 1, 6, 64, (2**64 - 1) << 64),
        (0x20010DB8 << 96 | 1, 6, 32, 0x20010DB8 << 96),
        # An IPv4-sized value is masked as 128 bits wide when it is IPv6.
        (0xFFFFFFFF, 6, 96, 0),
    ],
)
def test_mask(value: int, version: int, length: int, expected: int) -> None:
    assert mask(value, version, length) == expected


# --- the import guarantee -------------------------------------------------------------


def test_the_runtime_parser_imports_neither_ipaddress_nor_the_compiler() -> None:
    modules = imported_after("import dualgate.runtime.networks")
    assert "dualgate.runtime.networks" in modules
    assert [m for m in modules if m == "ipaddress" or m.startswith("dualgate.compiler")] == []
    assert "socket" not in modules  # only the C module behind it, `_socket`


def test_the_import_check_would_notice_ipaddress() -> None:
    assert "ipaddress" in imported_after("import dualgate.compiler.networks")
