"""The policy engines ``bench_runtime.py`` sets beside dualgate, one module per engine.

Each module has ``build(policy) -> Engine``: it translates a dualgate IR policy into the
engine's own policy language, loads it into the engine, and returns an object whose
``decide(topic, env, cidr)`` gives ``(decision, rule id or None)`` with dualgate's
first-match semantics (docs/design.md, "Semantics"): the first rule whose every condition
holds decides, else ``default_decision``; an env the policy does not declare is denied
before any rule (rule None). Whatever a module does in Python around the engine call
(preparing the request, reading the answer) is part of ``decide`` and so of its time.

The requests are well-formed (valid topic, valid cidr or none): request validation is
the same cheap step in front of every engine and is not re-implemented here.

The engines are optional (``pip install -e '.[bench]'``); a module imports its engine
only when ``build`` is called, so the others run without it.
"""

from __future__ import annotations

import ipaddress
from importlib import import_module
from typing import Protocol

from dualgate.compiler.ir import Policy, TopicPattern
from dualgate.compiler.topics import ANY, SINGLE

#: ``(decision, rule id)``; the rule is None for the default decision and unknown envs.
Outcome = tuple[str, str | None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Engine name -> module (in this package) and the distribution that provides the engine.
ENGINES = {
    "cedar": ("engines.cedar", "cedarpy"),
    "rego": ("engines.rego", "regopy"),
    "casbin": ("engines.casbin", "casbin"),
}


class Engine(Protocol):
    """A loaded translation of one policy."""

    def decide(self, topic: str, env: str, cidr: str | None) -> Outcome: ...


class BuildEngine(Protocol):
    def __call__(self, policy: Policy) -> Engine: ...


class UntranslatableError(ValueError):
    """The policy uses a construct the engine's language cannot express exactly."""


def builder(name: str) -> BuildEngine:
    """The ``build`` function of engine ``name`` (imports its module, not yet the engine)."""
    module = import_module(ENGINES[name][0])
    build: BuildEngine = module.build
    return build


class Decisions:
    """Rule index -> outcome, shared by the engines that answer with a rule index."""

    def __init__(self, policy: Policy) -> None:
        self.rules: list[Outcome] = [(str(r.decision), r.id) for r in policy.rules]
        self.default: Outcome = (str(policy.default_decision), None)

    def of(self, index: int | None) -> Outcome:
        return self.default if index is None else self.rules[index]


UNKNOWN_ENV: Outcome = ("deny", None)

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def request_network(cidr: str) -> Network:
    """The request's network, an IPv4-mapped IPv6 network read as the IPv4 network."""
    network = ipaddress.ip_network(cidr)
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 \
            and network.subnet_of(_IPV4_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def is_literal(pattern: TopicPattern) -> bool:
    return SINGLE not in pattern.segments and ANY not in pattern.segments
