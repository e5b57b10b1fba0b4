"""The action-path map is exact: every path equals a brute-force evaluation.

For random policies and random catalogs, each path's tier, fail mode and set of outcomes
(decision, rule, reason) must equal what the reference interpreter gives the path's topic
and env over a representative set of request networks: the analysis oracle's cidr
universe (``tests/test_analysis_oracle.py`` explains why no, each policy network and both
/0s meet every cidr class). Every outcome's witness cidr must get that outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.coverage import (
    ActionPath,
    Catalog,
    PathMap,
    build_path_map,
    parse_text_catalog,
)
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.networks import Network
from dualgate.compiler.reference import Request, evaluate, pattern_matches
from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.reports.coverage_json import render_json, render_path_map_json
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import SEGMENTS, colliding_policies, policies, timestamps
from tests.test_analysis_oracle import cidr_universe

PROPERTY = settings(max_examples=examples(120), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 6, 1, tzinfo=UTC)

_CATALOG_SEGMENTS = st.sampled_from(("a", "b", *SEGMENTS, "fresh", "zz"))
_TOPICS = st.lists(_CATALOG_SEGMENTS, min_size=1, max_size=4).map(".".join)
_MALFORMED = st.sampled_from(("a..b", "a.*", "with space", "a.b.", "é"))
CATALOGS = st.lists(st.one_of(_TOPICS, _TOPICS, _TOPICS, _MALFORMED), max_size=12)


def _networks(policy: ir.Policy) -> list[Network]:
    return [n for rule in policy.rules for c in rule.conditions
            if isinstance(c, ir.CidrCondition) for n in c.networks]


def brute_force(policy: ir.Policy, path: ActionPath, now: datetime) -> tuple[
        TierName, FailMode, set[tuple[Decision, str | None, str]]]:
    env = path.env if path.env is not None else "any-env"
    outcomes = set()
    tier = mode = None
    for network in cidr_universe(_networks(policy)):
        result = evaluate(policy, Request(path.topic, env, None if network is None
                                          else str(network)), now)
        outcomes.add((result.decision, result.rule, result.reason))
        tier, mode = result.tier, result.fail_mode
    assert tier is not None and mode is not None
    return tier, mode, outcomes


def check_path(policy: ir.Policy, path: ActionPath, now: datetime) -> None:
    tier, mode, outcomes = brute_force(policy, path, now)
    assert (path.tier, path.fail_mode) == (tier, mode)
    assert {(o.decision, o.rule, o.reason) for o in path.outcomes} == outcomes
    assert len(path.outcomes) == len(outcomes), "each outcome once"
    env = path.env if path.env is not None else "any-env"
    for outcome in path.outcomes:
        result = evaluate(policy, Request(path.topic, env, outcome.cidr), now)
        assert (result.decision, result.rule, result.reason) == (
            outcome.decision, outcome.rule, outcome.reason)
    classified = any(any(pattern_matches(p, path.topic) for p in t.patterns) for t in policy.tiers)
    assert path.classified == classified
    protected = {e.name for e in policy.envs if e.protected}
    assert path.protected == (path.env in protected)


def check_map(policy: ir.Policy, catalog: Catalog, now: datetime) -> PathMap:
    path_map = build_path_map(policy, catalog, now=now)
    envs = policy.env_names or (None,)
    assert [(p.topic, p.env) for p in path_map.paths] == [
        (t, e) for t in catalog.topics for e in envs]
    for path in path_map.paths:
        check_path(policy, path, now)
    return path_map


@PROPERTY
@given(colliding_policies(), CATALOGS, timestamps())
def test_catalog_paths_equal_brute_force(policy: ir.Policy, lines: list[str],
                                         now: datetime) -> None:
    catalog = parse_text_catalog("\n".join(lines))
    check_map(policy, catalog, now)
    assert {m.text for m in catalog.malformed} <= set(lines)


@PROPERTY
@given(policies(max_rules=5, max_conditions=3, max_envs=3), CATALOGS, timestamps())
def test_catalog_paths_equal_brute_force_on_shared_policies(
        policy: ir.Policy, lines: list[str], now: datetime) -> None:
    check_map(policy, parse_text_catalog("\n".join(lines)), now)


@PROPERTY
@given(colliding_policies(), st.one_of(st.none(), CATALOGS))
def test_fast_json_writer_is_byte_identical_to_the_generic_one(
        policy: ir.Policy, lines: list[str] | None) -> None:
    """The shared-fragment writer the command uses changes no byte of the report."""
    catalog = None if lines is None else parse_text_catalog("\n".join(lines))
    path_map = build_path_map(policy, catalog, now=NOW)
    assert render_path_map_json(path_map) == render_json(path_map.to_json())


@PROPERTY
@given(colliding_policies())
def test_class_paths_equal_brute_force(policy: ir.Policy) -> None:
    """Without a catalog each topic class is a path; its witness topic agrees with the
    reference, and every topic atom of the policy is in exactly one path."""
    path_map = build_path_map(policy, None, now=NOW)
    for path in path_map.paths:
        check_path(policy, path, NOW)
    space = RegionSpace(policy)
    witnesses = [p.topic for p in path_map.paths[::len(policy.env_names) or 1]]
    assert len(set(witnesses)) == len(witnesses)
    assert len(witnesses) <= len(space.topics.atoms)


def test_flags_of_the_example_policy() -> None:
    """High-tier allows outside production, fail-open reads, default-only and unclassified."""
    policy = load_policy("policies/infra.policy").policy
    assert policy is not None
    catalog = parse_text_catalog("infra.instance.delete\ninfra.instance.read\n"
                                 "infra.database.backup\ninfra.database.restore\n")
    path_map = check_map(policy, catalog, NOW)
    flags = {(p.topic, p.env): p.flags for p in path_map.paths}
    assert flags[("infra.instance.delete", "production")] == ()
    assert flags[("infra.instance.delete", "dev")] == ("high-allow",)
    assert flags[("infra.instance.read", "staging")] == ("fail-open",)
    assert flags[("infra.database.backup", "dev")] == ("unclassified", "default-only")
    assert flags[("infra.database.restore", "production")] == ("default-only",)
    summary = path_map.summary()
    assert summary["topics"] == 4 and summary["classified"] == 3
    assert summary["classified_share"] == 0.75
    assert summary["flags"]["high-allow"] == 3  # delete in staging and dev, restore in dev
    production = summary["by_env"][0]
    assert production["env"] == "production" and production["protected"]
    assert production["counts"]["high"]["require_human"] == 1
    assert production["counts"]["high"]["deny"] == 2
    assert path_map.flagged(["high-allow", "fail-open"]) == 6


def test_a_policy_without_envs_maps_each_topic_once_with_env_none() -> None:
    policy = ir.Policy(name="p", rules=(ir.Rule(id="all", decision=Decision.ALLOW),))
    (path,) = build_path_map(policy, parse_text_catalog("a.b"), now=NOW).paths
    assert path.env is None and not path.protected
    assert path.flags == ("unclassified", "high-allow")
