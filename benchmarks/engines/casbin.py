"""Casbin (``casbin``, PyCasbin): one policy line per rule, in order, with the priority effect.

The model (below) has a request ``(topic, env, net)`` and policy lines ``(topic, env,
net, index)``; the effect ``priority(p.eft) || deny`` stops at the first line whose
matcher holds, and ``enforce_ex`` returns that line, whose index gives the rule (a line
that matches nothing leaves the default decision). Before the rules, a line for the
undeclared envs wins over every rule.

Casbin's built-in matchers do not have these semantics (``globMatch`` is a character
glob, ``ipMatch`` tests an address, not a network, against a network), so each field is
matched by a Python function registered with ``add_function``, as a Casbin user would
write it. A field is a conjunction of conditions separated by ``;``, each a ``|``-list of
values, ``!`` in front when negated (empty: no condition): topic patterns are compiled to
regular expressions (`*` one segment, `**` zero or more), envs to sets, networks to
``ipaddress`` networks, once per distinct field (cached). The request network is parsed
once per decision in Python (IPv4-mapped read as IPv4) and passed as an object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import TypeVar

from dualgate.compiler.ir import (
    CidrCondition,
    Condition,
    EnvCondition,
    Policy,
    TopicCondition,
    TopicPattern,
)
from dualgate.compiler.topics import ANY, SINGLE
from engines import UNKNOWN_ENV, Decisions, Network, Outcome, request_network

MODEL = """
[request_definition]
r = topic, env, net

[policy_definition]
p = topic, env, net, index

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = topicMatch(r.topic, p.topic) && envMatch(r.env, p.env) && netMatch(r.net, p.net)
"""

GUARD = "guard"
T = TypeVar("T")


def topic_regex(patterns: Sequence[TopicPattern]) -> re.Pattern[str]:
    """A regex that fully matches ``topic + "."`` exactly when one of ``patterns``
    matches ``topic``."""
    pieces = {SINGLE: r"[^.]+\.", ANY: r"(?:[^.]+\.)*"}
    alternatives = ("".join(pieces.get(s, re.escape(s) + r"\.") for s in p.segments)
                    for p in patterns)
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def _field(conditions: Sequence[Condition]) -> str:
    parts = []
    for condition in conditions:
        if isinstance(condition, TopicCondition):
            values = [p.text for p in condition.patterns]
        elif isinstance(condition, EnvCondition):
            values = list(condition.envs)
        else:
            assert isinstance(condition, CidrCondition)
            values = [str(n) for n in condition.networks]
        parts.append(("!" if condition.negated else "") + "|".join(values))
    return ";".join(parts)


def translate(policy: Policy) -> str:
    """The policy lines, as a ``policy.csv`` holds them."""
    lines = []
    if policy.envs:
        lines.append(f"p, , !{'|'.join(policy.env_names)}, , {GUARD}")
    for index, rule in enumerate(policy.rules):
        fields = [_field([c for c in rule.conditions if isinstance(c, kind)])
                  for kind in (TopicCondition, EnvCondition, CidrCondition)]
        lines.append(f"p, {', '.join(fields)}, {index}")
    return "\n".join(lines) + "\n"


def _parse(field: str, value: Callable[[list[str]], T]) -> list[tuple[bool, T]]:
    return [(part.startswith("!"), value(part.removeprefix("!").split("|")))
            for part in field.split(";") if part]


@cache
def _topic_field(field: str) -> list[tuple[bool, re.Pattern[str]]]:
    return _parse(field, lambda texts: topic_regex([TopicPattern.parse(t) for t in texts]))


@cache
def _env_field(field: str) -> list[tuple[bool, frozenset[str]]]:
    return _parse(field, frozenset)


@cache
def _net_field(field: str) -> list[tuple[bool, tuple[Network, ...]]]:
    return _parse(field, lambda texts: tuple(ipaddress.ip_network(t) for t in texts))


def topic_match(topic: str, field: str) -> bool:
    dotted = topic + "."
    return all((regex.fullmatch(dotted) is not None) != negated
               for negated, regex in _topic_field(field))


def env_match(env: str, field: str) -> bool:
    return all((env in envs) != negated for negated, envs in _env_field(field))


def net_match(net: Network | None, field: str) -> bool:
    return all(
        (net is not None and any(net.version == n.version and net.subnet_of(n)  # type: ignore[arg-type]
                                 for n in networks)) != negated
        for negated, networks in _net_field(field)
    )


class CasbinEngine:
    def __init__(self, policy: Policy) -> None:
        import casbin
        from casbin.persist.adapters.string_adapter import StringAdapter

        model = casbin.Enforcer.new_model(text=MODEL)
        self._enforcer = casbin.Enforcer(model, StringAdapter(translate(policy)))
        self._enforcer.add_function("topicMatch", topic_match)
        self._enforcer.add_function("envMatch", env_match)
        self._enforcer.add_function("netMatch", net_match)
        self._decisions = Decisions(policy)

    def decide(self, topic: str, env: str, cidr: str | None) -> Outcome:
        net = None if cidr is None else request_network(cidr)
        _, line = self._enforcer.enforce_ex(topic, env, net)
        if not line:
            return self._decisions.default
        index = line[-1]
        return UNKNOWN_ENV if index == GUARD else self._decisions.rules[int(index)]


def build(policy: Policy) -> CasbinEngine:
    return CasbinEngine(policy)
