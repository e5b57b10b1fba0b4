"""The compiler backend: automaton minimization and the decision table's sharing."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings

from dualgate.compiler import ir
from dualgate.compiler.backend import build_table, compile_policy
from dualgate.compiler.backend.minimize import Automaton, minimize
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.regions import RegionSpace
from dualgate.runtime import load_bundle
from dualgate.runtime.bundle_format import serialize
from tests.profiles import examples
from tests.strategies import colliding_policies, policies
from tests.test_runtime_differential import Pools

SETTINGS = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def region_automaton(space: RegionSpace) -> Automaton:
    topics = space.topics
    return Automaton([dict(t) for t in topics.transitions], list(topics.default),
                     list(topics.atom_of_state))


@SETTINGS
@given(policies(max_rules=6))
def test_minimizing_keeps_every_topics_label(policy: ir.Policy) -> None:
    """The minimized automaton labels every topic as the region engine's automaton does,
    is never larger, and minimizing again changes nothing."""
    original = region_automaton(RegionSpace(policy))
    smaller = minimize(original)
    assert len(smaller.other) <= len(original.other)
    assert minimize(smaller) == smaller
    pools, rng = Pools(policy), random.Random(5)
    for _ in range(300):
        segments = [rng.choice(pools.segments) for _ in range(rng.randint(1, 6))]
        assert smaller.run(segments) == original.run(segments)


def test_minimizing_merges_states_no_topic_tells_apart() -> None:
    # `a` and `b` lead to states 1 and 2, `a.x` and `b.x` to 3 and 4: equal labels and
    # equal futures, so each pair merges; state 5 takes every other topic.
    automaton = Automaton(
        next=[{"a": 1, "b": 2}, {"x": 3}, {"x": 4}, {}, {}, {}],
        other=[5, 5, 5, 5, 5, 5],
        label=[-1, 7, 7, 9, 9, 0],
    )
    smaller = minimize(automaton)
    assert len(smaller.other) == 4  # start, {a, b}, {a.x, b.x}, everything else
    for topic, label in [("a", 7), ("b", 7), ("a.x", 9), ("b.x", 9), ("c", 0), ("a.y", 0)]:
        assert smaller.run(topic.split(".")) == label


def test_topics_that_decide_alike_share_one_class() -> None:
    """A thousand resources under one glob rule are one class of the table, however many
    automaton states the region engine needed to name their literals."""
    text = "policy p\nenvs production, dev\n" + "".join(
        f"rule r{i}\n  when topic svc.res{i}.delete and env production\n  then require_human\n"
        for i in range(3)
    ) + "rule reads\n  when topic svc.*.read\n  then allow\n"
    policy = load_policy_text(text, "p.policy").policy
    assert policy is not None
    table = build_table(RegionSpace(policy))
    # Classes: each res{i}.delete, svc.*.read, and "anything else"; one plane each, of
    # three columns (no cidr, outside IPv4, outside IPv6) per env, production first.
    assert len(table.classes) == 5
    prod_only = [(i, i, i, -1, -1, -1) for i in range(3)]
    assert sorted(table.planes) == sorted([*prod_only, (3,) * 6, (-1,) * 6])


def test_classes_that_decide_alike_in_different_tiers_share_one_plane() -> None:
    """`a.**` and `b.**` get the same decisions but different tiers: two classes, one
    plane, stored once."""
    text = ("policy p\ndefault_tier low\ntier high topics a.** fail_mode closed\n"
            "rule r\n  when topic a.**, b.**\n  then allow\n")
    policy = load_policy_text(text, "p.policy").policy
    assert policy is not None
    table = build_table(RegionSpace(policy))
    planes = {tier: plane for tier, _layout, plane in table.classes}
    assert set(planes) == {"high", "low"}
    a, b = (table.exact.get(t, table.automaton.run(t.split("."))) for t in ("a.x", "b.x"))
    assert table.classes[a][2] == table.classes[b][2]
    assert len(table.planes) < len(table.classes)


BOUNDARY = """\
policy boundary
rule inner
  when cidr in 10.0.0.0/16, 2001:db8::/48
  then deny
rule outer
  when cidr in 10.0.0.0/8, 2001:db8::/32
  then allow
rule outside
  when cidr not in 10.0.0.0/8
  then throttle
"""


@pytest.mark.parametrize(
    ("cidr", "rule"),
    [
        ("10.0.0.0/16", "inner"),  # equal to the inner network: inside it
        ("10.0.0.0/8", "outer"),  # equal to the outer network
        ("10.0.0.0/15", "outer"),  # just wider than the inner one
        ("10.0.0.0/7", "outside"),  # just wider than the outer one
        ("10.0.255.255", "inner"),  # the inner network's last host
        ("10.1.0.0", "outer"),  # the first host after it
        ("2001:db8::/48", "inner"),
        ("2001:db8::/32", "outer"),
        ("2001:db8::/31", "outside"),
        ("::ffff:10.0.0.0/104", "outer"),  # mapped: the IPv4 10.0.0.0/8
    ],
)
def test_a_request_equal_to_a_rules_network_is_inside_it(cidr: str, rule: str) -> None:
    """Containment is `<=`: the runtime and the reference agree at the boundary."""
    policy = load_policy_text(BOUNDARY, "boundary.policy").policy
    assert policy is not None
    bundle = load_bundle(serialize(compile_policy(policy)))
    assert bundle.decide("t", "e", cidr).rule == rule
    assert evaluate(policy, Request("t", "e", cidr)).rule == rule


@SETTINGS
@given(colliding_policies())
def test_tables_are_shared_and_consistent(policy: ir.Policy) -> None:
    """Every class's plane has one entry per env and column of its layout, no two
    classes, layouts, planes or maps of literal edges are equal (each is stored once, and
    every map is some state's), and the network table holds each network of the policy
    once, in column order."""
    document = compile_policy(policy)["content"]
    table = document["table"]
    envs = max(1, len(document["envs"]))
    classes = list(zip(*(table["classes"][k] for k in ("tier", "layout", "plane")),
                       strict=True))
    starts = sorted(set(table["classes"]["plane"]))
    # The planes lie one after another, each used by some class, none stored twice.
    ends = [*starts[1:], len(table["planes"])]
    planes = [tuple(table["planes"][a:b]) for a, b in zip(starts, ends, strict=True)]
    assert starts[0] == 0 and len(set(planes)) == len(planes)
    for _tier, layout, start in classes:
        columns = 3 + len(table["layouts"][layout])
        assert len(planes[starts.index(start)]) == envs * columns
    assert len(set(classes)) == len(classes)
    assert len({tuple(lay) for lay in table["layouts"]}) == len(table["layouts"])
    assert all(lay == sorted(set(lay)) for lay in table["layouts"])
    transitions = table["topics"]["transitions"]
    assert len({tuple(sorted(t.items())) for t in transitions}) == len(transitions)
    assert sorted(set(table["topics"]["next"])) == list(range(len(transitions)))
    written = {n for r in policy.rules for c in r.conditions
               if isinstance(c, ir.CidrCondition) for n in c.networks}
    order = sorted(written, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    assert table["networks"] == [str(n) for n in order]


def test_a_literal_edge_that_leads_where_other_does_changes_nothing() -> None:
    """State 1 names `x` but sends it where every other segment goes: it is state 2."""
    automaton = Automaton(next=[{"a": 1, "b": 2}, {"x": 3}, {}, {}],
                          other=[3, 3, 3, 3], label=[-1, 5, 5, 0])
    smaller = minimize(automaton)
    assert len(smaller.other) == 3
    assert smaller.next[0] == {"a": 2, "b": 2}  # numbered breadth-first, "other" first


@SETTINGS
@given(policies(max_rules=6))
def test_the_bundle_gives_every_state_its_own_map_of_literal_edges(
        policy: ir.Policy) -> None:
    """States share a stored map only when theirs are equal: the bundle's automaton is
    the table's, state for state."""
    table = build_table(RegionSpace(policy))
    topics = table.to_json()["topics"]
    assert [topics["transitions"][i] for i in topics["next"]] == table.automaton.next
    assert topics["other"] == table.automaton.other


def test_states_with_equal_maps_of_literal_edges_share_one() -> None:
    """The maps are numbered by the first state using them, so the layout is canonical."""
    policy = load_policy_text(SHARED_EDGES, "shared.policy").policy
    assert policy is not None
    topics = compile_policy(policy)["content"]["table"]["topics"]
    assert len(topics["transitions"]) < len(topics["next"])
    first_use = [topics["next"].index(i) for i in range(len(topics["transitions"]))]
    assert first_use == sorted(first_use)


SHARED_EDGES = """\
policy shared
rule a
  when topic svc1.*.read, svc2.*.read, svc3.*.read
  then allow
rule b
  when topic svc1.*.delete, svc2.*.delete, svc3.*.delete
  then deny
"""


@SETTINGS
@given(policies(max_rules=6))
def test_literal_topics_map_to_the_class_the_automaton_gives(policy: ir.Policy) -> None:
    """The exact-topic table is a shortcut, never a second opinion."""
    table = build_table(RegionSpace(policy))
    literals = {p.text for rule in policy.rules for c in rule.conditions
                if isinstance(c, ir.TopicCondition) for p in c.patterns
                if "*" not in p.text}
    literals |= {p.text for tier in policy.tiers for p in tier.patterns if "*" not in p.text}
    assert set(table.exact) == literals
    for topic, label in table.exact.items():
        assert table.automaton.run(topic.split(".")) == label
