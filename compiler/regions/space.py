"""The region space of a policy: rules as boxes of atoms, and the first-match cells.

Every rule matches a box, one set of atoms per dimension (topic x env x cidr). Topic
atoms that are candidates for the same rules (and fall in the same risk tier) form a
**topic class**; within a class the first-match decision over env x cidr is computed by
splitting boxes rule by rule, so the full product of atoms is never enumerated. The
result is, per class, a list of disjoint **cells** (env bitset x cidr bitset) that cover
the class's env x cidr plane, each decided by one rule or by the default.

Guarantee: for every well-formed request with a declared env, the rule that decides it
under docs/design.md's first-match semantics is the ``rule`` of the cell containing its
(topic atom, env atom, cidr atom); ``None`` means the default decision applies.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from dualgate.compiler.ir import CidrCondition, EnvCondition, Policy, TopicCondition
from dualgate.compiler.networks import Network
from dualgate.compiler.reference import Request
from dualgate.compiler.regions.bits import lowest_bit
from dualgate.compiler.regions.cidr_atoms import CidrAtoms
from dualgate.compiler.regions.env_atoms import EnvAtoms
from dualgate.compiler.regions.topic_automaton import TopicAutomaton, build_topic_automaton
from dualgate.runtime.vocabulary import TierName

#: Called as ``progress(phase, done, total)`` while regions are computed and swept.
Progress = Callable[[str, int, int], None]

#: Report progress every this many topic classes.
PROGRESS_STEP = 512


@dataclass(frozen=True)
class RuleBox:
    """The atoms a rule matches, per dimension.

    ``topics`` is None when the rule has no topic condition (every topic atom).
    A box with an empty dimension is unmatchable; ``empty_dimension`` names it.
    """

    rule: int
    topics: frozenset[int] | None
    envs: int
    cidrs: int

    @property
    def empty_dimension(self) -> str | None:
        if self.topics is not None and not self.topics:
            return "topic"
        if not self.envs:
            return "env"
        if not self.cidrs:
            return "cidr"
        return None

    @property
    def matchable(self) -> bool:
        return self.empty_dimension is None


@dataclass(frozen=True)
class Cell:
    """A piece of one topic class's env x cidr plane, decided by one rule (or the default)."""

    envs: int
    cidrs: int
    rule: int | None


@dataclass(frozen=True)
class TopicClass:
    """Topic atoms with the same candidate rules and the same risk tier, and their cells."""

    atoms: tuple[int, ...]
    candidates: tuple[int, ...]
    tier: TierName
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Dimensions:
    """The atoms of every dimension for one or more policies.

    Built over several policies (the diff's joint space), every condition and tier
    pattern of each of them is a union of these atoms, so their spaces can be compared
    atom by atom. Pattern ids number the rules' patterns, then the tiers', policy by policy.
    """

    pattern_ids: Mapping[tuple[str, ...], int]
    topics: TopicAutomaton
    envs: EnvAtoms
    cidrs: CidrAtoms

    @classmethod
    def of(cls, policies: Sequence[Policy], envs: EnvAtoms) -> Dimensions:
        """The atoms of ``policies``' patterns and networks, with the env atoms ``envs``
        (which must name every env the policies' conditions name)."""
        pattern_ids: dict[tuple[str, ...], int] = {}
        for policy in policies:
            for rule in policy.rules:
                for condition in rule.conditions:
                    if isinstance(condition, TopicCondition):
                        for pattern in condition.patterns:
                            pattern_ids.setdefault(pattern.segments, len(pattern_ids))
            for tier in policy.tiers:
                for pattern in tier.patterns:
                    pattern_ids.setdefault(pattern.segments, len(pattern_ids))
        networks = [n for policy in policies for n in _networks(policy)]
        return cls(pattern_ids, build_topic_automaton(list(pattern_ids)), envs,
                   CidrAtoms(networks))


class RegionSpace:
    """The atoms, rule boxes and first-match cells of one policy (see module docstring)."""

    def __init__(
        self, policy: Policy, progress: Progress | None = None,
        *, dimensions: Dimensions | None = None, cells: bool = True,
    ) -> None:
        """The space of ``policy`` over its own atoms, or over shared ``dimensions``
        (which must hold every pattern, env and network of ``policy``).

        With ``cells`` False the classes carry no cells: for a caller that needs only
        some of them, and computes those with ``first_match(topic_class.candidates)``.
        """
        self.policy = policy
        shared = dimensions or Dimensions.of((policy,), EnvAtoms(policy.envs))
        self.envs = shared.envs
        self.cidrs = shared.cidrs
        self._pattern_ids = shared.pattern_ids
        self._tier_patterns = frozenset(
            self._pattern_ids[pattern.segments]
            for tier in policy.tiers for pattern in tier.patterns
        )
        self.topics: TopicAutomaton = shared.topics
        atom_count = len(self.topics.atoms)
        self._atoms_of_pattern: list[list[int]] = [[] for _ in self._pattern_ids]
        for atom, topic_atom in enumerate(self.topics.atoms):
            for pattern_id in topic_atom.signature:
                self._atoms_of_pattern[pattern_id].append(atom)
        self.all_topics = frozenset(range(atom_count))
        self.atom_tiers: tuple[TierName, ...] = self._classify()
        self.boxes: tuple[RuleBox, ...] = tuple(
            self._box(index) for index in range(len(policy.rules))
        )
        self.classes: tuple[TopicClass, ...] = tuple(self._build_classes(progress, cells))

    # -- atoms -------------------------------------------------------------------

    def pattern_segments(self) -> list[tuple[str, ...]]:
        """Every distinct topic pattern of the policy's rules and tiers (of every policy
        sharing the dimensions), as segments."""
        return list(self._pattern_ids)

    def pattern_atoms(self, segments: tuple[str, ...]) -> list[int]:
        """The topic atoms a pattern of the policy matches."""
        return self._atoms_of_pattern[self._pattern_ids[segments]]

    def _classify(self) -> tuple[TierName, ...]:
        """The effective tier of each topic atom: the riskiest matching tier, or the default."""
        tier_of_pattern: dict[int, TierName] = {}
        for tier in self.policy.tiers:
            for pattern in tier.patterns:
                pid = self._pattern_ids[pattern.segments]
                known = tier_of_pattern.get(pid)
                if known is None or tier.name.risk > known.risk:
                    tier_of_pattern[pid] = tier.name
        tiers = []
        for atom in self.topics.atoms:
            matched = [tier_of_pattern[p] for p in atom.signature if p in tier_of_pattern]
            tiers.append(max(matched, key=lambda t: t.risk) if matched
                         else self.policy.default_tier)
        return tuple(tiers)

    def classified(self, atom: int) -> bool:
        """True when some tier pattern matches the topics of ``atom``."""
        return not self._tier_patterns.isdisjoint(self.topics.atoms[atom].signature)

    # -- boxes -------------------------------------------------------------------

    def box_topics(self, rule: int) -> frozenset[int]:
        """The topic atoms rule ``rule`` matches (every atom when it has no topic condition)."""
        topics = self.boxes[rule].topics
        return self.all_topics if topics is None else topics

    def covers(self, outer: int, inner: int) -> bool:
        """True when rule ``outer`` matches every request rule ``inner`` matches."""
        a, b = self.boxes[outer], self.boxes[inner]
        return (b.envs & ~a.envs == 0 and b.cidrs & ~a.cidrs == 0
                and (a.topics is None or self.box_topics(inner) <= a.topics))

    def condition_topics(self, condition: TopicCondition) -> frozenset[int]:
        """The topic atoms on which a topic condition holds."""
        matched: set[int] = set()
        for pattern in condition.patterns:
            matched.update(self.pattern_atoms(pattern.segments))
        return self.all_topics - matched if condition.negated else frozenset(matched)

    def _box(self, index: int) -> RuleBox:
        envs, cidrs = self.envs.all_bits, self.cidrs.all_bits
        # One pass over the conditions; a positive condition of one pattern (most of
        # them) is that pattern's atoms, with no set built in between.
        positive: list[frozenset[int]] = []
        excluded: set[int] = set()
        has_topics = False
        for condition in self.policy.rules[index].conditions:
            if isinstance(condition, TopicCondition):
                has_topics = True
                if condition.negated:
                    # Negated conditions are subtracted from the positive ones, so that a
                    # rule costs what it matches rather than the number of atoms in the policy.
                    for pattern in condition.patterns:
                        excluded.update(self.pattern_atoms(pattern.segments))
                elif len(condition.patterns) == 1:
                    positive.append(frozenset(self.pattern_atoms(condition.patterns[0].segments)))
                else:
                    positive.append(self.condition_topics(condition))
            elif isinstance(condition, EnvCondition):
                envs &= self.envs.condition_bits(condition.envs, condition.negated)
            else:
                assert isinstance(condition, CidrCondition)
                cidrs &= self.cidrs.condition_bits(condition.networks, condition.negated)
        topics: frozenset[int] | None = None
        if has_topics:
            if not positive:
                matched = self.all_topics
            else:
                matched = positive[0] if len(positive) == 1 else frozenset.intersection(*positive)
            topics = matched - excluded if excluded else matched
        return RuleBox(index, topics, envs, cidrs)

    # -- classes and cells -------------------------------------------------------

    def _build_classes(self, progress: Progress | None, cells: bool) -> Iterator[TopicClass]:
        explicit: list[list[int]] = [[] for _ in self.topics.atoms]
        everywhere: list[int] = []
        for box in self.boxes:
            if not box.matchable:
                continue
            if box.topics is None:
                everywhere.append(box.rule)
            else:
                for atom in box.topics:
                    explicit[atom].append(box.rule)
        groups: dict[tuple[tuple[int, ...], TierName], list[int]] = {}
        for atom, atom_rules in enumerate(explicit):
            groups.setdefault((tuple(atom_rules), self.atom_tiers[atom]), []).append(atom)
        total = len(groups)
        for done, ((rules, tier), atoms) in enumerate(groups.items()):
            if progress is not None and done % PROGRESS_STEP == 0:
                progress("regions", done, total)
            candidates = tuple(heapq.merge(rules, everywhere))
            yield TopicClass(tuple(atoms), candidates, tier,
                             tuple(self.first_match(candidates)) if cells else ())
        if progress is not None:
            progress("regions", total, total)

    def first_match(
        self, candidates: tuple[int, ...], envs: int | None = None, cidrs: int | None = None
    ) -> list[Cell]:
        """Split the plane ``envs`` x ``cidrs`` (default: all) among ``candidates`` in order.

        Each candidate takes the part of what is left that its box covers; what no
        candidate takes is decided by the default (``rule`` None).
        """
        remaining = [(self.envs.all_bits if envs is None else envs,
                      self.cidrs.all_bits if cidrs is None else cidrs)]
        cells: list[Cell] = []
        boxes = self.boxes
        for rule in candidates:
            box = boxes[rule]
            rule_envs, rule_cidrs = box.envs, box.cidrs
            # The cidr bits are as wide as the policy has networks: each operation on them
            # costs, so the complement is taken once per rule and each piece's once.
            other_envs, other_cidrs = ~rule_envs, ~rule_cidrs
            left: dict[int, int] = {}  # cidr bits -> env bits, merging pieces as they split
            for piece_envs, piece_cidrs in remaining:
                hit_envs = piece_envs & rule_envs
                hit_cidrs = piece_cidrs & rule_cidrs if hit_envs else 0
                if hit_cidrs:
                    cells.append(Cell(hit_envs, hit_cidrs, rule))
                    missed_envs = piece_envs & other_envs
                    if missed_envs:
                        left[piece_cidrs] = left.get(piece_cidrs, 0) | missed_envs
                    rest = piece_cidrs & other_cidrs
                    if rest:
                        left[rest] = left.get(rest, 0) | hit_envs
                else:
                    left[piece_cidrs] = left.get(piece_cidrs, 0) | piece_envs
            remaining = [(e, c) for c, e in left.items()]
            if not remaining:
                break
        cells.extend(Cell(e, c, None) for e, c in remaining)
        return cells

    # -- witnesses ---------------------------------------------------------------

    def request(self, topic_atom: int, envs: int, cidrs: int) -> Request:
        """A concrete request in the given topic atom and the lowest env and cidr atoms."""
        return Request(
            topic=self.topics.atoms[topic_atom].witness,
            env=self.envs.witness(envs),
            cidr=self.cidrs.atoms[lowest_bit(cidrs)].witness,
        )


def _networks(policy: Policy) -> Iterator[Network]:
    for rule in policy.rules:
        for condition in rule.conditions:
            if isinstance(condition, CidrCondition):
                yield from condition.networks
