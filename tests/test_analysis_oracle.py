"""The rule and governance analysis is exact: a brute-force oracle finds the same findings.

The oracle below is written independently of the analyzer: it uses only the IR and the
reference interpreter (``dualgate.compiler.reference``), never ``RegionSpace`` nor the
analysis code. It enumerates a finite **universe** of requests for a policy and computes,
by first match over every request of it, which rules are unmatchable, shadowed (with
their blocking rules), redundant (with what decides instead), which rule pairs conflict
(and whether the later rule generalizes the earlier one), and which deciders allow a
high-tier topic in a protected env. The properties assert that these sets are *equal*
to the analyzer's findings, and that every witness the analyzer gives reproduces its
finding under the reference semantics.

Why a finite universe is enough (the universe is representative)
----------------------------------------------------------------
Everything the analysis reports is a statement about all requests, and the answer the
reference gives a request depends on its three attributes only through:

* **topic**: which patterns of the policy (rule and tier patterns) match it. Let
  ``S(w)`` be the set of pairs ``(p, i)``, ``i >= 1``, such that the prefix ``p[:i]`` of
  pattern ``p`` matches the topic ``w``; the patterns matching ``w`` are those with
  ``(p, len(p))`` in ``S(w)``. Segment-wise matching gives ``S(w.c)`` as a function of
  ``S(w)`` and ``c`` alone (``q.s`` matches ``w.c`` iff ``q`` matches ``w`` and ``s``
  matches ``c``; ``q.**`` matches ``w.c`` iff ``q.**`` matches ``w`` or ``q`` matches
  ``w.c``), and ``c`` enters only through which literals it equals, so every segment that
  is no literal of the policy acts like one fresh segment. Hence the words reached by a
  breadth-first search over the literals plus one fresh segment, keeping one (shortest)
  word per ``S`` value and extending only those, reach every ``S`` value any topic has
  (``w.c`` has the ``S`` of ``u.c`` for the kept ``u`` with ``S(u) = S(w)``). The oracle
  runs that search with the reference matcher and takes the kept words, plus every word
  of at most ``SHORT_LENGTH`` segments as extra members.
* **env**: which declared env it is. Requests with an undeclared env never reach the
  rules (``unknown-env``), so the declared envs are the whole env space; a policy that
  declares none has no env conditions, and one arbitrary env stands for all.
* **cidr**: absent, or the set of policy networks containing the request network. The
  networks containing a request network are nested (all are prefixes of it), so that set
  is the set of policy networks containing its deepest member ``D``, and the request
  ``D`` itself has the same set. An empty set is realized by the family's ``/0`` (which
  is inside no network but a ``/0``). So ``None``, the policy networks and both ``/0``
  suffice; hosts and subnets inside and outside each network, a few fixed hosts of both
  families and IPv4-mapped IPv6 requests are added as extra members.

The universe is the product of the three, so every combination of (topic class, env,
cidr class) has a member, and a finding over all requests holds exactly when it holds
over the universe. As an independent sanity check, every topic-atom witness of the
analyzer's automaton (a shortest topic of its atom) must fit the universe's bound.

Speed: per-rule match sets are Python integers used as bitsets over the universe
(bit ``t * |envs| * |cidrs| + e * |cidrs| + c``), so first match, deletion of a rule and
every comparison are a handful of big-integer operations per rule.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings

from dualgate.compiler import ir
from dualgate.compiler.analysis import AnalysisOptions, analyze
from dualgate.compiler.codes import Severity
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.reference import (
    Network,
    Request,
    evaluate,
    first_match,
    holds,
    matches,
    pattern_matches,
    request_network,
)
from dualgate.compiler.regions import RegionSpace
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import colliding_policies
from tests.strategies import policies as shared_policies

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: Every topic of at most this many segments is in the universe, beside the search's.
SHORT_LENGTH = 2
#: Largest number of topic states the search may keep (keeps an example fast).
MAX_WORDS = 1500
#: The env standing for every env when a policy declares none.
ANY_ENV = "any-env"
#: Fixed request networks of both families (documentation ranges and a mapped address).
_FIXED_CIDRS = ("192.0.2.1", "2001:db8::1", "3fff::/20", "::ffff:10.0.0.1", "::ffff:0:0/96")

#: The oracle's own tier order, lowest risk first, and wildcards (not the compiler's).
TIER_ORDER = (TierName.LOW, TierName.MEDIUM, TierName.HIGH)
WILDCARDS = ("*", "**")

RULE_CODES = ("unmatchable-rule", "shadowed-rule", "redundant-rule", "conflicting-rules",
              "unapproved-high-risk-allow")


# -- the universe ------------------------------------------------------------------


def _fresh_segment(literals: Iterable[str]) -> str:
    """A segment that is no literal of the policy."""
    taken = set(literals)
    return next(f"fresh{n}" for n in itertools.count() if f"fresh{n}" not in taken)


def _words(alphabet: tuple[str, ...], length: int) -> list[str]:
    """Every topic of 1..``length`` segments over ``alphabet``, shorter ones first."""
    return [".".join(w) for size in range(1, length + 1)
            for w in itertools.product(alphabet, repeat=size)]


def policy_patterns(policy: ir.Policy) -> list[tuple[str, ...]]:
    """The distinct patterns of the policy's topic conditions and tiers."""
    found: dict[tuple[str, ...], None] = {}
    for rule in policy.rules:
        for condition in rule.conditions:
            if isinstance(condition, ir.TopicCondition):
                found.update((p.segments, None) for p in condition.patterns)
    for tier in policy.tiers:
        found.update((p.segments, None) for p in tier.patterns)
    return list(found)


def representative_topics(patterns: Sequence[tuple[str, ...]],
                          alphabet: tuple[str, ...]) -> list[str] | None:
    """One shortest topic per prefix-match state ``S`` (module doc), shorter ones first.

    None when more than ``MAX_WORDS`` states are reachable.
    """
    prefixes = [ir.TopicPattern(segments=q)
                for q in sorted({p[:i] for p in patterns for i in range(1, len(p) + 1)})]

    def state(topic: str) -> tuple[bool, ...]:
        return tuple(pattern_matches(q, topic) for q in prefixes)

    seen: set[tuple[bool, ...]] = set()
    kept: list[str] = []
    frontier = list(alphabet)
    while frontier:
        grown: list[str] = []
        for topic in frontier:
            key = state(topic)
            if key in seen:
                continue
            seen.add(key)
            kept.append(topic)
            if len(kept) > MAX_WORDS:
                return None
            grown.extend(f"{topic}.{c}" for c in alphabet)
        frontier = grown
    return kept


def cidr_universe(policy_networks: Iterable[Network]) -> tuple[Network | None, ...]:
    """None, the policy networks, hosts and subnets in and around them, /0s, fixed hosts."""
    found: set[Network] = {ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")}
    found.update(_network(text) for text in _FIXED_CIDRS)
    for network in policy_networks:
        found.add(network)
        found.add(_network(str(network.broadcast_address)))  # a host inside
        if network.prefixlen < network.max_prefixlen:
            found.add(next(network.subnets()))  # a subnet inside
        if network.prefixlen > 0:
            parent = network.supernet()
            found.add(parent)  # a network around it
            found.update(s for s in parent.subnets() if s != network)  # its sibling
    ordered = sorted(found, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return (None, *ordered)


def _network(text: str) -> Network:
    network = request_network(text)
    assert network is not None, text
    return network


def _networks_of(policy: ir.Policy) -> list[Network]:
    return [n for rule in policy.rules for c in rule.conditions
            if isinstance(c, ir.CidrCondition) for n in c.networks]


@dataclass(frozen=True)
class Universe:
    """The representative requests of one policy (see the module docstring)."""

    topics: tuple[str, ...]
    envs: tuple[str, ...]
    cidrs: tuple[Network | None, ...]
    #: The longest topic, in segments.
    bound: int
    #: Topic patterns' match sets over ``topics``, keyed by segments.
    pattern_masks: dict[tuple[str, ...], int]

    @property
    def plane(self) -> int:
        """Requests per topic (envs x cidrs)."""
        return len(self.envs) * len(self.cidrs)

    @property
    def size(self) -> int:
        return len(self.topics) * self.plane

    def request(self, index: int) -> tuple[str, str, Network | None]:
        topic, rest = divmod(index, self.plane)
        env, cidr = divmod(rest, len(self.cidrs))
        return self.topics[topic], self.envs[env], self.cidrs[cidr]

    def spread(self, topics: int, plane: int) -> int:
        """The requests whose topic is in ``topics`` and whose (env, cidr) is in ``plane``.

        Topic bit ``t`` moves to bit ``t * plane_size``; multiplying by ``plane`` (less
        than ``2 ** plane_size``) then ORs shifted copies that cannot overlap.
        """
        spaced = 0
        while topics:
            low = topics & -topics
            spaced |= 1 << ((low.bit_length() - 1) * self.plane)
            topics ^= low
        return spaced * plane


def universe_of(policy: ir.Policy) -> Universe | None:
    """The policy's universe, or None when its topic search keeps too many topics."""
    patterns = policy_patterns(policy)
    literals = sorted({s for p in patterns for s in p if s not in WILDCARDS})
    alphabet = (*literals, _fresh_segment(literals))
    representatives = representative_topics(patterns, alphabet)
    if representatives is None:
        return None
    topics = tuple(dict.fromkeys([*_words(alphabet, SHORT_LENGTH), *representatives]))
    masks = {p: sum(1 << i for i, topic in enumerate(topics)
                    if pattern_matches(ir.TopicPattern(segments=p), topic))
             for p in patterns}
    return Universe(
        topics=topics,
        envs=policy.env_names or (ANY_ENV,),
        cidrs=cidr_universe(_networks_of(policy)),
        bound=max(len(t.split(".")) for t in topics),
        pattern_masks=masks,
    )


# -- the oracle --------------------------------------------------------------------


def effective_tier(policy: ir.Policy, topic: str) -> TierName:
    """The highest tier whose patterns match ``topic``, else the policy's default tier."""
    tiers = [t.name for t in policy.tiers if any(pattern_matches(p, topic) for p in t.patterns)]
    return max(tiers, key=TIER_ORDER.index) if tiers else policy.default_tier


@dataclass(frozen=True)
class Expected:
    """The findings the oracle computes from the universe (rule ids; None is the default)."""

    unmatchable: set[str]
    shadowed: dict[str, set[str]]  # subject -> blocking rules
    redundant: dict[str, set[str | None]]  # subject -> what decides instead
    conflicts: dict[tuple[str, str], bool]  # (earlier, later) -> later generalizes earlier
    high_risk_allows: set[str | None]


class Oracle:
    """Brute-force first match over a universe, with per-rule match sets as bitsets."""

    def __init__(self, policy: ir.Policy, universe: Universe) -> None:
        self.policy = policy
        self.universe = u = universe
        self.all_topics = (1 << len(u.topics)) - 1
        self.all = (1 << u.size) - 1
        self.matched = [self._matched(rule) for rule in policy.rules]

    # per dimension, from the reference's ``holds`` (topics through the cached matcher)

    def _topic_mask(self, condition: ir.TopicCondition) -> int:
        mask = 0
        for pattern in condition.patterns:
            mask |= self.universe.pattern_masks[pattern.segments]
        return self.all_topics & ~mask if condition.negated else mask

    def _matched(self, rule: ir.Rule) -> int:
        u = self.universe
        topics = self.all_topics
        envs = [True] * len(u.envs)
        cidrs = [True] * len(u.cidrs)
        for condition in rule.conditions:
            if isinstance(condition, ir.TopicCondition):
                topics &= self._topic_mask(condition)
            elif isinstance(condition, ir.EnvCondition):
                envs = [ok and holds(condition, "t", env, None) for ok, env in zip(envs, u.envs,
                                                                                  strict=True)]
            else:
                cidrs = [ok and holds(condition, "t", "e", net)
                         for ok, net in zip(cidrs, u.cidrs, strict=True)]
        cidr_mask = sum(1 << c for c, ok in enumerate(cidrs) if ok)
        plane = sum(cidr_mask << (e * len(u.cidrs)) for e, ok in enumerate(envs) if ok)
        return u.spread(topics, plane)

    # first match

    def first(self, rules: Sequence[int]) -> tuple[dict[int, int], int]:
        """For ``rules`` in order: the requests each decides, and what the default decides."""
        remaining = self.all
        taken: dict[int, int] = {}
        for r in rules:
            taken[r] = self.matched[r] & remaining
            remaining &= ~self.matched[r]
        return taken, remaining

    def decisions(self, rules: Sequence[int]) -> dict[Decision, int]:
        """The requests that get each decision when only ``rules`` are kept (in order)."""
        taken, default = self.first(rules)
        out = {d: 0 for d in Decision}
        for r, mask in taken.items():
            out[self.policy.rules[r].decision] |= mask
        out[self.policy.default_decision] |= default
        return out

    def high_risk_requests(self) -> int:
        """The requests with a high-tier topic and a protected env."""
        u = self.universe
        protected = {e.name for e in self.policy.envs if e.protected}
        high = sum(1 << t for t, topic in enumerate(u.topics)
                   if effective_tier(self.policy, topic) is TierName.HIGH)
        cidrs = (1 << len(u.cidrs)) - 1
        plane = sum(cidrs << (e * len(u.cidrs)) for e, env in enumerate(u.envs)
                    if env in protected)
        return u.spread(high, plane)

    def expected(self) -> Expected:
        """Every finding, by brute force over the universe."""
        rules = self.policy.rules
        ids = [r.id for r in rules]
        order = list(range(len(rules)))
        taken, default = self.first(order)
        full = self.decisions(order)

        unmatchable = {ids[r] for r in order if not self.matched[r]}
        shadowed = {
            ids[r]: {ids[k] for k in order if taken[k] & self.matched[r]}
            for r in order if self.matched[r] and not taken[r]
        }
        redundant: dict[str, set[str | None]] = {}
        for r in order:
            if not taken[r]:
                continue
            without = [k for k in order if k != r]
            if self.decisions(without) != full:
                continue
            instead_taken, instead_default = self.first(without)
            instead: set[str | None] = {ids[k] for k, m in instead_taken.items() if m & taken[r]}
            if instead_default & taken[r]:
                instead.add(None)
            redundant[ids[r]] = instead
        # A later rule that never decides is a shadowed rule, whose finding already names
        # the earlier rules that decide differently; it is not also a conflict.
        conflicts = {
            (ids[i], ids[j]): not (self.matched[i] & ~self.matched[j])
            for i, j in itertools.combinations(order, 2)
            if rules[i].decision is not rules[j].decision and taken[i] & self.matched[j]
            and taken[j]
        }
        risky = self.high_risk_requests()
        high: set[str | None] = {ids[r] for r in order
                                 if rules[r].decision is Decision.ALLOW and taken[r] & risky}
        if self.policy.default_decision is Decision.ALLOW and default & risky:
            high.add(None)
        return Expected(unmatchable, shadowed, redundant, conflicts, high)

    def spot_check(self, samples: int = 12) -> None:
        """The bitsets agree with the reference ``first_match`` on a spread of requests."""
        taken, _ = self.first(range(len(self.policy.rules)))
        step = max(1, self.universe.size // samples)
        for index in range(0, self.universe.size, step):
            topic, env, network = self.universe.request(index)
            rule = first_match(self.policy, topic, env, network)
            expected = next((self.policy.rules[r] for r, m in taken.items() if m >> index & 1),
                            None)
            assert rule is expected, (topic, env, network)


# -- comparing with the analyzer ---------------------------------------------------


def findings(policy: ir.Policy) -> dict[str, list[Diagnostic]]:
    """The analyzer's rule and high-risk findings, by code name."""
    by_code: dict[str, list[Diagnostic]] = {name: [] for name in RULE_CODES}
    for d in analyze(policy, AnalysisOptions(now=NOW)).diagnostics:
        if d.code.name in by_code:
            by_code[d.code.name].append(d)
    return by_code


def _request(witness: dict[str, Any] | None) -> tuple[Request, Network | None]:
    assert witness is not None
    request = Request(witness["topic"], witness["env"], witness["cidr"])
    network = None if request.cidr is None else request_network(request.cidr)
    assert request.cidr is None or network is not None, request
    return request, network


def _index(policy: ir.Policy, rule_id: str) -> int:
    return next(i for i, r in enumerate(policy.rules) if r.id == rule_id)


def check_witnesses(policy: ir.Policy, found: dict[str, list[Diagnostic]]) -> None:
    """Every witness reproduces its finding under the reference semantics."""
    rules = policy.rules
    for d in found["unmatchable-rule"]:
        assert d.data["witness"] is None
    for d in found["shadowed-rule"]:
        request, network = _request(d.data["witness"])
        subject = _index(policy, d.data["rules"][0])
        assert evaluate(policy, request).reason == "rule"
        assert matches(rules[subject], request.topic, request.env, network), d.message
        taker = first_match(policy, request.topic, request.env, network)
        assert taker is not None and _index(policy, taker.id) < subject, d.message
        assert taker.id in d.data["rules"][1:], d.message
    for d in found["redundant-rule"]:
        request, _ = _request(d.data["witness"])
        subject = rules[_index(policy, d.data["rules"][0])]
        before = evaluate(policy, request)
        assert (before.reason, before.rule) == ("rule", subject.id), d.message
        pruned = policy.model_copy(update={"rules": tuple(r for r in rules if r is not subject)})
        after = evaluate(pruned, request)
        assert after.decision is before.decision, d.message
    for d in found["conflicting-rules"]:
        request, network = _request(d.data["witness"])
        later, earlier = (rules[_index(policy, i)] for i in d.data["rules"])
        assert earlier.decision is not later.decision
        assert matches(later, request.topic, request.env, network), d.message
        assert first_match(policy, request.topic, request.env, network) is earlier, d.message
    for d in found["unapproved-high-risk-allow"]:
        request, _ = _request(d.data["witness"])
        result = evaluate(policy, request)
        assert result.reason in ("rule", "default")
        assert result.decision is Decision.ALLOW, d.message
        assert [result.rule] == (d.data["rules"] or [None]), d.message
        assert any(e.name == request.env and e.protected for e in policy.envs), d.message
        assert effective_tier(policy, request.topic) is TierName.HIGH


def _default_named(redundant: Diagnostic) -> set[str | None]:
    """``{None}`` when the redundant-rule message says the default decides instead (the
    ``rules`` field holds rule ids only; the message names the default last, and when it
    names four and "N more", the default is one of those more than the ids)."""
    instead = redundant.message.split("without it, ", 1)[1].split(" give", 1)[0]
    more = re.search(r"and (\d+) more$", instead)
    if more is not None:
        deciders = instead.count("`") // 2 + int("the default decision" in instead)
        return {None} if deciders + int(more[1]) > len(redundant.data["rules"]) - 1 else set()
    return {None} if "the default decision" in instead else set()


def check_findings(policy: ir.Policy, expected: Expected,
                   found: dict[str, list[Diagnostic]]) -> None:
    """The analyzer's findings are exactly the oracle's."""
    def subjects(code: str) -> list[str]:
        return sorted(d.data["rules"][0] for d in found[code])

    assert subjects("unmatchable-rule") == sorted(expected.unmatchable)
    shadowed = {d.data["rules"][0]: set(d.data["rules"][1:]) for d in found["shadowed-rule"]}
    assert len(shadowed) == len(found["shadowed-rule"])
    assert shadowed == expected.shadowed
    redundant = {d.data["rules"][0]: set(d.data["rules"][1:]) | _default_named(d)
                 for d in found["redundant-rule"]}
    assert len(redundant) == len(found["redundant-rule"])
    assert redundant == expected.redundant, "rules and the default that decide instead"
    conflicts = {(d.data["rules"][1], d.data["rules"][0]): d.severity is Severity.INFO
                 for d in found["conflicting-rules"]}
    assert len(conflicts) == len(found["conflicting-rules"])
    assert conflicts == expected.conflicts, "severity: info iff the later rule generalizes"
    high = [d.data["rules"][0] if d.data["rules"] else None
            for d in found["unapproved-high-risk-allow"]]
    assert len(set(high)) == len(high)
    assert set(high) == expected.high_risk_allows


def witness_bound(policy: ir.Policy) -> int:
    """The longest topic-atom witness of the analyzer's automaton, in segments."""
    return max(len(atom.witness.split(".")) for atom in RegionSpace(policy).topics.atoms)


def check_policy(policy: ir.Policy, universe: Universe | None = None) -> Expected:
    """Run the analyzer and the oracle on ``policy`` and compare (the whole property)."""
    universe = universe or universe_of(policy)
    assert universe is not None, "the topic search keeps more than MAX_WORDS topics"
    assert witness_bound(policy) <= universe.bound
    oracle = Oracle(policy, universe)
    oracle.spot_check()
    expected = oracle.expected()
    found = findings(policy)
    check_findings(policy, expected, found)
    check_witnesses(policy, found)
    return expected


def check_example(policy: ir.Policy) -> bool:
    """``check_policy`` inside a property; False (and no check) when the universe's topic
    search keeps more than ``MAX_WORDS`` topics, which the properties count."""
    universe = universe_of(policy)
    if universe is None:
        event("universe too large: skipped")
        return False
    expected = check_policy(policy, universe)
    event(f"topic bound {universe.bound}")
    for name, present in (("unmatchable", expected.unmatchable), ("shadowed", expected.shadowed),
                          ("redundant", expected.redundant), ("conflict", expected.conflicts),
                          ("high-risk allow", expected.high_risk_allows)):
        if present:
            event(name)
    return True


# -- strategies --------------------------------------------------------------------

ORACLE = settings(max_examples=examples(1700), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
SHARED = settings(max_examples=examples(300), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
#: The share of examples a property may leave unchecked (universe too large).
MAX_SKIPPED = 0.01


# -- properties --------------------------------------------------------------------


def test_analysis_equals_brute_force_oracle() -> None:
    """Unmatchable, shadowed (with blockers), redundant (with what decides instead),
    conflicting (with severity) rules and high-risk allows equal the oracle's, and every
    witness reproduces its finding under the reference semantics."""
    outcomes: list[bool] = []

    @ORACLE
    @given(colliding_policies())
    def prop(policy: ir.Policy) -> None:
        outcomes.append(check_example(policy))

    prop()
    assert outcomes.count(False) <= MAX_SKIPPED * len(outcomes), outcomes.count(False)


def test_analysis_equals_oracle_on_shared_policies() -> None:
    """The same property over ``tests.strategies.policies()`` (more literals, any names)."""
    outcomes: list[bool] = []

    @SHARED
    @given(shared_policies(max_rules=5, max_conditions=3, max_envs=3, max_overrides=0))
    def prop(policy: ir.Policy) -> None:
        outcomes.append(check_example(policy))

    prop()
    assert outcomes.count(False) <= MAX_SKIPPED * len(outcomes), outcomes.count(False)


# -- the oracle itself, on hand-written policies -----------------------------------


def _policy(text_rules: Sequence[tuple[str, Sequence[ir.Condition], str]],
            **fields: Any) -> ir.Policy:
    rules = tuple(ir.Rule(id=i, conditions=tuple(c), decision=Decision(d))
                  for i, c, d in text_rules)
    return ir.Policy(name="p", rules=rules, **fields)


def _topic(*patterns: str, negated: bool = False) -> ir.TopicCondition:
    return ir.TopicCondition(negated=negated,
                             patterns=tuple(ir.TopicPattern.parse(p) for p in patterns))


def _cidr(*nets: str, negated: bool = False) -> ir.CidrCondition:
    return ir.CidrCondition(negated=negated, networks=tuple(_network(n) for n in nets))


def _env(*envs: str, negated: bool = False) -> ir.EnvCondition:
    return ir.EnvCondition(negated=negated, envs=envs)


def test_oracle_finds_each_kind_of_finding() -> None:
    """The oracle is not vacuous: a policy with findings of each kind gives exactly them."""
    policy = _policy(
        [
            ("r0", [_topic("a.**")], "deny"),
            ("r1", [_topic("a.b")], "allow"),  # shadowed by r0 (so no conflict with it)
            ("r2", [_topic("b"), _env("prod")], "deny"),
            ("r3", [_topic("b"), _topic("b", negated=True)], "deny"),  # unmatchable
            ("r4", [_topic("**.b"), _cidr("10.0.0.0/8", negated=True)], "allow"),
            ("r5", [_topic("b")], "deny"),  # decides `b` in dev from 10.0.0.0/8 only
            ("r6", [], "throttle"),
        ],
        envs=(ir.EnvDecl(name="prod", protected=True), ir.EnvDecl(name="dev")),
        tiers=(ir.Tier(name=TierName.HIGH, patterns=(ir.TopicPattern.parse("**.b"),),
                       fail_mode=FailMode.CLOSED),),
        default_tier=TierName.LOW,
    )
    expected = check_policy(policy)
    assert expected.unmatchable == {"r3"}
    assert expected.shadowed == {"r1": {"r0"}}
    assert expected.redundant == {}
    assert expected.conflicts == {
        ("r0", "r4"): False, ("r0", "r6"): True, ("r2", "r4"): False,
        ("r2", "r6"): True, ("r4", "r5"): False, ("r4", "r6"): True, ("r5", "r6"): True,
    }
    assert expected.high_risk_allows == {"r4"}


def test_redundant_rule_and_default_high_risk_allow() -> None:
    """A rule the next one repeats is redundant; a default allow of high topics is found."""
    policy = _policy(
        [("narrow", [_topic("a"), _env("prod")], "deny"), ("wide", [_topic("a")], "deny")],
        envs=(ir.EnvDecl(name="prod", protected=True), ir.EnvDecl(name="dev")),
        default_decision=Decision.ALLOW,
    )
    expected = check_policy(policy)
    assert expected.redundant == {"narrow": {"wide"}}
    assert expected.high_risk_allows == {None}


def test_a_network_split_in_halves_stays_reachable() -> None:
    """docs/design.md: with rules for both /9 halves, the /8 rule decides the request 10.0.0.0/8."""
    policy = _policy([
        ("low", [_cidr("10.0.0.0/9")], "allow"),
        ("high", [_cidr("10.128.0.0/9")], "allow"),
        ("all", [_cidr("10.0.0.0/8")], "deny"),
    ])
    expected = check_policy(policy)
    assert expected.shadowed == {}
    assert evaluate(policy, Request("t", "e", "10.0.0.0/8")).rule == "all"


def test_universe_grows_when_patterns_demand_long_topics() -> None:
    """The closure picks the bound: containing ``a.a`` and ``b.b`` but not ``a.b`` takes
    four segments (``b.b.a.a``), more than ``SHORT_LENGTH``, and the universe reaches it."""
    infix = [f"**.{s}.**" for s in ("a.a", "b.b", "a.b")]
    policy = _policy([(f"r{i}", [_topic(p)], "deny") for i, p in enumerate(infix)])
    universe = universe_of(policy)
    assert universe is not None and universe.bound >= 4 > SHORT_LENGTH
    assert witness_bound(policy) == 4
    assert "b.b.a.a" in universe.topics
    check_policy(policy, universe)


def test_conflict_with_a_universal_topic_condition_is_info() -> None:
    """``topic **`` matches every topic, so ``r1`` generalizes ``r0``: the conflict is
    info, as it is when ``r1`` has no condition at all."""
    for general in ([_topic("**")], []):
        policy = _policy([("r0", [_topic("a")], "deny"), ("r1", general, "allow")])
        (conflict,) = findings(policy)["conflicting-rules"]
        assert conflict.severity is Severity.INFO


def test_a_shadowed_rule_is_not_also_a_conflict() -> None:
    """A rule an earlier rule hides completely is reported once, as shadowed, naming the
    earlier rule that decides differently."""
    policy = _policy([("r0", [], "deny"), ("r1", [_topic("**")], "allow")])
    found = findings(policy)
    assert found["conflicting-rules"] == []
    (shadowed,) = found["shadowed-rule"]
    assert shadowed.data["rules"] == ["r1", "r0"]
    assert shadowed.data["decides_differently"] is True


def test_cidr_universe_holds_representatives() -> None:
    """None, every policy network and both /0s are in the cidr universe."""
    nets = [_network(n) for n in ("10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0")]
    universe = cidr_universe(nets)
    assert None in universe
    assert set(nets) <= set(universe)
    assert ipaddress.IPv6Network("::/0") in universe
    assert _network("::ffff:10.0.0.1") in universe
