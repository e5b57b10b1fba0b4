"""The topic dimension: a segment automaton that sorts every topic into an atom.

A topic is a word over segments. Only the literal segments that occur in the policy's
patterns can be told apart by a pattern; every other segment behaves the same, so the
automaton reads each segment as one of those literals or as "other". It is the subset
construction over the union of the patterns' NFAs, built breadth-first without ever
enumerating topics, with one literal-keyed transition map and one default ("other")
transition per state.

Two topics are in the same **atom** when they match exactly the same set of patterns;
an atom is identified by that set (its *signature*), so every condition written with
the patterns is a union of atoms. Each atom has a witness: the shortest topic that
reaches it, with the fresh segment ``OTHER_SEGMENT`` (or a variant of it that is no
literal of the policy) standing for "any other segment".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from dualgate.compiler.topics import ANY, SINGLE

#: The segment witnesses use for "a segment no pattern names" (varied if it is a literal).
OTHER_SEGMENT = "x"

_END = ""  # label of an NFA position past the last segment: the pattern has matched


@dataclass(frozen=True)
class TopicAtom:
    """A class of topics that match exactly the patterns in ``signature``."""

    signature: frozenset[int]
    witness: str


@dataclass(frozen=True)
class TopicAutomaton:
    """A deterministic automaton over topic segments and the atoms it reaches.

    State 0 is the start state (no segment read). ``transitions[s]`` maps a literal
    segment to the next state; any segment not in that map goes to ``default[s]``.
    ``atom_of_state[s]`` is the atom of the topics that end in ``s`` (-1 only for the
    start state when no non-empty topic can end there). Guarantee: for every non-empty
    topic ``t`` and pattern ``p`` of the input, ``p`` matches ``t`` exactly when ``p``'s
    index is in ``atoms[atom_of(t)].signature``.
    """

    patterns: tuple[tuple[str, ...], ...]
    transitions: tuple[dict[str, int], ...]
    default: tuple[int, ...]
    atom_of_state: tuple[int, ...]
    atoms: tuple[TopicAtom, ...]
    other_segment: str

    def atom_of(self, topic: str) -> int:
        """The atom of a well-formed, non-empty ``topic``."""
        state = 0
        for segment in topic.split("."):
            state = self.transitions[state].get(segment, self.default[state])
        return self.atom_of_state[state]

    @property
    def state_count(self) -> int:
        return len(self.default)


class _Nfa:
    """The union of the patterns' position automata, positions numbered globally.

    Position ``p`` of a pattern stands before its ``p``-th segment; the one past the
    last segment (label ``_END``) accepts. ``*`` consumes any one segment; ``**``
    consumes any segment and stays, or is skipped without consuming (epsilon).
    """

    def __init__(self, patterns: Sequence[tuple[str, ...]]) -> None:
        self.labels: list[str] = []
        self.pattern_of: list[int] = []
        self.starts: list[int] = []
        for index, segments in enumerate(patterns):
            self.starts.append(len(self.labels))
            self.labels.extend(segments)
            self.labels.append(_END)
            self.pattern_of.extend([index] * (len(segments) + 1))

    def closure(self, positions: list[int]) -> frozenset[int]:
        """``positions`` plus every position reachable by skipping `**` segments."""
        labels = self.labels
        closed: set[int] = set()
        for start in positions:
            position = start
            while position not in closed:
                closed.add(position)
                if labels[position] != ANY:
                    break
                position += 1
        return frozenset(closed)


def build_topic_automaton(patterns: Sequence[tuple[str, ...]]) -> TopicAutomaton:
    """The automaton and atoms of ``patterns`` (each a tuple of segments).

    Cost is linear in the number of automaton states times the positions per state;
    for policies of mostly literal topics the states are close to a trie of them.
    """
    nfa = _Nfa(patterns)
    labels, pattern_of = nfa.labels, nfa.pattern_of
    literals = {label for label in labels if label not in (_END, SINGLE, ANY)}
    other = _fresh_segment(literals)

    state_ids: dict[frozenset[int], int] = {}
    state_sets: list[frozenset[int]] = []

    def state_id(positions: frozenset[int]) -> int:
        known = state_ids.get(positions)
        if known is None:
            known = state_ids[positions] = len(state_sets)
            state_sets.append(positions)
        return known

    state_id(nfa.closure(nfa.starts))
    transitions: list[dict[str, int]] = []
    default: list[int] = []
    # Subset construction; states are numbered in discovery order, so the list of
    # state sets grows while it is walked.
    index = 0
    while index < len(state_sets):
        by_literal: dict[str, list[int]] = {}
        wildcard_moves: list[int] = []
        for position in state_sets[index]:
            label = labels[position]
            if label == _END:
                continue
            if label == SINGLE:
                wildcard_moves.append(position + 1)
            elif label == ANY:
                wildcard_moves.append(position)
            else:
                by_literal.setdefault(label, []).append(position + 1)
        on_other = nfa.closure(wildcard_moves)
        default.append(state_id(on_other))
        transitions.append(
            {literal: state_id(nfa.closure(moves) | on_other)
             for literal, moves in sorted(by_literal.items())}
        )
        index += 1

    signatures = [
        frozenset(pattern_of[p] for p in positions if labels[p] == _END)
        for positions in state_sets
    ]
    atom_of_state, atoms = _atoms(transitions, default, signatures, other)
    return TopicAutomaton(
        patterns=tuple(tuple(p) for p in patterns),
        transitions=tuple(transitions),
        default=tuple(default),
        atom_of_state=tuple(atom_of_state),
        atoms=tuple(atoms),
        other_segment=other,
    )


def _atoms(
    transitions: list[dict[str, int]],
    default: list[int],
    signatures: list[frozenset[int]],
    other: str,
) -> tuple[list[int], list[TopicAtom]]:
    """Number the signatures reachable by non-empty topics, shortest witness first.

    Breadth-first from the start state, so the first path to reach a signature is a
    shortest topic with it; "other" is tried first, then the literals in sorted order, so
    a wildcard position shows the neutral segment (``infra.x.delete``).
    """
    atom_of_state = [-1] * len(default)
    atom_ids: dict[frozenset[int], int] = {}
    atoms: list[TopicAtom] = []
    queue: deque[tuple[int, tuple[str, ...]]] = deque()

    def expand(state: int, path: tuple[str, ...]) -> None:
        edges = [(other, default[state]), *transitions[state].items()]
        for segment, target in edges:
            if atom_of_state[target] != -1:
                continue
            topic = (*path, segment)
            signature = signatures[target]
            atom = atom_ids.get(signature)
            if atom is None:
                atom = atom_ids[signature] = len(atoms)
                atoms.append(TopicAtom(signature, ".".join(topic)))
            atom_of_state[target] = atom
            queue.append((target, topic))

    expand(0, ())
    while queue:
        expand(*queue.popleft())
    return atom_of_state, atoms


def _fresh_segment(literals: set[str]) -> str:
    """A segment that is no literal of the policy, to stand for "any other segment"."""
    candidate, counter = OTHER_SEGMENT, 0
    while candidate in literals:
        counter += 1
        candidate = f"{OTHER_SEGMENT}{counter}"
    return candidate
