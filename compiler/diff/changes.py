"""The change grouping: one sweep over both policies' first-match cells on the joint atoms.

Topic atoms are grouped by the pair (base topic class, head topic class): within a pair
both sides' cells are fixed, so each base cell is met with each head cell once, and a
non-empty meeting with different decisions adds its requests to the change keyed by
(env, base rule-or-reason, head rule-or-reason, base tier, head tier). Tiers depend on
the topic alone, so the pair also decides the tier change. The product of atoms is never
enumerated: the work is the cells of the pairs of classes that occur.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from dualgate.compiler.diff.joint import JointSpace, Side
from dualgate.compiler.diff.model import Change, Direction, Outcome, PolicyDiff
from dualgate.compiler.ir import Policy, Rule
from dualgate.compiler.networks import Network
from dualgate.compiler.reference import Request, fail_mode_of
from dualgate.compiler.regions.bits import bit_indices, lowest_bit
from dualgate.compiler.regions.cidr_atoms import CidrAtoms
from dualgate.compiler.regions.space import TopicClass
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

#: Deciders besides rule indices: the default decision, and an env the policy does not declare.
DEFAULT, UNKNOWN_ENV = -1, -2

#: Topic witnesses a description names before "and N more".
_NAMED_TOPICS = 3
_NAMED_NETWORKS = 4

#: One piece of a topic class's env x cidr plane and what decides it there.
Piece = tuple[int, int, int]

DecisionKey = tuple[int, int, int, TierName, TierName]
TierKey = tuple[TierName, FailMode, TierName, FailMode]


@dataclass
class _Group:
    """The requests of one change found so far: a witness and what the description needs."""

    atom: int
    env: int
    cidrs: int
    topic_atoms: set[int] = field(default_factory=set)
    cidr_union: int = 0


def diff_policies(base: Policy, head: Policy, *, now: datetime) -> PolicyDiff:
    """Every change from ``base`` to ``head`` (docs/design.md, "Changes"), fail modes at ``now``.

    Exact: computed over the joint atoms of both policies, each change with a witness
    the reference interpreter confirms.
    """
    joint = JointSpace(base, head)
    sweep = _Sweep(joint, now)
    return PolicyDiff(tuple(sorted(sweep.changes(), key=sweep.order)))


class _Sweep:
    """One run of the grouping: the groups found, and the changes they make."""

    def __init__(self, joint: JointSpace, now: datetime) -> None:
        self.joint = joint
        self.modes = [{tier: fail_mode_of(side.policy, tier, now) for tier in TierName}
                      for side in (joint.base, joint.head)]
        self.decisions: dict[DecisionKey, _Group] = {}
        self.tiers: dict[TierKey, _Group] = {}
        self._pieces: list[dict[int, list[Piece]]] = [{}, {}]
        self._deciders = [_DecisionOf(tuple(rule.decision for rule in side.policy.rules),
                                      side.policy.default_decision)
                          for side in (joint.base, joint.head)]
        self._positions = [{rule.id: i for i, rule in enumerate(side.policy.rules)}
                           for side in (joint.base, joint.head)]
        cidrs = joint.base.space.cidrs
        self._cidrs = _CidrWords(cidrs)
        self._run()

    # -- the sweep ---------------------------------------------------------------

    def _run(self) -> None:
        base, head = self.joint.base.space, self.joint.head.space
        class_of = [_class_of_atom(side.space.classes, len(side.space.topics.atoms))
                    for side in (self.joint.base, self.joint.head)]
        pairs: dict[tuple[int, int], list[int]] = {}
        for atom, pair in enumerate(zip(*class_of, strict=True)):
            pairs.setdefault(pair, []).append(atom)
        contents = self._rule_contents()
        # Same rules in the same order give the same cells; with the same default and the
        # same accepted envs, the decisions then agree on every request of the pair.
        alike = (self.joint.base.policy.default_decision is self.joint.head.policy.default_decision
                 and self.joint.base.accepted == self.joint.head.accepted)
        for (base_class, head_class), atoms in pairs.items():
            base_tier = base.classes[base_class].tier
            head_tier = head.classes[head_class].tier
            tier_key = (base_tier, self.modes[0][base_tier], head_tier, self.modes[1][head_tier])
            if tier_key[:2] != tier_key[2:]:
                group = self.tiers.setdefault(tier_key, _Group(atoms[0], 0, 1))
                group.topic_atoms.update(atoms)
            if alike and _same_rules(contents, base.classes[base_class].candidates,
                                     head.classes[head_class].candidates):
                continue
            self._meet(atoms, self._pieces_of(0, base_class), self._pieces_of(1, head_class),
                       base_tier, head_tier)

    def _rule_contents(self) -> tuple[list[int], list[int]]:
        """Per side, a number for each rule that two rules share exactly when they are equal."""
        numbers: dict[Rule, int] = {}
        base, head = ([numbers.setdefault(rule, len(numbers)) for rule in side.policy.rules]
                      for side in (self.joint.base, self.joint.head))
        return base, head

    def _meet(self, atoms: list[int], base_pieces: list[Piece], head_pieces: list[Piece],
              base_tier: TierName, head_tier: TierName) -> None:
        base_decision, head_decision = self._deciders
        for base_envs, base_cidrs, base_by in base_pieces:
            decision = base_decision(base_by)
            for head_envs, head_cidrs, head_by in head_pieces:
                if head_decision(head_by) is decision:
                    continue
                envs, cidrs = base_envs & head_envs, base_cidrs & head_cidrs
                if not (envs and cidrs):
                    continue
                for env in bit_indices(envs):
                    key = (env, base_by, head_by, base_tier, head_tier)
                    group = self.decisions.get(key)
                    if group is None:
                        group = self.decisions[key] = _Group(atoms[0], env, cidrs)
                    group.topic_atoms.update(atoms)
                    group.cidr_union |= cidrs

    def _pieces_of(self, side_index: int, class_index: int) -> list[Piece]:
        """The class's cells on the envs the side accepts, plus one unknown-env piece."""
        cached = self._pieces[side_index].get(class_index)
        if cached is not None:
            return cached
        side = self._side(side_index)
        accepted = side.accepted
        pieces: list[Piece] = []
        space = side.space
        for cell in space.first_match(space.classes[class_index].candidates):
            envs = cell.envs & accepted
            if envs:
                pieces.append((envs, cell.cidrs, DEFAULT if cell.rule is None else cell.rule))
        rejected = self.joint.envs.all_bits & ~accepted
        if rejected:
            pieces.append((rejected, side.space.cidrs.all_bits, UNKNOWN_ENV))
        self._pieces[side_index][class_index] = pieces
        return pieces

    def _side(self, index: int) -> Side:
        return self.joint.head if index else self.joint.base

    # -- the changes -------------------------------------------------------------

    def changes(self) -> Iterator[Change]:
        joint = self.joint
        for (env, base_by, head_by, base_tier, head_tier), group in self.decisions.items():
            base = self._outcome(0, base_by, base_tier)
            head = self._outcome(1, head_by, head_tier)
            yield Change(
                kind="decision", direction=_direction(base.decision, head.decision),
                env=joint.env_name(env), protected=joint.protected(env),
                base=base, head=head, witness=self._request(group.atom, env, group.cidrs),
                description=self._describe(group, with_cidrs=True),
            )
        for (base_tier, base_mode, head_tier, head_mode), group in self.tiers.items():
            loosening = head_tier.risk < base_tier.risk or (
                base_mode is FailMode.CLOSED and head_mode is FailMode.OPEN)
            request = self._request(group.atom, 0, 1)
            yield Change(
                kind="tier", direction="loosening" if loosening else "tightening",
                env=None, protected=False,
                base=self._tier_outcome(0, base_tier), head=self._tier_outcome(1, head_tier),
                witness=request, description=self._describe(group, with_cidrs=False),
            )

    def _outcome(self, index: int, by: int, tier: TierName) -> Outcome:
        policy = self._side(index).policy
        mode = self.modes[index][tier]
        if by == UNKNOWN_ENV:
            return Outcome(Decision.DENY, None, "unknown-env", tier, mode)
        if by == DEFAULT:
            return Outcome(policy.default_decision, None, "default", tier, mode)
        rule = policy.rules[by]
        return Outcome(rule.decision, rule.id, "rule", tier, mode, rule.span)

    def _tier_outcome(self, index: int, tier: TierName) -> Outcome:
        """A tier change's side: the tier and its fail mode (the decision is not compared)."""
        policy = self._side(index).policy
        return Outcome(policy.default_decision, None, "default", tier, self.modes[index][tier])

    def _request(self, atom: int, env: int, cidrs: int) -> Request:
        space = self.joint.base.space
        return Request(topic=space.topics.atoms[atom].witness, env=self.joint.envs.names[env],
                       cidr=space.cidrs.atoms[lowest_bit(cidrs)].witness)

    def _describe(self, group: _Group, *, with_cidrs: bool) -> str:
        atoms = self.joint.base.space.topics.atoms
        ordered = sorted(group.topic_atoms)
        named = ", ".join(f"`{atoms[a].witness}`" for a in ordered[:_NAMED_TOPICS])
        more = len(ordered) - _NAMED_TOPICS
        topics = (f"topics like {named} and {more} more topic class{'es' * (more > 1)}"
                  if more > 0
                  else f"topic{'s' if len(ordered) > 1 else ''} like {named}")
        if not with_cidrs:
            return topics
        return f"{topics}; {self._cidrs.describe(group.cidr_union)}"

    # -- report order ------------------------------------------------------------

    def order(self, change: Change) -> tuple[object, ...]:
        envs = self.joint.envs.names
        env_rank = len(envs) if change.env is None else envs.index(change.env)
        return (change.kind != "decision", not change.protected, env_rank,
                change.direction != "loosening", self._rank(0, change.base),
                self._rank(1, change.head), -change.base.tier.risk, -change.head.tier.risk,
                change.base.fail_mode.value, change.head.fail_mode.value)

    def _rank(self, index: int, outcome: Outcome) -> int:
        if outcome.rule is None:
            return {"default": 1 << 30, "unknown-env": (1 << 30) + 1}[outcome.reason]
        return self._positions[index][outcome.rule]


@dataclass(frozen=True)
class _DecisionOf:
    """The decision of a decider (rule index, DEFAULT or UNKNOWN_ENV) under one policy."""

    rules: tuple[Decision, ...]
    default: Decision

    def __call__(self, by: int) -> Decision:
        if by >= 0:
            return self.rules[by]
        return self.default if by == DEFAULT else Decision.DENY


def _class_of_atom(classes: tuple[TopicClass, ...], atom_count: int) -> list[int]:
    """For each topic atom, the index of the class holding it."""
    owner = [0] * atom_count
    for index, topic_class in enumerate(classes):
        for atom in topic_class.atoms:
            owner[atom] = index
    return owner


def _same_rules(contents: tuple[list[int], list[int]], base: tuple[int, ...],
                head: tuple[int, ...]) -> bool:
    """True when two candidate lists hold equal rules in the same order."""
    if len(base) != len(head):
        return False
    base_numbers, head_numbers = contents
    return all(base_numbers[b] == head_numbers[h] for b, h in zip(base, head, strict=True))


def _direction(base: Decision, head: Decision) -> Direction:
    return "loosening" if head.strictness < base.strictness else "tightening"


class _CidrWords:
    """Sets of cidr atoms in words, by the widest policy networks wholly inside them (or
    outside them, when that is shorter).

    The policy networks form a forest by containment; a description walks it from the
    roots and descends only below networks the set covers in part, so its cost follows
    the length of the description rather than the number of networks.
    """

    def __init__(self, cidrs: CidrAtoms) -> None:
        self.cidrs = cidrs
        atoms = cidrs.atoms
        self.inside = [0 if atom.network is None
                       else cidrs.condition_bits((atom.network,), negated=False)
                       for atom in atoms]
        self.children: list[list[int]] = [[] for _ in atoms]
        self.roots: list[int] = []
        # Network atoms come sorted by (family, address, prefix length), so the networks
        # containing one are exactly those on a stack of the ones before it.
        stack: list[int] = []
        for index, atom in enumerate(atoms):
            network = atom.network
            if network is None:
                if not atom.absent:
                    self.roots.append(index)
                continue
            while stack and not _contains(atoms[stack[-1]].network, network):
                stack.pop()
            (self.children[stack[-1]] if stack else self.roots).append(index)
            stack.append(index)

    def describe(self, bits: int) -> str:
        everything = self.cidrs.all_bits
        if bits == everything:
            return "any cidr or none"
        if bits == everything & ~1:
            return "any cidr"
        inside = self._parts(bits & ~1, _NAMED_NETWORKS)
        outside = self._parts(everything & ~bits & ~1, inside.count - 1)
        none = " (or none)" if bits & 1 else ""
        if outside.complete and not outside.rest:
            return f"cidr not within {_either(_capped(outside.whole, complete=True))}{none}"
        within = ([f"within {_either(_capped(inside.whole, complete=inside.complete))}"]
                  if inside.whole else [])
        rest = inside.rest if inside.complete or inside.whole else [*inside.rest, "more"]
        return "cidr " + _either([*within, *rest, *(["no cidr"] if bits & 1 else [])])

    def _parts(self, bits: int, limit: int) -> _Parts:
        """The widest policy networks whose atoms all lie in ``bits``, and the rest in words;
        the walk stops (``complete`` False) once it has more than ``limit`` parts."""
        parts = _Parts()
        atoms, insides = self.cidrs.atoms, self.inside
        pending = [i for i in reversed(self.roots) if insides[i] & bits or bits >> i & 1]
        found = 0
        while pending:
            if found > limit:
                parts.complete = False
                break
            index = pending.pop()
            atom = atoms[index]
            found += 1
            if atom.network is None:
                parts.rest.append(f"IPv{atom.family} outside every policy network")
            elif insides[index] & ~bits == 0:
                parts.whole.append(atom.network)
            else:
                if bits >> index & 1:
                    parts.rest.append(f"within `{atom.network}` but not its deeper networks")
                else:
                    found -= 1
                pending.extend(c for c in reversed(self.children[index]) if insides[c] & bits)
        return parts


@dataclass
class _Parts:
    """A description's pieces: whole networks, other atoms in words, and whether that is all."""

    whole: list[Network] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)
    complete: bool = True

    @property
    def count(self) -> int:
        return len(self.whole) + len(self.rest)


def _contains(outer: Network | None, inner: Network) -> bool:
    return (outer is not None and outer.version == inner.version
            and inner.subnet_of(outer))  # type: ignore[arg-type]


def _capped(networks: list[Network], *, complete: bool) -> list[str]:
    """The first networks in backticks, then how many more there are (or "more")."""
    shown = [f"`{network}`" for network in networks[:_NAMED_NETWORKS]]
    more = len(networks) - _NAMED_NETWORKS
    if not complete:
        return [*shown, "more"]
    return [*shown, f"{more} more"] if more > 0 else shown


def _either(items: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
