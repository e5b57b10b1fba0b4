"""One truth, tested two ways: the compiled runtime agrees with the reference interpreter.

For random policies (the generators of the analysis tests) and random requests
(well-formed ones built from the policy's own segments, envs and networks, and
malformed ones: bad topics, undeclared envs, odd cidrs such as ``::ffff:10.0.0.1``,
``10.0.0.1/8`` or ``0.0.0.0/0``), the bundle compiled from the policy, written to bytes
and loaded again, gives the same decision, rule, reason, tier and fail mode as
``dualgate.compiler.reference.evaluate``. The properties below make well over 100,000
such comparisons per run (each counts its own and asserts its share);
``benchmarks/soak_runtime.py`` runs the same comparison for as long as it is given.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.backend import compile_policy
from dualgate.compiler.reference import Request, evaluate
from dualgate.runtime import BundleError, load_bundle
from dualgate.runtime.bundle import Bundle
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.vocabulary import TierName
from tests.strategies import COLLIDING_NOW, colliding_policies, policies

NOW = COLLIDING_NOW

#: Topics the runtime must deny as malformed.
MALFORMED_TOPICS = ("", ".", "a.", ".a", "a..b", "a b", "a.*", "**", "*", "é", "a/b", " a",
                    "a\n", "a.b.", "a\x00")
#: Cidrs every policy is asked about: mapped, host bits, /0s, scope ids, netmasks, junk.
ODD_CIDRS = ("::ffff:10.0.0.1", "10.0.0.1/8", "0.0.0.0/0", "::/0", "10.0.0.0/8",
             "10.0.0.1", "192.0.2.1", "2001:db8::1", "::ffff:0:0/96", "::ffff:10.0.0.0/104",
             "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/255.0.0.0", "fe80::1%eth0", "999.1.1.1",
             "", " 10.0.0.1", "not-a-network", "2001:db8::/33", "::", "::1/128", "1.2.3.4/32")
UNDECLARED_ENVS = ("undeclared", "", "Production", "prod ")


class Pools:
    """Request parts for one policy: its segments, envs and networks, and odd values."""

    def __init__(self, policy: ir.Policy) -> None:
        segments = {s for rule in policy.rules for c in rule.conditions
                    if isinstance(c, ir.TopicCondition) for p in c.patterns for s in p.segments}
        segments |= {s for tier in policy.tiers for p in tier.patterns for s in p.segments}
        self.segments = [*sorted(s for s in segments if s not in ("*", "**")), "x", "other"]
        self.envs = list(policy.env_names) or ["any"]
        networks = {n for rule in policy.rules for c in rule.conditions
                    if isinstance(c, ir.CidrCondition) for n in c.networks}
        cidrs: set[str] = set()
        for network in networks:
            cidrs.add(str(network))
            cidrs.add(str(network.network_address))
            cidrs.add(str(network.broadcast_address))
            if network.prefixlen:
                cidrs.add(str(network.supernet()))
            if network.prefixlen < network.max_prefixlen:
                cidrs.add(str(next(network.subnets())))
        self.cidrs = sorted(cidrs)

    def topic(self, rng: random.Random) -> str:
        if rng.random() < 0.08:
            return rng.choice(MALFORMED_TOPICS)
        return ".".join(rng.choice(self.segments) for _ in range(rng.randint(1, 5)))

    def env(self, rng: random.Random) -> str:
        return rng.choice(UNDECLARED_ENVS) if rng.random() < 0.08 else rng.choice(self.envs)

    def cidr(self, rng: random.Random) -> str | None:
        roll = rng.random()
        if roll < 0.3:
            return None
        if roll < 0.5 or not self.cidrs:
            return rng.choice(ODD_CIDRS)
        return rng.choice(self.cidrs)


def compiled(policy: ir.Policy) -> Bundle:
    """The policy's bundle, through bytes as a file would carry it, with a fixed clock."""
    data = serialize(compile_policy(policy))
    return load_bundle(data, clock=NOW.timestamp)


def opens_high(policy: ir.Policy) -> bool:
    return any(o.tier is TierName.HIGH for o in policy.overrides)


def compare(policy: ir.Policy, bundle: Bundle, request: Request) -> None:
    want = evaluate(policy, request, NOW)
    got = bundle.decide(request.topic, request.env, request.cidr)
    assert (got.decision, got.rule, got.reason, got.tier, got.fail_mode) == (
        want.decision, want.rule, want.reason, want.tier, want.fail_mode
    ), request


def check(policy: ir.Policy, seed: int, drawn: list[Request], bulk: int) -> int:
    """Compare ``drawn`` requests and ``bulk`` seeded ones; returns the comparisons made."""
    if opens_high(policy):
        # The compiler refuses such a policy (DG302); a bundle that says so is refused too.
        with pytest.raises(BundleError, match="high tier"):
            compiled(policy)
        return 0
    bundle = compiled(policy)
    pools = Pools(policy)
    rng = random.Random(seed)
    requests = drawn + [Request(pools.topic(rng), pools.env(rng), pools.cidr(rng))
                        for _ in range(bulk)]
    for request in requests:
        compare(policy, bundle, request)
    return len(requests)


@st.composite
def policy_and_requests(draw: st.DrawFn, policy_strategy: Any) -> tuple[ir.Policy, list[Request]]:
    policy = draw(policy_strategy)
    pools = Pools(policy)
    topic = st.one_of(
        st.lists(st.sampled_from(pools.segments), min_size=1, max_size=5).map(".".join),
        st.sampled_from(MALFORMED_TOPICS),
    )
    env = st.sampled_from(pools.envs + list(UNDECLARED_ENVS))
    cidr = st.one_of(st.none(), st.sampled_from(ODD_CIDRS),
                     st.sampled_from(pools.cidrs) if pools.cidrs else st.none())
    requests = draw(st.lists(st.builds(Request, topic, env, cidr), min_size=1, max_size=20))
    return policy, requests


DIFFERENTIAL = settings(max_examples=300, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Seeded requests per example, on top of the drawn ones.
BULK = 240
#: The comparisons each property must make: 300 + 200 examples x ~250 requests, less the
#: policies refused for opening the high tier (up to a quarter of the shared ones, as
#: drawn: 36,791 comparisons were seen), is well over 90,000 in all.
COLLIDING_COMPARISONS = 60_000
SHARED_COMPARISONS = 30_000


def test_runtime_equals_reference_on_colliding_policies() -> None:
    made = 0

    @DIFFERENTIAL
    @given(policy_and_requests(colliding_policies()), st.integers(min_value=0))
    def prop(case: tuple[ir.Policy, list[Request]], seed: int) -> None:
        nonlocal made
        policy, requests = case
        made += check(policy, seed, requests, BULK)

    prop()
    assert made >= COLLIDING_COMPARISONS, made


def test_runtime_equals_reference_on_shared_policies() -> None:
    """The same over ``tests.strategies.policies()``: more segments, names and overrides
    (active and expired, which the fail mode must reflect)."""
    made = 0

    @settings(DIFFERENTIAL, max_examples=200)
    @given(policy_and_requests(policies(max_rules=8, max_overrides=2)), st.integers(min_value=0))
    def prop(case: tuple[ir.Policy, list[Request]], seed: int) -> None:
        nonlocal made
        policy, requests = case
        made += check(policy, seed, requests, BULK)

    prop()
    assert made >= SHARED_COMPARISONS, made


@settings(DIFFERENTIAL, max_examples=60)
@given(colliding_policies())
def test_a_bundle_loaded_from_bytes_or_a_document_decides_the_same(policy: ir.Policy) -> None:
    """Bytes on disk, the parsed document and the compiler's own dict give one bundle."""
    if opens_high(policy):
        return
    document = compile_policy(policy)
    from_bytes = load_bundle(serialize(document))
    from_dict = load_bundle(document)
    assert from_bytes.content_hash == from_dict.content_hash == document["content_sha256"]
    pools, rng = Pools(policy), random.Random(0)
    for _ in range(200):
        request = (pools.topic(rng), pools.env(rng), pools.cidr(rng))
        assert from_bytes.decide(*request) == from_dict.decide(*request)


@settings(DIFFERENTIAL, max_examples=40)
@given(colliding_policies())
def test_compilation_is_deterministic(policy: ir.Policy) -> None:
    """The same policy gives byte-identical bundles."""
    assert serialize(compile_policy(policy)) == serialize(compile_policy(policy))
