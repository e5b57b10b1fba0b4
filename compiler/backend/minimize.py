"""Minimizing the topic automaton: merge states that no topic can tell apart.

The region engine's automaton distinguishes every atom; the bundle only needs to
distinguish decision classes, and many states (the ``read`` leaves of a thousand
resources, say) then behave alike. Moore's partition refinement merges them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Automaton:
    """A segment automaton: ``next[s].get(segment, other[s])`` is the state after ``s``.

    State 0 is the start. ``label[s]`` is what a topic ending in ``s`` maps to.
    """

    next: list[dict[str, int]]
    other: list[int]
    label: list[int]

    def run(self, segments: Sequence[str]) -> int:
        """The label of the state a topic's segments lead to."""
        state = 0
        for segment in segments:
            state = self.next[state].get(segment, self.other[state])
        return self.label[state]


def minimize(automaton: Automaton) -> Automaton:
    """The smallest automaton giving every topic the same label, numbered canonically.

    States are renumbered breadth-first from the start, following the "other" edge
    first and then the literal edges in sorted order, so equal inputs give equal
    outputs. Literal edges that lead where "other" leads are dropped.
    """
    nexts, other = automaton.next, automaton.other
    edges = [sorted(transitions.items()) for transitions in nexts]
    block = _renumber(automaton.label)
    count = len(set(block))
    while True:
        signatures: dict[tuple[object, ...], int] = {}
        refined = []
        for state, state_edges in enumerate(edges):
            fallback = block[other[state]]
            key: tuple[object, ...] = (block[state], fallback)
            if state_edges:  # most states have none: the leaves of a trie of literal topics
                differing = [(segment, block[t]) for segment, t in state_edges
                             if block[t] != fallback]
                if differing:
                    key = (*key, *differing)
            refined.append(signatures.setdefault(key, len(signatures)))
        if len(signatures) == count:
            break
        block, count = refined, len(signatures)
    return _canonical(automaton, edges, block)


def _renumber(labels: Sequence[int]) -> list[int]:
    ids: dict[int, int] = {}
    return [ids.setdefault(label, len(ids)) for label in labels]


def _canonical(automaton: Automaton, edges: list[list[tuple[str, int]]],
               block: list[int]) -> Automaton:
    """The quotient automaton over ``block``, states numbered breadth-first."""
    representative: dict[int, int] = {}
    for state, b in enumerate(block):
        representative.setdefault(b, state)
    number: dict[int, int] = {block[0]: 0}
    order = [block[0]]
    queue = deque([block[0]])
    while queue:
        state = representative[queue.popleft()]
        targets = [block[automaton.other[state]], *(block[t] for _, t in edges[state])]
        for target in targets:
            if target not in number:
                number[target] = len(order)
                order.append(target)
                queue.append(target)
    nexts: list[dict[str, int]] = []
    others: list[int] = []
    labels: list[int] = []
    for b in order:
        state = representative[b]
        fallback = number[block[automaton.other[state]]]
        nexts.append({segment: number[block[t]] for segment, t in edges[state]
                      if number[block[t]] != fallback})
        others.append(fallback)
        labels.append(automaton.label[state])
    return Automaton(nexts, others, labels)
