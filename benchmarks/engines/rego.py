"""Rego (``regopy``, the rego-cpp interpreter): the first match computed in Rego.

Rule ``i`` becomes ``match contains i if { ... }`` with one body line per condition;
``first`` is the index no other match is below (``-1`` when nothing matches): the first
match. Not ``min(match)``: rego-cpp's ``min`` compares numbers as text (``min({7, 11})``
is 11), and ``sort(match)[0]`` is undefined there. ``unknown_env`` holds for an env the
policy does not declare. The module is compiled once into a rego-cpp bundle
(``Interpreter.build``); every decision sets the request as the input and runs the
bundle's plan for ``result`` (``query_bundle_entrypoint``), the fast path of the library
(``Interpreter.query`` compiles the query on every call, and ``query_bundle`` with a
query costs more than the entrypoint).

- topic: ``glob.match(p, ["."], input.topic)`` over a list of globs. A glob `*` is one
  segment, but a glob `**` matches one or more segments where dualgate's matches zero or
  more, so each `**` is expanded into the two cases, the glob with it and the glob
  without it (``svc1.**`` -> ``svc1.**``, ``svc1``). Literal patterns are compared with
  ``==`` / ``in``.
- env: ``input.env == "..."`` or ``in [...]``; ``!=`` / ``not`` for the negated forms.
- cidr: rego-cpp implements none of the ``net.*`` built-ins (``net.cidr_contains`` is
  missing), so the request network is turned into its prefix bits in Python, ``"4:"``
  or ``"6:"`` then one character per bit of the prefix (IPv4-mapped read as IPv4), and
  every policy network likewise: "subnet of or equal" is then exactly ``startswith``.
  ``not net_in(...)`` holds without a cidr too, as ``cidr not in`` does.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from dualgate.compiler.ir import (
    CidrCondition,
    Condition,
    EnvCondition,
    Policy,
    TopicCondition,
    TopicPattern,
)
from dualgate.compiler.topics import ANY
from engines import UNKNOWN_ENV, Decisions, Network, Outcome, is_literal, request_network

PACKAGE = "dualgate"
ENTRYPOINT = f"{PACKAGE}/result"

_PRELUDE = f"""package {PACKAGE}
import rego.v1

topic_in(globs) if {{
	some g in globs
	glob.match(g, ["."], input.topic)
}}

net_in(prefixes) if {{
	some p in prefixes
	startswith(input.net, p)
}}

default first := -1
first := i if {{
	some i in match
	every j in match {{ i <= j }}
}}

default unknown_env := false
result := [unknown_env, first]
"""


def prefix_bits(network: Network) -> str:
    """``"4:"``/``"6:"`` and the network's prefix as a string of bits."""
    length = network.prefixlen
    value = int(network.network_address) >> (network.max_prefixlen - length)
    bits = format(value, f"0{length}b") if length else ""
    return f"{network.version}:{bits}"


def globs(pattern: TopicPattern) -> list[str]:
    """The globs that together match what ``pattern`` matches (see the module docstring)."""
    choices = [(s,) if s != ANY else (ANY, None) for s in pattern.segments]
    expanded = (".".join(s for s in combination if s is not None)
                for combination in itertools.product(*choices))
    return list(dict.fromkeys(g for g in expanded if g))


def _member(subject: str, values: list[str], negated: bool) -> str:
    """``subject`` is (not) one of ``values``: ``==``/``!=`` for one value, else ``in`` a
    list (in rego-cpp a set literal costs more than a list, and both more than ``==``)."""
    if len(values) == 1:
        return f"{subject} {'!=' if negated else '=='} {json.dumps(values[0])}"
    return f"{'not ' if negated else ''}{subject} in {json.dumps(values)}"


def _condition(condition: Condition) -> str:
    if isinstance(condition, EnvCondition):
        return _member("input.env", list(condition.envs), condition.negated)
    negation = "not " if condition.negated else ""
    if isinstance(condition, CidrCondition):
        prefixes = [prefix_bits(n) for n in condition.networks]
        return f"{negation}net_in({json.dumps(prefixes)})"
    assert isinstance(condition, TopicCondition)
    if all(is_literal(p) for p in condition.patterns):
        return _member("input.topic", [p.text for p in condition.patterns], condition.negated)
    alternatives = [g for p in condition.patterns for g in globs(p)]
    return f"{negation}topic_in({json.dumps(alternatives)})"


def translate(policy: Policy) -> str:
    """The Rego module (see the module docstring)."""
    parts = [_PRELUDE]
    if policy.envs:
        parts.append(f"unknown_env if {_member('input.env', list(policy.env_names), True)}\n")
    for index, rule in enumerate(policy.rules):
        body = "\n\t".join(_condition(c) for c in rule.conditions) or "true"
        parts.append(f"match contains {index} if {{\n\t{body}\n}}\n")
    return "\n".join(parts)


class RegoEngine:
    def __init__(self, policy: Policy) -> None:
        import regopy

        self._input = regopy.Input
        self._interpreter = regopy.Interpreter()
        self._interpreter.add_module(f"{PACKAGE}.rego", translate(policy))
        self._bundle = self._interpreter.build(None, [ENTRYPOINT])
        if not self._bundle.ok():
            raise RuntimeError(f"rego-cpp could not build the policy: {self._bundle.node()}")
        self._decisions = Decisions(policy)

    def decide(self, topic: str, env: str, cidr: str | None) -> Outcome:
        document: dict[str, Any] = {"topic": topic, "env": env}
        if cidr is not None:
            document["net"] = prefix_bits(request_network(cidr))
        self._interpreter.set_input(self._input(document))
        output = self._interpreter.query_bundle_entrypoint(self._bundle, ENTRYPOINT)
        unknown_env, first = output.results[0].expressions[0]
        if unknown_env:
            return UNKNOWN_ENV
        return self._decisions.of(None if first < 0 else first)


def build(policy: Policy) -> RegoEngine:
    return RegoEngine(policy)
