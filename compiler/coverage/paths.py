"""The action-path map: every action path (a topic in each env) with its tier, effective
fail mode and every outcome it can get, and the risks a reviewer must see.

Exact, on the region engine: a catalog topic is sorted into its topic atom by the
policy's topic automaton (one walk per topic, whatever the number of rules), the atom's
topic class fixes the tier and the first-match cells, and the cells of one env list the
distinct deciders over every request network, absence included. Outcomes are computed
once per (topic class, env), so a large catalog costs one automaton walk per topic.

Without a catalog the paths are the policy's own topic classes, split by whether a tier
pattern classifies them, each named by the patterns its topics match and a witness topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from dualgate.compiler import ir
from dualgate.compiler.coverage.catalog import Catalog, Malformed
from dualgate.compiler.reference import fail_mode_of
from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.regions.bits import lowest_bit
from dualgate.compiler.topics import pattern_text
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

#: The risks a path can be flagged with, in the order reports list them.
PATH_FLAGS = ("unclassified", "high-allow", "fail-open", "default-only")
#: What ``--fail-on`` accepts: the path flags and malformed catalog entries.
FAIL_ON_CHOICES = (*PATH_FLAGS, "malformed")

#: How many of a class's kinds of topics its description names before "and N more".
_DESCRIBED_KINDS = 3


@dataclass(frozen=True)
class Outcome:
    """One outcome a path can get, and a request network that gets it (None: no cidr)."""

    decision: Decision
    rule: str | None
    reason: str
    cidr: str | None

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision.value, "rule": self.rule, "reason": self.reason,
                "cidr": self.cidr}


@dataclass(frozen=True)
class ActionPath:
    """One topic in one env. ``env`` is None when the policy declares no envs (any env);
    ``description`` names the patterns of a topic class (paths without a catalog)."""

    topic: str
    env: str | None
    protected: bool
    tier: TierName
    classified: bool
    fail_mode: FailMode
    outcomes: tuple[Outcome, ...]
    description: str | None = None

    @cached_property
    def flags(self) -> tuple[str, ...]:
        """The risks of this path, in ``PATH_FLAGS`` order."""
        flags = []
        if not self.classified:
            flags.append("unclassified")
        if self.tier is TierName.HIGH and any(o.decision is Decision.ALLOW
                                              for o in self.outcomes):
            flags.append("high-allow")
        if self.fail_mode is FailMode.OPEN:
            flags.append("fail-open")
        if all(o.reason == "default" for o in self.outcomes):
            flags.append("default-only")
        return tuple(flags)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "topic": self.topic, "env": self.env, "protected": self.protected,
            "tier": self.tier.value, "classified": self.classified,
            "fail_mode": self.fail_mode.value,
            "outcomes": [o.to_json() for o in self.outcomes],
            "flags": list(self.flags),
        }
        if self.description is not None:
            document["description"] = self.description
        return document


@dataclass(frozen=True)
class PathMap:
    """The map of one policy: its paths (topic by topic, env by env) and malformed entries.

    ``source`` is ``catalog`` or ``policy`` (the policy's own topic classes).
    """

    policy: str
    source: str
    envs: tuple[tuple[str | None, bool], ...]
    paths: tuple[ActionPath, ...]
    malformed: tuple[Malformed, ...] = ()

    def flagged(self, flags: Iterable[str]) -> int:
        """How many paths (and malformed entries, for ``malformed``) carry one of ``flags``."""
        wanted = set(flags)
        count = sum(1 for p in self.paths if wanted.intersection(p.flags))
        return count + (len(self.malformed) if "malformed" in wanted else 0)

    def summary(self) -> dict[str, Any]:
        """Counts: paths, topics, the classified share, flags, and per env the paths of each
        tier that can get each decision (a path counts once for every decision it can get)."""
        topics = {p.topic for p in self.paths}
        classified = {p.topic for p in self.paths if p.classified}
        flags = {flag: 0 for flag in PATH_FLAGS}
        by_env: dict[str | None, dict[str, dict[str, int]]] = {
            env: {t.value: {d.value: 0 for d in Decision} for t in TierName}
            for env, _ in self.envs
        }
        decisions: dict[int, list[str]] = {}  # outcomes tuples are shared: see to_json
        for path in self.paths:
            for flag in path.flags:
                flags[flag] += 1
            row = by_env[path.env][path.tier.value]
            distinct = decisions.get(id(path.outcomes))
            if distinct is None:
                distinct = decisions[id(path.outcomes)] = sorted(
                    {o.decision.value for o in path.outcomes})
            for decision in distinct:
                row[decision] += 1
        return {
            "paths": len(self.paths),
            "topics": len(topics),
            "classified": len(classified),
            "classified_share": round(len(classified) / len(topics), 4) if topics else 1.0,
            "flags": {**flags, "malformed": len(self.malformed)},
            "by_env": [{"env": env, "protected": protected, "counts": by_env[env]}
                       for env, protected in self.envs],
        }

    def to_json(self, *, paths: bool = True) -> dict[str, Any]:
        """The JSON report (``schemas/coverage-report.schema.json``); ``paths=False`` leaves
        its paths list empty (for a writer that encodes the paths itself)."""
        if not paths:
            return self._report([])
        # Paths of one topic class and env share their outcomes tuple, so all but the
        # topic (and the description) of their JSON is built once and shared.
        shared: dict[tuple[int, bool], dict[str, Any]] = {}
        documents = []
        for path in self.paths:
            key = (id(path.outcomes), path.classified)
            rest = shared.get(key)
            if rest is None:
                rest = path.to_json()
                del rest["topic"]
                rest.pop("description", None)
                shared[key] = rest
            if path.description is None:
                documents.append({"topic": path.topic, **rest})
            else:
                documents.append({"topic": path.topic, **rest, "description": path.description})
        return self._report(documents)

    def _report(self, paths: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "source": self.source,
            "paths": paths,
            "malformed": [m.to_json() for m in self.malformed],
            "summary": self.summary(),
        }


class _Mapper:
    """The per-class, per-env outcomes of one policy, computed on first use."""

    def __init__(self, policy: ir.Policy, space: RegionSpace, now: datetime) -> None:
        self.policy, self.space = policy, space
        self.modes = {tier: fail_mode_of(policy, tier, now) for tier in TierName}
        self.class_of_atom = [0] * len(space.topics.atoms)
        for index, topic_class in enumerate(space.classes):
            for atom in topic_class.atoms:
                self.class_of_atom[atom] = index
        self.envs: tuple[tuple[str | None, bool], ...] = tuple(
            (e.name, e.protected) for e in policy.envs) or ((None, False),)
        self._outcomes: dict[int, tuple[tuple[Outcome, ...], ...]] = {}

    def outcomes(self, class_index: int) -> tuple[tuple[Outcome, ...], ...]:
        """Per env atom, the distinct outcomes of the class, in the order of their lowest
        cidr atom (absent first), each with that atom's witness network."""
        known = self._outcomes.get(class_index)
        if known is not None:
            return known
        space, rules = self.space, self.policy.rules
        per_env = []
        for env in range(len(self.envs)):
            lowest: dict[int | None, int] = {}
            for cell in space.classes[class_index].cells:
                if cell.envs >> env & 1:
                    low = lowest_bit(cell.cidrs)
                    if cell.rule not in lowest or low < lowest[cell.rule]:
                        lowest[cell.rule] = low
            per_env.append(tuple(
                Outcome(
                    decision=self.policy.default_decision if rule is None
                    else rules[rule].decision,
                    rule=None if rule is None else rules[rule].id,
                    reason="default" if rule is None else "rule",
                    cidr=space.cidrs.atoms[low].witness,
                )
                for rule, low in sorted(lowest.items(), key=lambda item: item[1])
            ))
        self._outcomes[class_index] = result = tuple(per_env)
        return result

    def paths(self, topic: str, atom: int, classified: bool,
              description: str | None = None) -> list[ActionPath]:
        class_index = self.class_of_atom[atom]
        tier = self.space.classes[class_index].tier
        outcomes = self.outcomes(class_index)
        return [
            ActionPath(topic, env, protected, tier, classified, self.modes[tier],
                       outcomes[index], description)
            for index, (env, protected) in enumerate(self.envs)
        ]


def build_path_map(policy: ir.Policy, catalog: Catalog | None, *, now: datetime,
                   space: RegionSpace | None = None) -> PathMap:
    """The action-path map of ``policy`` over ``catalog`` (None: the policy's topic classes).

    Paths are ordered topic by topic (catalog order), env by env (declared order).
    ``now`` decides the effective fail modes; ``space`` reuses a region space of ``policy``.
    """
    space = space or RegionSpace(policy)
    mapper = _Mapper(policy, space, now)
    paths: list[ActionPath] = []
    if catalog is None:
        for atoms, classified in _class_groups(space):
            paths.extend(mapper.paths(space.topics.atoms[atoms[0]].witness, atoms[0],
                                      classified, _describe(space, atoms)))
        return PathMap(policy.name, "policy", mapper.envs, tuple(paths))
    atom_of = space.topics.atom_of
    classified_atoms: dict[int, bool] = {}
    for topic in catalog.topics:
        atom = atom_of(topic)
        known = classified_atoms.get(atom)
        if known is None:
            known = classified_atoms[atom] = space.classified(atom)
        paths.extend(mapper.paths(topic, atom, known))
    return PathMap(policy.name, "catalog", mapper.envs, tuple(paths), catalog.malformed)


def _class_groups(space: RegionSpace) -> list[tuple[list[int], bool]]:
    """The atoms of each topic class, split into those a tier pattern classifies and the
    rest, in order of the first atom (so of the shortest witness topic)."""
    groups: dict[tuple[int, bool], list[int]] = {}
    for index, topic_class in enumerate(space.classes):
        for atom in topic_class.atoms:
            groups.setdefault((index, space.classified(atom)), []).append(atom)
    ordered = sorted(groups.items(), key=lambda item: min(item[1]))
    return [(atoms, classified) for (_, classified), atoms in ordered]


def _describe(space: RegionSpace, atoms: list[int]) -> str:
    """The patterns the topics of ``atoms`` match, kind by kind (an atom is one kind)."""
    segments = space.pattern_segments()
    kinds = []
    for atom in atoms[:_DESCRIBED_KINDS]:
        matched = sorted((segments[p] for p in space.topics.atoms[atom].signature),
                         key=lambda s: (-sum(x not in ("*", "**") for x in s), s))
        kinds.append(" and ".join(pattern_text(s) for s in matched) if matched
                     else "no pattern of the policy")
    more = len(atoms) - _DESCRIBED_KINDS
    text = "; or ".join(kinds)
    return f"{text}; and {more} more" if more > 0 else text
