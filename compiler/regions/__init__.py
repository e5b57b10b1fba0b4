"""The region engine: the atoms of docs/design.md's "Analysis" and the first-match cells.

The analyzer, the compiler backend and the policy diff all reason over these regions.
"""

from dualgate.compiler.regions.cidr_atoms import CidrAtom, CidrAtoms
from dualgate.compiler.regions.env_atoms import EnvAtoms
from dualgate.compiler.regions.space import Cell, Dimensions, RegionSpace, RuleBox, TopicClass
from dualgate.compiler.regions.topic_automaton import (
    TopicAtom,
    TopicAutomaton,
    build_topic_automaton,
)

__all__ = [
    "Cell",
    "CidrAtom",
    "CidrAtoms",
    "Dimensions",
    "EnvAtoms",
    "RegionSpace",
    "RuleBox",
    "TopicAtom",
    "TopicAutomaton",
    "TopicClass",
    "build_topic_automaton",
]
