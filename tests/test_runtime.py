"""The runtime's API: verdicts, request faults, fail modes over time, caches, threads and
explanations."""

from __future__ import annotations

import dataclasses
import random
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from dualgate.compiler import ir
from dualgate.compiler.backend import compile_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import (
    Bundle,
    Decision,
    FailMode,
    TierName,
    Verdict,
    is_valid_topic,
    load_bundle,
)
from dualgate.runtime.explain import explain
from tests.profiles import examples
from tests.strategies import colliding_policies
from tests.test_runtime_differential import Pools

POLICY = """\
policy gate
envs production (protected), dev
tier high topics payments.** fail_mode closed
tier medium topics infra.** fail_mode closed
tier low topics **.read fail_mode open
override tier medium fail_mode open until 2026-12-01T12:00:00Z reason "INC-1"
override tier low fail_mode open until 2026-12-01T10:00:00Z reason "INC-2"

rule deny-public
  when cidr not in 10.0.0.0/8, 2001:db8::/32
  then deny

rule approve-prod-payments
  when topic payments.** and env production
  then require_human

rule allow-reads
  when topic **.read
  then allow
"""
NOON = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def load(text: str = POLICY, **options: Any) -> Bundle:
    policy = load_policy_text(text, "gate.policy").policy
    assert policy is not None
    return load_bundle(compile_policy(policy, path="gate.policy"), **options)


def test_a_verdict_says_what_why_and_which_tier() -> None:
    bundle = load(clock=Clock(NOON - 3600))
    verdict = bundle.decide("payments.card.charge", "production", "10.1.2.3")
    assert verdict == Verdict(Decision.REQUIRE_HUMAN, "approve-prod-payments", "rule",
                              TierName.HIGH, FailMode.CLOSED, bundle.content_hash)
    assert not verdict.allowed
    assert bundle.decide("payments.card.charge", "dev", "10.1.2.3").reason == "default"
    assert bundle.decide("payments.x", "dev", "8.8.8.8").rule == "deny-public"
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.decision = Decision.ALLOW  # type: ignore[misc]


def test_verdicts_are_shared() -> None:
    bundle = load()
    assert bundle.decide("a.read", "dev") is bundle.decide("b.read", "dev")


def test_a_rule_verdict_is_a_plain_verdict() -> None:
    """The evaluator builds rule verdicts by setting their slots (faster than the frozen
    dataclass's ``__init__``): the result is a ``Verdict`` like any other, equal, of the
    same hash, frozen."""
    bundle = load()
    verdict = bundle.decide("a.read", "dev")
    assert type(verdict) is Verdict and verdict.rule is not None
    twin = Verdict(verdict.decision, verdict.rule, verdict.reason, verdict.tier,
                   verdict.fail_mode, verdict.bundle)
    assert verdict == twin and hash(verdict) == hash(twin) and repr(verdict) == repr(twin)
    assert dataclasses.asdict(verdict) == dataclasses.asdict(twin)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.rule = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("topic", "env", "cidr", "reason", "tier"), [
    ("", "dev", None, "invalid-topic", None),
    ("a..read", "dev", None, "invalid-topic", None),
    ("a.read ", "dev", None, "invalid-topic", None),
    (None, "dev", None, "invalid-topic", None),
    (b"a.read", "dev", None, "invalid-topic", None),
    (["a"], "dev", None, "invalid-topic", None),
    ("a.read", None, None, "invalid-env", TierName.LOW),
    ("a.read", ["dev"], None, "invalid-env", TierName.LOW),
    ("a.read", "prod", None, "unknown-env", TierName.LOW),
    ("a.read", "", None, "unknown-env", TierName.LOW),
    ("a.read", "dev", "10.0.0.1/8", "invalid-cidr", TierName.LOW),
    ("a.read", "dev", "fe80::1%eth0", "invalid-cidr", TierName.LOW),
    ("a.read", "dev", 167772161, "invalid-cidr", TierName.LOW),
    ("a.read", "dev", "", "invalid-cidr", TierName.LOW),
])
def test_malformed_requests_are_denied_with_their_fault(
    topic: Any, env: Any, cidr: Any, reason: str, tier: TierName | None,
) -> None:
    verdict = load().decide(topic, env, cidr)
    assert (verdict.decision, verdict.rule, verdict.reason, verdict.tier) == (
        Decision.DENY, None, reason, tier)


def test_a_hostile_string_is_denied_not_raised() -> None:
    class Hostile(str):
        def __hash__(self) -> int:
            raise RuntimeError("no")

    verdict = load().decide(Hostile("a.read"), "dev")
    assert (verdict.decision, verdict.reason) == (Decision.DENY, "evaluation-error")


def test_mapped_addresses_are_ipv4() -> None:
    bundle = load()
    assert bundle.decide("a.read", "dev", "::ffff:10.1.2.3").rule == "allow-reads"
    assert bundle.decide("a.read", "dev", "::ffff:8.8.8.8").rule == "deny-public"
    assert bundle.decide("a.read", "dev", "2001:db8::1").rule == "allow-reads"


def test_fail_modes_follow_the_overrides_over_time() -> None:
    clock = Clock(NOON - 3 * 3600)  # 09:00: both overrides open
    bundle = load(clock=clock)
    assert bundle.decide("infra.vm.update", "dev", "10.0.0.1").fail_mode is FailMode.OPEN
    assert bundle.decide("a.read", "dev").fail_mode is FailMode.OPEN
    assert bundle.decide("payments.x", "dev").fail_mode is FailMode.CLOSED
    clock.now = NOON - 3600  # 11:00: the low override expired
    assert bundle.decide("a.read", "dev").fail_mode is FailMode.OPEN  # its own fail mode
    assert bundle.fail_mode(TierName.MEDIUM) is FailMode.OPEN
    low = load(POLICY.replace("tier low topics **.read fail_mode open",
                              "tier low topics **.read fail_mode closed"), clock=clock)
    assert low.decide("a.read", "dev").fail_mode is FailMode.CLOSED
    clock.now = NOON  # 12:00: the medium override expired too
    assert bundle.decide("infra.vm.update", "dev", "10.0.0.1").fail_mode is FailMode.CLOSED
    assert bundle.fail_mode(TierName.MEDIUM) is FailMode.CLOSED


def test_an_undeclared_default_tier_fails_closed() -> None:
    bundle = load("policy p\ndefault_tier low\nrule r\n  then allow\n")
    verdict = bundle.decide("anything", "any-env")
    assert (verdict.tier, verdict.fail_mode) == (TierName.LOW, FailMode.CLOSED)


def test_a_policy_without_envs_accepts_any_env() -> None:
    bundle = load("policy p\nrule r\n  when topic a\n  then allow\n")
    assert bundle.decide("a", "whatever").rule == "r"
    assert bundle.decide("a", "").rule == "r"
    assert bundle.decide("a", 3).reason == "invalid-env"


def test_caches_are_bounded_and_can_be_cleared() -> None:
    bundle = load(topic_cache_size=8, cidr_cache_size=4)
    for i in range(100):
        bundle.decide(f"t{i}.read", "dev", f"10.0.{i}.0/24")
        bundle.decide(f"t{i}.read", "dev", f"10.0.0.{i}")  # a bare IPv4 address: not cached
    info = bundle.evaluator.cache_info()
    assert info["topics"].currsize == 8 and info["cidrs"].currsize == 4
    assert info["cidrs"].misses == 100
    bundle.evaluator.clear_caches()
    assert bundle.evaluator.cache_info()["topics"].currsize == 0
    assert bundle.decide("t1.read", "dev", "10.0.0.1").rule == "allow-reads"


def test_metadata() -> None:
    bundle = load()
    assert bundle.policy == "gate"
    assert bundle.rule_ids == ("deny-public", "approve-prod-payments", "allow-reads")
    assert [t.name for t in bundle.tiers] == [TierName.HIGH, TierName.MEDIUM, TierName.LOW]
    assert not bundle.signed and bundle.verified_key is None
    assert repr(bundle) == f"<Bundle gate {bundle.content_hash[:12]}>"


def test_one_bundle_serves_many_threads_alike() -> None:
    """Threads sharing a bundle (cold caches, verdicts made concurrently, an override
    expiring midway) get the answers one thread gets."""
    clock = Clock(NOON - 1)
    shared = load(clock=clock)
    rng = random.Random(3)
    topics = ["payments.card.charge", "infra.vm.update", "a.read", "x.y", "bad..topic"]
    requests = [(f"{rng.choice(topics)}{rng.choice(['', '.read'])}",
                 rng.choice(["production", "dev", "nope"]),
                 rng.choice([None, "10.1.2.3", "8.8.8.8", "2001:db8::5", "junk"]))
                for _ in range(3000)]
    results: dict[int, list[Verdict]] = {}

    def work(index: int) -> None:
        if index == 3:
            clock.now = NOON  # the medium override expires while the others decide
        results[index] = [shared.decide(*request) for request in requests]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reference = load(clock=Clock(NOON))
    expected = [reference.decide(*request) for request in requests]
    for index in range(8):
        got = [(v.decision, v.rule, v.reason, v.tier) for v in results[index]]
        assert got == [(v.decision, v.rule, v.reason, v.tier) for v in expected]
    # Once the expiry has been seen, every verdict carries the closed fail mode.
    assert [v.fail_mode for v in (shared.decide(*r) for r in requests)] == [
        v.fail_mode for v in expected
    ]


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(colliding_policies())
def test_explanations_name_the_rule_that_decides(policy: ir.Policy) -> None:
    """``explain`` re-evaluates the rules from their conditions; it finds the deciding rule
    of the decision table, and every rule before it has a failed condition."""
    if any(o.tier is TierName.HIGH for o in policy.overrides):
        return
    bundle = load_bundle(compile_policy(policy))
    pools, rng = Pools(policy), random.Random(1)
    for _ in range(60):
        request = (pools.topic(rng), pools.env(rng), pools.cidr(rng))
        explanation = explain(bundle, *request)
        verdict = explanation.verdict
        assert verdict == bundle.decide(*request)
        if verdict.reason not in ("rule", "default"):
            assert explanation.checks == ()
            continue
        matched = [c for c in explanation.checks if c.matched]
        assert [c.rule for c in matched] == ([verdict.rule] if verdict.rule else [])
        assert all(c.failed for c in explanation.checks if not c.matched)
        if verdict.rule is None:
            assert len(explanation.checks) == len(policy.rules)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(colliding_policies())
def test_the_tier_of_a_topic_is_the_reference_tier(policy: ir.Policy) -> None:
    """``tier_of`` gives the reference interpreter's tier for every valid topic, the tier
    ``decide`` reports, and None for a malformed topic, without raising."""
    from dualgate.compiler.reference import tier_of

    if any(o.tier is TierName.HIGH for o in policy.overrides):
        return
    bundle = load_bundle(compile_policy(policy))
    pools, rng = Pools(policy), random.Random(2)
    for _ in range(40):
        topic = pools.topic(rng)
        expected = tier_of(policy, topic) if is_valid_topic(topic) else None
        assert bundle.tier_of(topic) is expected
        assert bundle.decide(topic, pools.env(rng)).tier is expected


def test_the_tier_of_a_hostile_or_non_string_topic_is_none() -> None:
    class Hostile(str):
        def __hash__(self) -> int:
            raise RuntimeError("no")

    bundle = load()
    assert bundle.tier_of(Hostile("a.read")) is None
    assert bundle.tier_of(3) is None
    assert bundle.tier_of("payments.refund") is TierName.HIGH


def test_a_hostile_cidr_is_decided_as_its_text_says_or_fails_closed() -> None:
    """A str subclass whose hash raises: a bare address or a malformed one without `/`
    needs no hash (parsed inline); a network goes through the cache, whose hash raises,
    and is an evaluation error, denied."""
    class Hostile(str):
        def __hash__(self) -> int:
            raise RuntimeError("no")

    bundle = load()
    assert bundle.decide("a.read", "dev", Hostile("10.1.2.3")).rule == "allow-reads"
    assert bundle.decide("a.read", "dev", Hostile("8.8.8.8")).rule == "deny-public"
    for malformed in ("10.1.2", "10.1.2.03", "10.1.2.3 ", "10.1.2.3\x00", "1.2.3.\ud800"):
        assert bundle.decide("a.read", "dev", Hostile(malformed)).reason == "invalid-cidr"
        assert bundle.decide("a.read", "dev", malformed).reason == "invalid-cidr"
    verdict = bundle.decide("a.read", "dev", Hostile("10.1.2.0/24"))
    assert verdict.reason == "evaluation-error" and verdict.decision is Decision.DENY


def test_tier_of_keeps_long_topics_out_of_the_cache_as_decide_does() -> None:
    bundle = load()
    bundle.evaluator.clear_caches()
    long_topic = "a." * 100 + "read"
    assert bundle.evaluator.tier_of(long_topic) is bundle.decide(long_topic, "dev").tier
    assert bundle.evaluator.tier_of("a." * 600 + "read") is None  # beyond the bound
    assert bundle.evaluator.cache_info()["topics"].currsize == 0
