"""One pass over the first-match cells that gathers every fact the rule checks report.

For each cell decided by a rule ``w`` the sweep records that ``w`` is reachable, which
later rules also match part of the cell with another decision (a conflict: their
order decides), and what would decide the cell if ``w`` were deleted (redundancy).
A second pass collects, for each matchable rule that never decides, the rules that
take its requests (its blocking rules).

Witnesses are kept as regions (topic atom, env bits, cidr bits) and only turned into
requests for the findings that are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.regions.space import PROGRESS_STEP, Progress
from dualgate.runtime.vocabulary import Decision, TierName

#: A non-empty piece of the request space: (topic atom, env bitset, cidr bitset).
Region = tuple[int, int, int]


@dataclass
class RuleFacts:
    """What the cells say about each rule (indices into ``policy.rules``)."""

    #: A region each reachable rule decides.
    decides: dict[int, Region] = field(default_factory=dict)
    #: For each never-deciding matchable rule: the rules that decide its requests, and
    #: one of its regions with the rule that takes it.
    blockers: dict[int, set[int]] = field(default_factory=dict)
    blocked_witness: dict[int, tuple[Region, int]] = field(default_factory=dict)
    #: Reachable rules whose deletion would change some decision.
    needed: set[int] = field(default_factory=set)
    #: For the others: what decides their requests once they are gone (None: the default)
    #: and a region showing it.
    fallthrough: dict[int, set[int | None]] = field(default_factory=dict)
    fallthrough_witness: dict[int, tuple[Region, int | None]] = field(default_factory=dict)
    #: (earlier, later) rule pairs with different decisions and a region both match on
    #: which the earlier one is the first match.
    conflicts: dict[tuple[int, int], Region] = field(default_factory=dict)
    #: Deciders (rule or None for the default) that allow a high-tier topic in a
    #: protected env, with a region showing it.
    high_risk_allows: dict[int | None, Region] = field(default_factory=dict)
    #: A region the default decides, if any.
    default_witness: Region | None = None

    @property
    def reachable(self) -> set[int]:
        return set(self.decides)


def sweep(space: RegionSpace, progress: Progress | None = None) -> RuleFacts:
    """Gather the facts of every cell of ``space`` (see the module docstring)."""
    facts = RuleFacts()
    policy, boxes = space.policy, space.boxes
    decisions = [rule.decision for rule in policy.rules]
    default = policy.default_decision
    protected = space.envs.protected_bits

    total = len(space.classes)
    for done, topic_class in enumerate(space.classes):
        if progress is not None and done % PROGRESS_STEP == 0:
            progress("rules", done, total)
        candidates = topic_class.candidates
        position = {rule: i for i, rule in enumerate(candidates)}
        atom = topic_class.atoms[0]
        high = protected and topic_class.tier is TierName.HIGH
        for cell in topic_class.cells:
            winner = cell.rule
            decision = default if winner is None else decisions[winner]
            if (high and cell.envs & protected and decision is Decision.ALLOW
                    and winner not in facts.high_risk_allows):
                facts.high_risk_allows[winner] = (atom, cell.envs & protected, cell.cidrs)
            if winner is None:
                if facts.default_witness is None:
                    facts.default_witness = (atom, cell.envs, cell.cidrs)
                continue
            if winner not in facts.decides:
                facts.decides[winner] = (atom, cell.envs, cell.cidrs)
            later = candidates[position[winner] + 1:]
            for other in later:
                if decisions[other] is decision or (winner, other) in facts.conflicts:
                    continue
                box = boxes[other]
                envs, cidrs = cell.envs & box.envs, cell.cidrs & box.cidrs
                if envs and cidrs:
                    facts.conflicts[(winner, other)] = (atom, envs, cidrs)
            if winner not in facts.needed:
                _fall_through(space, facts, winner, later,
                              region=(atom, cell.envs, cell.cidrs))
    if progress is not None:
        progress("rules", total, total)

    shadowed = {box.rule for box in boxes if box.matchable and box.rule not in facts.decides}
    if shadowed:
        _collect_blockers(space, facts, shadowed)
    return facts


def _fall_through(
    space: RegionSpace, facts: RuleFacts, winner: int, later: tuple[int, ...],
    *, region: Region,
) -> None:
    """Record what decides the region once ``winner`` is deleted; mark it needed if that differs."""
    policy = space.policy
    decision = policy.rules[winner].decision
    atom, envs, cidrs = region
    seen = facts.fallthrough.setdefault(winner, set())
    for piece in space.first_match(later, envs, cidrs):
        instead = (policy.default_decision if piece.rule is None
                   else policy.rules[piece.rule].decision)
        if instead is not decision:
            facts.needed.add(winner)
            facts.fallthrough.pop(winner, None)
            facts.fallthrough_witness.pop(winner, None)
            return
        seen.add(piece.rule)
        if winner not in facts.fallthrough_witness:
            facts.fallthrough_witness[winner] = ((atom, piece.envs, piece.cidrs), piece.rule)


def _collect_blockers(space: RegionSpace, facts: RuleFacts, shadowed: set[int]) -> None:
    boxes = space.boxes
    for topic_class in space.classes:
        here = shadowed.intersection(topic_class.candidates)
        if not here:
            continue
        for rule in sorted(here):
            box = boxes[rule]
            blockers = facts.blockers.setdefault(rule, set())
            for cell in topic_class.cells:
                if cell.rule in blockers and rule in facts.blocked_witness:
                    continue
                envs, cidrs = cell.envs & box.envs, cell.cidrs & box.cidrs
                if not (envs and cidrs):
                    continue
                # A matchable rule that never decides is beaten by an earlier rule
                # wherever it matches, so ``cell.rule`` is an earlier rule, never the default.
                assert cell.rule is not None and cell.rule < rule
                blockers.add(cell.rule)
                if rule not in facts.blocked_witness:
                    facts.blocked_witness[rule] = ((topic_class.atoms[0], envs, cidrs), cell.rule)
