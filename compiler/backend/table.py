"""The decision table: the region space's first-match cells, laid out for the runtime.

For each topic class of the region space the table records which policy networks matter
to it (those its candidate rules name: its **layout**) and, for every declared env and
every column of the layout, the rule that decides (its **plane**). A request's column is
the deepest layout network containing it, or "outside" its family, or "absent": the
candidate rules' cidr conditions only ask which layout networks contain the request, and
those are exactly the layout networks containing that deepest one.

Classes with the same tier, layout and plane are merged, and the topic automaton is
minimized over the merged classes, so the table stays small. Guarantee: for every
well-formed request with a declared env, the table's entry is the rule the reference
first-match semantics picks (``DEFAULT_ENTRY`` when none matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dualgate.compiler.backend.minimize import Automaton, minimize
from dualgate.compiler.ir import CidrCondition, Policy
from dualgate.compiler.networks import Network
from dualgate.compiler.regions import Cell, RegionSpace
from dualgate.compiler.regions.bits import bit_indices
from dualgate.compiler.topics import ANY, SINGLE
from dualgate.runtime.bundle_format import DEFAULT_ENTRY
from dualgate.runtime.vocabulary import TierName


@dataclass(frozen=True)
class DecisionTable:
    """The ``table`` section of a bundle (see ``dualgate.runtime.bundle_format``)."""

    automaton: Automaton
    #: The class of every topic the policy writes without wildcards (a rule's or a tier's
    #: literal pattern): one dict lookup instead of a walk, for the topics gates see most.
    exact: dict[str, int]
    classes: list[tuple[str, int, int]]
    #: Every network of the policy's cidr conditions, v4 first, each family by address
    #: and prefix; a layout lists the indices of its networks here, ascending.
    networks: list[Network]
    layouts: list[tuple[int, ...]]
    planes: list[tuple[int, ...]]

    def to_json(self) -> dict[str, Any]:
        # Each distinct map of literal edges once, numbered by its first state: the same
        # automaton gives the same lists, and the states of a large policy share a third
        # as many maps as there are states.
        number: dict[frozenset[tuple[str, int]], int] = {}
        transitions: list[dict[str, int]] = []
        next_of_state: list[int] = []
        for edges in self.automaton.next:
            key = frozenset(edges.items())
            index = number.get(key)
            if index is None:
                index = number[key] = len(transitions)
                transitions.append(edges)
            next_of_state.append(index)
        # The planes one after another in one list, each class naming where its plane
        # starts (its length follows from the envs and the class's layout): one flat list
        # of integers parses and checks faster than tens of thousands of small ones.
        starts: list[int] = []
        entries: list[int] = []
        for plane in self.planes:
            starts.append(len(entries))
            entries.extend(plane)
        # What each tier's planes hold, so the runtime makes those verdicts at load.
        tier_entries: dict[str, set[int]] = {str(tier): set() for tier in TierName}
        for tier, _, plane_number in self.classes:
            tier_entries[tier].update(self.planes[plane_number])
        return {
            "topics": {"next": next_of_state, "transitions": transitions,
                       "other": self.automaton.other, "class": self.automaton.label,
                       "exact": self.exact},
            "classes": {"tier": [tier for tier, _, _ in self.classes],
                        "layout": [layout for _, layout, _ in self.classes],
                        "plane": [starts[plane] for _, _, plane in self.classes]},
            "networks": [str(n) for n in self.networks],
            "layouts": [list(layout) for layout in self.layouts],
            "planes": entries,
            "tier_entries": {tier: sorted(used) for tier, used in tier_entries.items()},
        }


def build_table(space: RegionSpace) -> DecisionTable:
    """The decision table of ``space`` (see the module docstring)."""
    # Networks are numbered in column order (v4 before v6, then by address and prefix),
    # so a layout is a sorted tuple of small ints: cheap to hash, already in column order.
    networks = sorted({n for c in _cidr_conditions(space.policy) for n in c.networks},
                      key=_network_order)
    number = {network: i for i, network in enumerate(networks)}
    atom_of_network = [space.cidrs.index_of(n) for n in networks]
    networks_of_rule = [
        frozenset(number[n] for c in rule.conditions if isinstance(c, CidrCondition)
                  for n in c.networks)
        for rule in space.policy.rules
    ]
    outside = (space.cidrs.atom_of_everything(4), space.cidrs.atom_of_everything(6))
    env_count = len(space.envs.names)
    layouts: dict[tuple[int, ...], int] = {}
    planes: dict[tuple[int, ...], int] = {}
    classes: dict[tuple[str, int, int], int] = {}
    class_of_atom = [0] * len(space.topics.atoms)
    for topic_class in space.classes:
        layout = tuple(sorted(frozenset().union(
            *(networks_of_rule[rule] for rule in topic_class.candidates))))
        # Per column (COLUMN_ABSENT, COLUMN_OUTSIDE_V4, COLUMN_OUTSIDE_V6, then one per
        # layout network from FIRST_NETWORK_COLUMN), the atom of a request in it: no cidr,
        # `0.0.0.0/0` or `::/0` (inside no layout network unless a /0 is in the layout,
        # and then never looked up), or the layout network itself.
        representatives = [0, *outside, *(atom_of_network[i] for i in layout)]
        plane = _plane(topic_class.cells, representatives, env_count)
        key = (str(topic_class.tier), layouts.setdefault(layout, len(layouts)),
               planes.setdefault(plane, len(planes)))
        merged = classes.setdefault(key, len(classes))
        for atom in topic_class.atoms:
            class_of_atom[atom] = merged
    topics = space.topics
    automaton = minimize(Automaton(
        next=[dict(t) for t in topics.transitions],
        other=list(topics.default),
        label=[class_of_atom[a] if a >= 0 else -1 for a in topics.atom_of_state],
    ))
    literal = {p for p in space.pattern_segments() if SINGLE not in p and ANY not in p}
    exact = {".".join(p): automaton.run(p) for p in sorted(literal)}
    return DecisionTable(automaton, exact, list(classes), networks, list(layouts), list(planes))


def _cidr_conditions(policy: Policy) -> Iterator[CidrCondition]:
    for rule in policy.rules:
        for condition in rule.conditions:
            if isinstance(condition, CidrCondition):
                yield condition


def _network_order(network: Network) -> tuple[int, int, int]:
    """v4 before v6, then by address and prefix: the column order of a layout."""
    return network.version, int(network.network_address), network.prefixlen


def _plane(cells: Iterable[Cell], representatives: list[int],
           env_count: int) -> tuple[int, ...]:
    """Row-major env x column: the rule deciding each column's representative atom."""
    columns = len(representatives)
    entries = [DEFAULT_ENTRY - 1] * (env_count * columns)  # below every real entry: unset
    for cell in cells:
        entry = DEFAULT_ENTRY if cell.rule is None else cell.rule
        hit = [c for c, atom in enumerate(representatives) if cell.cidrs >> atom & 1]
        for env in bit_indices(cell.envs):
            row = env * columns
            for column in hit:
                entries[row + column] = entry
    assert min(entries) >= DEFAULT_ENTRY, "the cells of a class cover its plane"
    return tuple(entries)
