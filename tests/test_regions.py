"""The region engine is exact: atoms and first-match cells agree with the reference.

Checked against ``dualgate.compiler.reference`` by brute force over finite sets of
requests:

* the topic automaton: on every topic of up to five segments over the literals of a
  random pattern set plus one or two fresh segments, a pattern is in the signature of
  the topic's atom exactly when the reference matcher says it matches; atom witnesses
  are valid topics of their own atom, shortest ones, and signatures are distinct;
* the cidr atoms: every request network (policy networks, hosts and subnets inside and
  around them, /0s, IPv6, IPv4-mapped IPv6, none) lies in exactly the atom ``atom_of``
  names, and a condition's atom bitset holds that atom exactly when ``holds`` holds;
* the cells: for every request of such a universe, exactly one cell of the class of
  its topic atom holds its (env atom, cidr atom), and the cell's rule is the reference's
  first match (None for the default); the cells of a class partition its plane.

Hand-written cases pin the corners: `**` in the middle, `*.**`, `**` repeated and
alone, witnesses that need a fresh segment, nested and covering networks, IPv4-mapped
IPv6.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.networks import Network, parse_network
from dualgate.compiler.reference import Request, evaluate, first_match, holds, pattern_matches
from dualgate.compiler.regions import CidrAtom, CidrAtoms, RegionSpace, build_topic_automaton
from dualgate.compiler.regions.bits import bit_indices
from dualgate.compiler.topics import ANY, SINGLE
from dualgate.runtime.vocabulary import Decision, FailMode, TierName, is_valid_topic
from tests.profiles import examples
from tests.strategies import networks

#: Literals of the drawn patterns; "x" is also the automaton's own "other" segment.
_LITERALS = ("a", "b", "x")
_FRESH = ("fresh", "other-2")

PROPERTY = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# -- helpers -----------------------------------------------------------------------


@cache
def words(alphabet: tuple[str, ...], length: int) -> tuple[str, ...]:
    """Every topic of 1..``length`` segments over ``alphabet``, shorter ones first."""
    found: list[str] = []
    for size in range(1, length + 1):
        found.extend(".".join(w) for w in itertools.product(alphabet, repeat=size))
    return tuple(found)


@lru_cache(maxsize=20_000)
def matched_words(segments: tuple[str, ...], alphabet: tuple[str, ...],
                  length: int) -> frozenset[str]:
    """The words of ``words(alphabet, length)`` the reference says ``segments`` matches."""
    pattern = ir.TopicPattern(segments=segments)
    return frozenset(w for w in words(alphabet, length) if pattern_matches(pattern, w))


def literals_of(patterns: Iterable[tuple[str, ...]]) -> list[str]:
    return sorted({s for p in patterns for s in p if s not in (SINGLE, ANY)})


def pattern(text: str) -> ir.TopicPattern:
    return ir.TopicPattern.parse(text)


def request_networks(policy_networks: Iterable[Network],
                     extra: Iterable[Network] = ()) -> list[Network | None]:
    """None, the networks, a host and a subnet inside each, its parent and sibling, the
    /0s, fixed hosts of both families (one IPv4-mapped) and ``extra``."""
    found: set[Network] = {parse_network(t) for t in (
        "0.0.0.0/0", "::/0", "192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:0:0/96")}
    found.update(extra)
    for network in policy_networks:
        found.add(network)
        found.add(parse_network(str(network.broadcast_address)))
        if network.prefixlen < network.max_prefixlen:
            found.add(next(network.subnets()))
        if network.prefixlen > 0:
            parent = network.supernet()
            found.add(parent)
            found.update(parent.subnets())
    return [None, *sorted(found, key=lambda n: (n.version, int(n.network_address),
                                                n.prefixlen))]


def in_atom(atom: CidrAtom, request: Network | None, policy_networks: Sequence[Network]) -> bool:
    """Whether ``request`` belongs to ``atom`` by docs/design.md's definition of cidr atoms."""
    if request is None or atom.absent:
        return request is None and atom.absent
    if atom.family != request.version:
        return False
    containing = [n for n in policy_networks
                  if n.version == request.version and request.subnet_of(n)]  # type: ignore[arg-type]
    deepest = max(containing, key=lambda n: n.prefixlen, default=None)
    return atom.network == deepest


def policy_networks(policy: ir.Policy) -> list[Network]:
    return [n for r in policy.rules for c in r.conditions
            if isinstance(c, ir.CidrCondition) for n in c.networks]


def effective_tier(policy: ir.Policy, topic: str) -> TierName:
    tiers = [t.name for t in policy.tiers if any(pattern_matches(p, topic) for p in t.patterns)]
    return max(tiers, key=lambda t: t.risk) if tiers else policy.default_tier


# -- strategies --------------------------------------------------------------------

_SEGMENT = st.sampled_from((*_LITERALS, SINGLE, ANY))
_SEGMENTS = st.lists(_SEGMENT, min_size=1, max_size=4).map(tuple)
_NETWORK_POOL = tuple(parse_network(t) for t in (
    "10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9", "10.0.0.0/16", "10.0.0.1/32", "0.0.0.0/0",
    "192.168.0.0/16", "::ffff:10.0.0.0/104", "::/0", "2001:db8::/32", "2001:db8::/33",
    "2001:db8:8000::/33", "2001:db8::1/128",
))
_NETWORK = st.one_of(st.sampled_from(_NETWORK_POOL), networks())


@st.composite
def small_policies(draw: st.DrawFn) -> ir.Policy:
    """Policies over two literals, wildcards, pooled networks, 0-3 envs and tiers."""
    envs = tuple(ir.EnvDecl(name=n, protected=draw(st.booleans()))
                 for n in draw(st.lists(st.sampled_from(("prod", "dev", "ci")), unique=True,
                                        max_size=3)))
    names = tuple(e.name for e in envs)
    topic_patterns = st.lists(
        st.lists(st.sampled_from(("a", "b", SINGLE, ANY)), min_size=1, max_size=3).map(
            lambda s: ir.TopicPattern(segments=tuple(s))), min_size=1, max_size=2).map(tuple)
    rules = []
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        conditions: list[ir.Condition] = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            kind = draw(st.sampled_from(("topic", "cidr", "env") if names else ("topic", "cidr")))
            negated = draw(st.booleans())
            if kind == "topic":
                conditions.append(ir.TopicCondition(negated=negated,
                                                    patterns=draw(topic_patterns)))
            elif kind == "cidr":
                conditions.append(ir.CidrCondition(
                    negated=negated,
                    networks=tuple(draw(st.lists(_NETWORK, min_size=1, max_size=2)))))
            else:
                conditions.append(ir.EnvCondition(negated=negated, envs=tuple(
                    draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))))
        rules.append(ir.Rule(id=f"r{n}", conditions=tuple(conditions),
                             decision=draw(st.sampled_from(Decision))))
    tiers = tuple(ir.Tier(name=name, patterns=draw(topic_patterns), fail_mode=FailMode.CLOSED)
                  for name in draw(st.lists(st.sampled_from(TierName), unique=True, max_size=3)))
    return ir.Policy(name="p", envs=envs, rules=tuple(rules), tiers=tiers,
                     default_decision=draw(st.sampled_from(Decision)),
                     default_tier=draw(st.sampled_from(TierName)))


# -- topic automaton ---------------------------------------------------------------


def check_automaton(patterns: Sequence[tuple[str, ...]], fresh: Sequence[str],
                    length: int = 5) -> None:
    """The automaton of ``patterns`` is exact on every topic of up to ``length`` segments
    over their literals plus ``fresh``; its atoms have valid, shortest witnesses of their
    own atom and distinct signatures."""
    automaton = build_topic_automaton(list(patterns))
    alphabet = (*literals_of(patterns), *fresh)
    matched = [matched_words(p, alphabet, length) for p in patterns]
    shortest: dict[frozenset[int], int] = {}
    for word in words(alphabet, length):
        atom = automaton.atom_of(word)
        assert atom >= 0, word
        signature = frozenset(i for i, m in enumerate(matched) if word in m)
        assert automaton.atoms[atom].signature == signature, word
        shortest.setdefault(signature, word.count(".") + 1)
    signatures = [a.signature for a in automaton.atoms]
    assert len(set(signatures)) == len(signatures)
    for index, atom in enumerate(automaton.atoms):
        assert atom.witness and is_valid_topic(atom.witness)
        assert automaton.atom_of(atom.witness) == index
        assert atom.signature == frozenset(
            i for i, p in enumerate(patterns)
            if pattern_matches(ir.TopicPattern(segments=p), atom.witness))
        size = atom.witness.count(".") + 1
        # Shortest: no topic of the universe (which holds every shape up to ``length``
        # segments, non-literal segments being interchangeable) reaches it sooner.
        assert shortest.get(atom.signature, length + 1) == min(size, length + 1)
    assert automaton.other_segment not in literals_of(patterns)


@PROPERTY
@given(st.lists(_SEGMENTS, min_size=1, max_size=5, unique=True),
       st.integers(min_value=1, max_value=2))
def test_topic_automaton_is_exact(patterns: list[tuple[str, ...]], fresh_count: int) -> None:
    """Signatures equal the reference's matches on all topics up to five segments."""
    fresh = _FRESH[:fresh_count] if len(literals_of(patterns)) < 3 else _FRESH[:1]
    check_automaton(patterns, fresh)


def test_double_star_in_the_middle() -> None:
    """``a.**.b`` matches `a.b`, `a.x.b`, `a.x.y.b`, never `a`, `b` or `a.b.a`."""
    automaton = build_topic_automaton([("a", ANY, "b")])
    inside = {t for t in ("a.b", "a.x.b", "a.fresh.other.b", "a.a.b.b", "a.b.b")
              if automaton.atoms[automaton.atom_of(t)].signature == {0}}
    assert inside == {"a.b", "a.x.b", "a.fresh.other.b", "a.a.b.b", "a.b.b"}
    for topic in ("a", "b", "a.b.a", "b.a.b", "x.a.b"):
        assert automaton.atoms[automaton.atom_of(topic)].signature == frozenset()
    assert {a.witness for a in automaton.atoms if a.signature == {0}} == {"a.b"}
    check_automaton([("a", ANY, "b")], _FRESH)


def test_star_then_double_star_matches_every_topic() -> None:
    """``*.**`` and ``**`` alone match every topic: a single atom, matched by both."""
    for patterns in ([(SINGLE, ANY)], [(ANY,)], [(SINGLE, ANY), (ANY,)]):
        automaton = build_topic_automaton(patterns)
        assert len(automaton.atoms) == 1
        assert automaton.atoms[0].signature == frozenset(range(len(patterns)))
        check_automaton(patterns, _FRESH)


def test_several_double_stars_in_a_row() -> None:
    """``**.**.a`` is ``**.a`` and ``a.**.**.**.b`` is ``a.**.b``: same atoms, same topics."""
    patterns = [(ANY, ANY, "a"), (ANY, "a"), ("a", ANY, ANY, ANY, "b"), ("a", ANY, "b")]
    automaton = build_topic_automaton(patterns)
    for atom in automaton.atoms:
        assert (0 in atom.signature) == (1 in atom.signature)
        assert (2 in atom.signature) == (3 in atom.signature)
    check_automaton(patterns, _FRESH)


def test_witnesses_need_a_fresh_segment() -> None:
    """Topics that avoid every literal are witnessed with a segment no pattern names."""
    automaton = build_topic_automaton([("a",), (SINGLE,)])
    (only_star,) = [a for a in automaton.atoms if a.signature == {1}]
    assert only_star.witness == automaton.other_segment != "a"
    # With `x` a literal, the fresh segment must be another one.
    automaton = build_topic_automaton([("x",), (SINGLE,)])
    (only_star,) = [a for a in automaton.atoms if a.signature == {1}]
    assert only_star.witness not in ("x", "") and is_valid_topic(only_star.witness)
    # `a.*` without `a.a` needs `a.<fresh>`.
    automaton = build_topic_automaton([("a", SINGLE), ("a", "a")])
    (star_only,) = [a for a in automaton.atoms if a.signature == {0}]
    assert star_only.witness == f"a.{automaton.other_segment}"
    for patterns in ([("a",), (SINGLE,)], [("x",), (SINGLE,)], [("a", SINGLE), ("a", "a")]):
        check_automaton(patterns, _FRESH)


# -- cidr atoms --------------------------------------------------------------------


def check_cidr_atoms(nets: Sequence[Network], conditions: Iterable[tuple[tuple[Network, ...],
                                                                           bool]],
                     extra: Iterable[Network] = ()) -> CidrAtoms:
    """Every request network lies in exactly the atom ``atom_of`` names, atom witnesses lie
    in their own atom, and condition bitsets agree with the reference's ``holds``."""
    atoms = CidrAtoms(nets)
    distinct = sorted(set(nets), key=str)
    requests = request_networks(distinct, extra)
    for index, atom in enumerate(atoms.atoms):
        witness = None if atom.witness is None else parse_network(atom.witness)
        assert atom.absent == (witness is None)
        assert in_atom(atom, witness, distinct), atom
        assert atoms.atom_of(witness) == index
        if atom.network is not None:
            assert witness == atom.network
    for family, zero in ((4, "0.0.0.0/0"), (6, "::/0")):
        uncovered = [a for a in atoms.atoms if a.family == family and a.network is None]
        assert len(uncovered) == (0 if parse_network(zero) in distinct else 1)
    assert {a.network for a in atoms.atoms if a.network is not None} == set(distinct)
    for request in requests:
        owners = [i for i, atom in enumerate(atoms.atoms) if in_atom(atom, request, distinct)]
        assert owners == [atoms.atom_of(request)], request
    for condition_networks, negated in conditions:
        condition = ir.CidrCondition(networks=condition_networks, negated=negated)
        bits = atoms.condition_bits(condition_networks, negated)
        for request in requests:
            inside = bool(bits >> atoms.atom_of(request) & 1)
            assert inside == holds(condition, "t", "e", request), (condition, request)
    return atoms


@st.composite
def network_sets(draw: st.DrawFn) -> tuple[list[Network], list[tuple[tuple[Network, ...],
                                                                        bool]]]:
    """Policy networks and conditions over them (subsets, negated or not)."""
    nets = draw(st.lists(_NETWORK, max_size=6))
    conditions = [((n,), negated) for n in set(nets) for negated in (False, True)]
    if nets:
        subsets = st.lists(st.sampled_from(nets), min_size=1, max_size=3).map(tuple)
        conditions += draw(st.lists(st.tuples(subsets, st.booleans()), max_size=4))
    return nets, conditions


@PROPERTY
@given(network_sets(), st.lists(networks(), max_size=6))
def test_cidr_atoms_are_exact(
    drawn: tuple[list[Network], list[tuple[tuple[Network, ...], bool]]],
    extra: list[Network],
) -> None:
    """Atoms partition request networks by deepest containing policy network."""
    nets, conditions = drawn
    check_cidr_atoms(nets, conditions, extra)


def test_nested_networks_keep_the_outer_atom() -> None:
    """With both /9 halves, the /8 atom is not empty: the request 10.0.0.0/8 is in it."""
    nets = [parse_network(t) for t in ("10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9")]
    atoms = check_cidr_atoms(nets, [((n,), neg) for n in nets for neg in (False, True)]
                             + [((nets[1], nets[2]), False)])
    outer = atoms.index_of(nets[0])
    assert atoms.atoms[outer].witness == "10.0.0.0/8"
    assert atoms.atom_of(nets[0]) == outer
    assert atoms.atom_of(parse_network("10.0.0.1")) == atoms.index_of(nets[1])
    assert atoms.atom_of(parse_network("10.200.0.0/16")) == atoms.index_of(nets[2])
    halves = atoms.condition_bits(nets[1:], negated=False)
    assert not halves >> outer & 1
    assert bit_indices(atoms.condition_bits(nets[:1], negated=False)) == sorted(
        atoms.index_of(n) for n in nets)


def test_default_route_leaves_no_uncovered_ipv4_atom() -> None:
    """With 0.0.0.0/0 every IPv4 request is covered; IPv6 keeps its uncovered atom."""
    nets = [parse_network("0.0.0.0/0"), parse_network("10.0.0.0/8")]
    atoms = check_cidr_atoms(nets, [((nets[0],), False), ((nets[0],), True)])
    assert not [a for a in atoms.atoms if a.family == 4 and a.network is None]
    assert atoms.atom_of(parse_network("192.0.2.1")) == atoms.index_of(nets[0])
    (v6,) = [a for a in atoms.atoms if a.family == 6]
    assert v6.network is None and v6.witness is not None
    everything_v4 = atoms.condition_bits(nets[:1], negated=False)
    assert not everything_v4 & 1  # the absent cidr is not in 0.0.0.0/0 ...
    assert atoms.condition_bits(nets[:1], negated=True) & 1  # ... so `not in` holds for it


def test_ipv4_mapped_ipv6_is_ipv4() -> None:
    """``::ffff:10.0.0.0/104`` is 10.0.0.0/8, and a mapped request lands in its atom."""
    mapped = parse_network("::ffff:10.0.0.0/104")
    assert mapped == ipaddress.IPv4Network("10.0.0.0/8")
    atoms = check_cidr_atoms([mapped], [((mapped,), False), ((mapped,), True)])
    request = parse_network("::ffff:10.1.2.3")
    assert request.version == 4
    assert atoms.atom_of(request) == atoms.index_of(mapped)
    assert not [a for a in atoms.atoms if a.family == 6 and a.network is not None]
    policy = ir.Policy(name="p", rules=(ir.Rule(
        id="mapped", conditions=(ir.CidrCondition(networks=(mapped,)),),
        decision=Decision.ALLOW),))
    assert evaluate(policy, Request("t", "e", "::ffff:10.1.2.3")).rule == "mapped"
    assert evaluate(policy, Request("t", "e", "::ffff:11.1.2.3")).rule is None


# -- cells -------------------------------------------------------------------------


def check_cells(policy: ir.Policy, length: int = 4) -> None:
    """Every request of the universe lies in exactly one cell of its topic atom's class,
    and that cell's rule is the reference's first match; cells partition each plane."""
    space = RegionSpace(policy)
    patterns = [p.segments for r in policy.rules for c in r.conditions
                if isinstance(c, ir.TopicCondition) for p in c.patterns]
    patterns += [p.segments for t in policy.tiers for p in t.patterns]
    alphabet = (*literals_of(patterns), *_FRESH)
    topics = words(alphabet, length)
    envs = policy.env_names or ("any-env",)
    nets = request_networks(policy_networks(policy))

    class_of: dict[int, int] = {}
    cell_rule: list[dict[tuple[int, int], int | None]] = []
    plane = [(e, c) for e in range(len(space.envs.names)) for c in range(len(space.cidrs.atoms))]
    for index, topic_class in enumerate(space.classes):
        for atom in topic_class.atoms:
            assert atom not in class_of, "a topic atom in two classes"
            class_of[atom] = index
        owners: dict[tuple[int, int], list[int | None]] = {}
        for cell in topic_class.cells:
            assert cell.rule is None or cell.rule in topic_class.candidates
            for e in bit_indices(cell.envs):
                for c in bit_indices(cell.cidrs):
                    owners.setdefault((e, c), []).append(cell.rule)
        assert sorted(owners) == plane, "cells must cover the plane"
        assert all(len(rules) == 1 for rules in owners.values()), "cells must be disjoint"
        cell_rule.append({key: rules[0] for key, rules in owners.items()})
    assert sorted(class_of) == list(range(len(space.topics.atoms)))

    rules = policy.rules
    # Reference truth per dimension; a rule matches when all its conditions hold.
    topic_ok = {t: [all(holds(c, t, "e", None) for c in r.conditions
                        if isinstance(c, ir.TopicCondition)) for r in rules] for t in topics}
    env_ok = {e: [all(holds(c, "t", e, None) for c in r.conditions
                      if isinstance(c, ir.EnvCondition)) for r in rules] for e in envs}
    net_ok = [[all(holds(c, "t", "e", n) for c in r.conditions
                   if isinstance(c, ir.CidrCondition)) for r in rules] for n in nets]
    env_atom = {e: space.envs.atom_of(e) for e in envs}
    net_atom = [space.cidrs.atom_of(n) for n in nets]
    for topic in topics:
        atom = space.topics.atom_of(topic)
        topic_class = space.classes[class_of[atom]]
        assert topic_class.tier is effective_tier(policy, topic), topic
        cells = cell_rule[class_of[atom]]
        for env in envs:
            e_atom = env_atom[env]
            assert e_atom is not None
            for n, network in enumerate(nets):
                expected = next((i for i in range(len(rules)) if topic_ok[topic][i]
                                 and env_ok[env][i] and net_ok[n][i]), None)
                assert cells[(e_atom, net_atom[n])] == expected, (topic, env, network)
    # The per-dimension shortcut is the reference itself on a spread of requests.
    for k, (topic, env, network) in enumerate(itertools.product(topics, envs, nets)):
        if k % 97 == 0:
            rule = first_match(policy, topic, env, network)
            atom = space.topics.atom_of(topic)
            decided = cell_rule[class_of[atom]][(env_atom[env], space.cidrs.atom_of(network))]
            assert (None if rule is None else rules.index(rule)) == decided


@PROPERTY
@given(small_policies())
def test_cells_decide_like_the_reference(policy: ir.Policy) -> None:
    """The cell holding a request names the rule that first-matches it (None: default)."""
    check_cells(policy)


def test_cells_on_a_hand_written_policy() -> None:
    """Overlapping topic, env and cidr rules, with nesting networks and negations."""
    policy = ir.Policy(
        name="p",
        envs=(ir.EnvDecl(name="prod", protected=True), ir.EnvDecl(name="dev")),
        rules=(
            ir.Rule(id="r0", conditions=(
                ir.TopicCondition(patterns=(pattern("a.**.b"),)),
                ir.CidrCondition(networks=(parse_network("10.0.0.0/9"),
                                           parse_network("10.128.0.0/9")))),
                decision=Decision.DENY),
            ir.Rule(id="r1", conditions=(
                ir.TopicCondition(patterns=(pattern("*.**"),)),
                ir.CidrCondition(networks=(parse_network("10.0.0.0/8"),))),
                decision=Decision.ALLOW),
            ir.Rule(id="r2", conditions=(
                ir.EnvCondition(envs=("prod",), negated=True),
                ir.TopicCondition(patterns=(pattern("**.**.a"),), negated=True)),
                decision=Decision.THROTTLE),
        ),
        tiers=(ir.Tier(name=TierName.HIGH, patterns=(pattern("a.**"),),
                       fail_mode=FailMode.CLOSED),),
        default_tier=TierName.LOW,
    )
    check_cells(policy)
    # The /8 rule still decides the request 10.0.0.0/8 on topic `a.b`.
    request = Request("a.b", "prod", "10.0.0.0/8")
    assert evaluate(policy, request).rule == "r1"
