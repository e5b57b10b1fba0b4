"""Outcome regions are exact: they equal a brute-force count over a representative universe.

The universe is the analysis oracle's (``tests/test_analysis_oracle.py`` explains why it
meets every (topic class, env, cidr class) combination), plus one env the policy does not
declare. Every request of it is decided by the reference interpreter; the distinct
(env, rule-or-reason, tier) keys must be exactly the regions' keys, and every region's
witness must get the region's outcome from the reference interpreter.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, assume, given, settings

from dualgate.compiler import ir
from dualgate.compiler.coverage import OutcomeRegion, outcome_regions
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.regions.env_atoms import ANY_ENV_WITNESS
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import colliding_policies, policies
from tests.test_analysis_oracle import universe_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)

PROPERTY = settings(max_examples=examples(50), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def brute_force_keys(policy: ir.Policy) -> set[tuple[str | None, str, TierName]] | None:
    """The distinct outcome keys of every request of the universe (None: too large)."""
    universe = universe_of(policy)
    if universe is None:
        return None
    envs: list[str] = [*policy.env_names, "not-declared-env"] if policy.envs else ["any-env"]
    keys = set()
    for topic in universe.topics:
        for env in envs:
            for network in universe.cidrs:
                result = evaluate(policy, Request(topic, env, None if network is None
                                                  else str(network)), NOW)
                assert result.tier is not None
                named = env if env in policy.env_names else None
                keys.add((named, result.rule or result.reason, result.tier))
    return keys


def confirm(policy: ir.Policy, region: OutcomeRegion) -> None:
    """The reference interpreter gives the region's witness the region's outcome."""
    result = evaluate(policy, region.witness, NOW)
    assert (result.decision, result.rule, result.reason, result.tier, result.fail_mode) == (
        region.decision, region.rule, region.reason, region.tier, region.fail_mode)
    if region.env is not None:
        assert region.witness.env == region.env
    elif policy.envs:
        assert region.witness.env not in policy.env_names


def check(policy: ir.Policy) -> None:
    expected = brute_force_keys(policy)
    assume(expected is not None)
    regions = outcome_regions(policy, now=NOW)
    keys = [r.key for r in regions]
    assert len(set(keys)) == len(keys), "each region once"
    assert set(keys) == expected
    for region in regions:
        confirm(policy, region)


@PROPERTY
@given(colliding_policies())
def test_regions_equal_brute_force_on_colliding_policies(policy: ir.Policy) -> None:
    check(policy)


@PROPERTY
@given(policies(max_rules=5, max_conditions=3, max_envs=3))
def test_regions_equal_brute_force_on_shared_policies(policy: ir.Policy) -> None:
    check(policy)


def _rule(rule_id: str, decision: str, *conditions: ir.Condition) -> ir.Rule:
    return ir.Rule(id=rule_id, conditions=conditions, decision=Decision(decision))


def test_regions_of_a_small_policy() -> None:
    """Per env the rules and the default, then one unknown-env region per tier."""
    policy = ir.Policy(
        name="p", envs=(ir.EnvDecl(name="prod", protected=True), ir.EnvDecl(name="dev")),
        tiers=(ir.Tier(name=TierName.LOW, patterns=(ir.TopicPattern.parse("**.read"),),
                       fail_mode=FailMode.OPEN),),
        rules=(
            _rule("reads", "allow", ir.TopicCondition(
                patterns=(ir.TopicPattern.parse("**.read"),))),
            _rule("prod", "require_human", ir.EnvCondition(envs=("prod",))),
        ),
    )
    regions = outcome_regions(policy, now=NOW)
    assert [r.key for r in regions] == [
        ("prod", "reads", TierName.LOW), ("prod", "prod", TierName.HIGH),
        ("dev", "reads", TierName.LOW), ("dev", "default", TierName.HIGH),
        (None, "unknown-env", TierName.HIGH), (None, "unknown-env", TierName.LOW),
    ]
    assert [r.fail_mode for r in regions if r.tier is TierName.LOW] == [FailMode.OPEN] * 3
    for region in regions:
        confirm(policy, region)


def test_a_policy_without_envs_has_env_none_and_no_unknown_env() -> None:
    """Without declared envs every env reaches the rules: regions carry env None."""
    policy = ir.Policy(name="p", rules=(_rule("all", "allow"),))
    (region,) = outcome_regions(policy, now=NOW)
    assert region.key == (None, "all", TierName.HIGH)
    assert region.witness.env == ANY_ENV_WITNESS
    confirm(policy, region)
