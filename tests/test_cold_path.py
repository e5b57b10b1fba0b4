"""The cold path: the network index and the inline IPv4 parse against brute force and
the reference.

``dualgate.runtime.intervals`` finds the deepest network of a layout containing a request
by one bisect in an index of all the bundle's networks and a bisect in that network's
chain of enclosing networks for each candidate the layout lists; here it is held to a
scan of the layout's networks on random laminar sets (IPv4 and IPv6, nested, siblings,
equal starts), random layouts among them, and request networks at and around every
boundary (first and last address, one past either end, the networks themselves, their
subnets and supernets). The evaluator parses bare IPv4
addresses inline; near-valid dotted quads must be refused or accepted exactly as the
compiler's reference parser does, and decided as the reference interpreter decides them.
"""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.backend import compile_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.networks import NetworkError
from dualgate.compiler.networks import parse_network as reference_parse
from dualgate.compiler.reference import Request, evaluate
from dualgate.runtime import TierName, load_bundle
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.intervals import block_starts, column_in, network_index
from dualgate.runtime.networks import parse_network
from tests.profiles import examples
from tests.strategies import COLLIDING_NOW, colliding_policies, networks

FIRST, OUTSIDE_V4, OUTSIDE_V6 = 3, 1, 2
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def deepest(layout: list[Net], request: Net) -> int:
    """The column of the deepest layout network holding ``request``, by a scan."""
    best, best_prefix = (OUTSIDE_V4 if request.version == 4 else OUTSIDE_V6), -1
    for column, network in enumerate(layout, FIRST):
        if network.version == request.version and request.subnet_of(network) \
                and network.prefixlen > best_prefix:  # type: ignore[arg-type]
            best, best_prefix = column, network.prefixlen
    return best


def probes(layout: list[Net]) -> list[Net]:
    """Request networks at and around every boundary of the layout's networks."""
    found: list[Net] = []
    for network in layout:
        width = network.max_prefixlen
        top = 2 ** width - 1
        first, last = int(network.network_address), int(network.broadcast_address)
        for address in (first, last, max(first - 1, 0), min(last + 1, top)):
            found.append(ipaddress.ip_network((address, width)))
        found.append(network)
        if network.prefixlen:
            found.append(network.supernet())
        if network.prefixlen < width:
            found.extend(network.subnets())
    return found


def _order(network: Net) -> tuple[int, int, int]:
    """The order of ``table.networks``: v4 first, each family by address and prefix."""
    return network.version, int(network.network_address), network.prefixlen


def _column(networks: list[Net], layout: list[int], request: Net) -> int:
    """The column the index gives ``request`` in ``layout`` (numbers into ``networks``,
    which are in the order of ``table.networks``)."""
    index = network_index([(n.version, int(n.network_address), n.prefixlen)
                           for n in networks])
    deepest = index.deepest(request.version, int(request.network_address),
                            request.prefixlen)
    return column_in(layout, deepest, index.chain, FIRST,
                     OUTSIDE_V4 if request.version == 4 else OUTSIDE_V6)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(networks(), max_size=12, unique=True), st.lists(networks(), max_size=6),
       st.randoms(use_true_random=False))
def test_the_index_finds_the_deepest_network_of_a_layout_a_scan_finds(
        every: list[Net], extra: list[Net], rng: object) -> None:
    every = sorted(every, key=_order)
    # A layout is any ascending subset of the bundle's networks, the whole set included.
    chosen = sorted(rng.sample(range(len(every)), rng.randint(0, len(every))))  # type: ignore[attr-defined]
    for layout in (chosen, list(range(len(every)))):
        listed = [every[n] for n in layout]
        for request in [*probes(every), *extra]:
            assert _column(every, layout, request) == deepest(listed, request), \
                (every, layout, request)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.integers(1, 2**32 - 1), max_size=300, unique=True),
       st.integers(0, 32), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_a_blocks_bounds_narrow_the_bisect_without_changing_it(
        inner: list[int], widest: int, extra: list[int]) -> None:
    """``bisect_right`` between a block's starts is the bisect over all the bounds, for
    any bounds (dense or sparse, at 0 and at the top), any block width, and addresses at,
    next to and between the bounds and at both ends of the family."""
    from bisect import bisect_right

    bounds = [0, *sorted(inner)]
    shift, starts = block_starts(bounds, 32, widest)
    assert len(starts) == (1 << (32 - shift)) + 1 and starts[-1] == len(bounds)
    for bound in [*bounds, 2**32 - 1, *extra]:
        for address in (bound - 1, bound, bound + 1):
            if 0 <= address < 2**32:
                block = address >> shift
                assert bisect_right(bounds, address, starts[block], starts[block + 1]) \
                    == bisect_right(bounds, address), (address, shift)


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(networks(), min_size=1, max_size=200, unique=True),
       st.randoms(use_true_random=False))
def test_the_ipv4_block_lookup_gives_the_deepest_network_as_a_whole_bisect(
        every: list[Net], rng: object) -> None:
    """With enough networks for narrow blocks: ``deepest_v4`` equals the bisect over
    every bound at each network's first and last address and one past either end."""
    from bisect import bisect_right

    index = network_index([_order(n) for n in sorted(every, key=_order)])
    for network in every:
        if network.version != 4:
            continue
        first, last = int(network.network_address), int(network.broadcast_address)
        for address in (first, last, first - 1, last + 1, rng.randrange(2**32)):  # type: ignore[attr-defined]
            if 0 <= address < 2**32:
                assert index.deepest_v4(address) == index.v4_deepest[
                    bisect_right(index.v4_bounds, address)]


#: Pieces of near-valid dotted quads: canonical octets and what must never pass for one.
OCTETS = ("0", "1", "9", "10", "99", "100", "199", "255", "256", "300", "01", "00", "010",
          "+1", "-1", " 1", "1 ", "", "\uff11", "\u0661", "1_0", "0x1", "1e1", "a", "٣")
SEPARATORS = (".", ".", ".", ".", ":", "/", "..", " ")


@st.composite
def dotted(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(OCTETS), min_size=1, max_size=6))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    return text


@settings(max_examples=examples(1500), deadline=None)
@given(dotted())
def test_the_inline_parse_accepts_exactly_what_the_reference_parser_accepts(
        text: str) -> None:
    try:
        expected: Net | None = reference_parse(text)
    except NetworkError:
        expected = None
    assert (parse_network(text) is None) == (expected is None)
    bundle = load_bundle(_BUNDLE)
    verdict = bundle.decide("job.run", "dev", text)
    assert (verdict.reason == "invalid-cidr") == (expected is None), text
    if expected is not None:
        want = evaluate(_POLICY, Request("job.run", "dev", text), COLLIDING_NOW)
        assert (verdict.decision, verdict.rule) == (want.decision, want.rule)


_LOADED = load_policy_text("""policy p
envs dev
default_decision allow

rule inner
  when cidr in 10.1.0.0/16, 1.0.0.0/8
  then deny

rule outer
  when cidr in 10.0.0.0/8, 0.0.0.0/1
  then throttle
""", "p.policy")
assert _LOADED.policy is not None
_POLICY = _LOADED.policy
_BUNDLE = serialize(compile_policy(_POLICY))


@settings(max_examples=examples(60), deadline=None)
@given(colliding_policies(), st.lists(st.integers(min_value=0, max_value=2**32 - 1),
                                      min_size=1, max_size=40))
def test_every_address_new_decides_as_the_reference(policy: ir.Policy,
                                                    addresses: list[int]) -> None:
    """A fresh bundle (no class built, nothing cached) on distinct addresses, mapped
    ones among them, near the policy's networks and anywhere."""
    assume(all(o.tier is not TierName.HIGH for o in policy.overrides))  # refused at load
    bundle = load_bundle(serialize(compile_policy(policy)), clock=COLLIDING_NOW.timestamp)
    near = [int(n.network_address) for r in policy.rules for c in r.conditions
            if isinstance(c, ir.CidrCondition) for n in c.networks if n.version == 4]
    requests = [*addresses, *(a + d for a in near for d in (-1, 0, 1)
                              if 0 <= a + d < 2**32)]
    envs = list(policy.env_names) or ["any"]
    cases = []
    for i, value in enumerate(dict.fromkeys(requests)):
        address = str(ipaddress.IPv4Address(value))
        cidr = (address, f"::ffff:{address}", f"{address}/32", "2001:db8::1")[i % 4]
        cases.append((("a", "a.b", "b.c.d")[i % 3], envs[i % len(envs)], cidr))
    # Twice: the first round makes the verdicts, the second reads them.
    for _ in range(2):
        for topic, env, cidr in cases:
            got = bundle.decide(topic, env, cidr)
            want = evaluate(policy, Request(topic, env, cidr), COLLIDING_NOW)
            assert (got.decision, got.rule, got.reason) == (want.decision, want.rule,
                                                            want.reason), (topic, env, cidr)


@settings(max_examples=examples(120), deadline=None)
@given(st.lists(networks(), min_size=1, max_size=14, unique=True),
       st.randoms(use_true_random=False))
def test_a_bare_ipv4_address_finds_the_deepest_listed_network_as_the_reference(
        every: list[Net], rng: object) -> None:
    """The inline IPv4 lookup (the deepest network, then a bisect in its chain of
    enclosing networks for each candidate the layout lists) on nested chains, siblings
    and equal starts: each topic's class lists its own random subset of the networks,
    in rules of random order and decisions, and every address at and around each
    network's ends decides as the reference interpreter decides it."""
    decisions = ("allow", "deny", "throttle", "require_human")
    rules = []
    for topic in ("t0", "t1", "t2"):
        listed = rng.sample(every, rng.randint(1, len(every)))  # type: ignore[attr-defined]
        for number, network in enumerate(listed):
            rules.append(f"rule {topic}-{number}\n  when topic {topic}\n"
                         f"   and cidr in {network}\n"
                         f"  then {rng.choice(decisions)}\n")  # type: ignore[attr-defined]
    loaded = load_policy_text("policy p\nenvs dev\ndefault_decision allow\n\n"
                              + "\n".join(rules), "p.policy")
    assert loaded.policy is not None, loaded.diagnostics
    bundle = load_bundle(serialize(compile_policy(loaded.policy)))
    addresses = {rng.randrange(2**32)}  # type: ignore[attr-defined]
    for network in every:
        if network.version == 4:
            first, last = int(network.network_address), int(network.broadcast_address)
            addresses.update(a for a in (first - 1, first, last, last + 1) if 0 <= a < 2**32)
    for address in sorted(addresses):
        cidr = str(ipaddress.IPv4Address(address))
        for topic in ("t0", "t1", "t2"):
            got = bundle.decide(topic, "dev", cidr)
            want = evaluate(loaded.policy, Request(topic, "dev", cidr), COLLIDING_NOW)
            assert (got.decision, got.rule) == (want.decision, want.rule), (topic, cidr)


@given(st.lists(networks(), max_size=20, unique=True))
@settings(max_examples=examples(200), deadline=None)
def test_a_networks_chain_is_itself_and_the_networks_enclosing_it_ascending(
        every: list[Net]) -> None:
    every = sorted(every, key=_order)
    index = network_index([_order(n) for n in every])
    for number, network in enumerate(every):
        enclosing = [n for n, other in enumerate(every)
                     if other.version == network.version
                     and network.subnet_of(other)]  # type: ignore[arg-type]
        assert index.chain[number] == tuple(enclosing), (every, number)
