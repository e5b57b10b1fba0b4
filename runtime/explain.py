"""Why a bundle decides what it decides: every rule up to the deciding one, and for each
earlier rule the first condition that failed.

The explanation re-evaluates the bundle's rules one by one from their recorded
conditions (slow, for people), independently of the decision table (fast, for gates);
tests check that both pick the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dualgate.runtime.bundle import Bundle
from dualgate.runtime.networks import parse_network
from dualgate.runtime.verdict import RULE, Verdict

_WIDTH = {4: 32, 6: 128}


@dataclass(frozen=True)
class Location:
    """Where a rule or condition was written (1-based line and column)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class RuleCheck:
    """One rule tried for a request: whether it matched, or the condition that failed."""

    rule: str
    location: Location | None
    matched: bool
    #: The first condition that did not hold, as written (``topic not a.*``), or None.
    failed: str | None


@dataclass(frozen=True)
class Explanation:
    """A verdict and the rules behind it; ``checks`` ends with the deciding rule, if any."""

    verdict: Verdict
    checks: tuple[RuleCheck, ...]
    #: The reason text the policy gives for the deciding rule, if any.
    rule_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.verdict.to_json(),
            "rule_reason": self.rule_reason,
            "checked": [
                {"rule": c.rule, "matched": c.matched, "failed_condition": c.failed,
                 "location": None if c.location is None else str(c.location)}
                for c in self.checks
            ],
        }


def explain(bundle: Bundle, topic: object, env: object, cidr: object = None) -> Explanation:
    """The verdict on a request and the rules consulted for it, in order."""
    verdict = bundle.decide(topic, env, cidr)
    if verdict.reason not in (RULE, "default"):
        return Explanation(verdict, (), None)
    assert isinstance(topic, str) and isinstance(env, str)
    network = parse_network(cidr) if isinstance(cidr, str) else None
    content = bundle.content
    path = content["source"]["path"]
    rules = content["rules"]
    checks: list[RuleCheck] = []
    reason = None
    for index, rule_id in enumerate(rules["id"]):
        written = rules["conditions"][index]
        failed = next((c for c in (written.split(" and ") if written else [])
                       if not _holds(c, topic, env, network)), None)
        line = rules["line"][index]
        checks.append(RuleCheck(
            rule_id,
            None if line is None else Location(path, line, rules["column"][index]),
            failed is None,
            failed,
        ))
        if failed is None:
            reason = rules["reason"][index]
            break
    return Explanation(verdict, tuple(checks), reason)


def _holds(text: str, topic: str, env: str, network: tuple[int, int, int] | None) -> bool:
    """Whether a condition, as the bundle writes it, holds for a well-formed request."""
    attribute, _, rest = text.partition(" ")
    negated = rest.startswith("not ")
    values = rest.removeprefix("not ").removeprefix("in ").split(", ")
    if attribute == "topic":
        segments = tuple(topic.split("."))
        positive = any(_matches(tuple(p.split(".")), segments) for p in values)
    elif attribute == "env":
        positive = env in values
    else:
        positive = network is not None and any(_inside(network, v) for v in values)
    return positive != negated


@lru_cache(maxsize=4096)
def _matches(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if not pattern:
        return not segments
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, segments[i:]) for i in range(len(segments) + 1))
    return bool(segments) and head in ("*", segments[0]) and _matches(rest, segments[1:])


def _inside(request: tuple[int, int, int], text: str) -> bool:
    network = parse_network(text)
    if network is None or network[0] != request[0] or request[2] < network[2]:
        return False
    shift = _WIDTH[request[0]] - network[2]
    return request[1] >> shift == network[1] >> shift
