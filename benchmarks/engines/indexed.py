"""A hand-written indexed first-match engine: what a user could write in an afternoon.

Not a translation into another language: plain Python over the IR, the index a careful
user would build by hand for the cold workload's policies. Exact topics go in a dict
(topic -> rule indices), globs that are a literal prefix then ``*``/``**`` wildcards
(``ns.*.**``, ``ns.**``) in a dict keyed by the prefix with the fewest segments they
need; any other rule is tried for every request. The candidates are tried in rule
order; env sets are frozensets, networks ints with a mask, and the request's address
is parsed to an int once (dotted quads by hand, anything else with ``ipaddress``).
Topic patterns of other shapes and negated topic conditions are refused
(``UntranslatableError``): the cold workload writes none.
"""

from __future__ import annotations

from dualgate.compiler.ir import CidrCondition, EnvCondition, Policy, TopicCondition
from dualgate.compiler.topics import ANY, SINGLE
from engines import UNKNOWN_ENV, Decisions, Outcome, UntranslatableError, request_network

_OCTET = {str(i): i for i in range(256)}
#: Per rule: allowed envs (None: any), networks as (version, network, mask, prefix) or
#: None, and whether the cidr condition is negated.
_Check = tuple[frozenset[str] | None, tuple[tuple[int, int, int, int], ...] | None, bool]


class IndexedEngine:
    def __init__(self, policy: Policy) -> None:
        self.decisions = Decisions(policy)
        self.envs = frozenset(policy.env_names) if policy.envs else None
        self.exact: dict[str, list[int]] = {}
        #: prefix -> (segments needed, exactly that many?) -> the rules, in order
        self.prefix: dict[str, dict[tuple[int, bool], list[int]]] = {}
        self.always: list[int] = []
        self.checks: list[_Check] = []
        for index, rule in enumerate(policy.rules):
            envs, networks, negated = None, None, False
            topics = [c for c in rule.conditions if isinstance(c, TopicCondition)]
            if len(topics) > 1 or any(c.negated for c in topics):
                raise UntranslatableError(f"rule `{rule.id}`: one positive topic condition")
            for pattern in topics[0].patterns if topics else ():
                head = [s for s in pattern.segments if s not in (SINGLE, ANY)]
                tail = pattern.segments[len(head):]
                if len(head) == len(pattern.segments):
                    self.exact.setdefault(pattern.text, []).append(index)
                elif not head or any(s not in (SINGLE, ANY) for s in tail):
                    raise UntranslatableError(f"topic pattern `{pattern.text}`")
                else:
                    self.prefix.setdefault(".".join(head), {}).setdefault(
                        (len(head) + tail.count(SINGLE), ANY not in tail), []).append(index)
            if not topics:
                self.always.append(index)
            for c in rule.conditions:
                if isinstance(c, EnvCondition):
                    envs = (frozenset(policy.env_names) - set(c.envs) if c.negated
                            else frozenset(c.envs))
                elif isinstance(c, CidrCondition):
                    networks, negated = tuple(
                        (n.version, int(n.network_address), int(n.netmask), n.prefixlen)
                        for n in c.networks), c.negated
            self.checks.append((envs, networks, negated))

    def decide(self, topic: str, env: str, cidr: str | None) -> Outcome:
        if self.envs is not None and env not in self.envs:
            return UNKNOWN_ENV
        segments = topic.split(".")
        count = len(segments)
        found = [*self.exact.get(topic, ()), *self.always]
        for i in range(1, count):
            for (needed, fixed), indices in self.prefix.get(".".join(segments[:i]), {}).items():
                if count == needed if fixed else count >= needed:
                    found += indices
        found.sort()  # first match: the candidates in rule order
        version, address, length = _address(cidr) if cidr is not None else (0, 0, 0)
        for index in found:
            envs, networks, negated = self.checks[index]
            if envs is not None and env not in envs:
                continue
            if networks is not None:
                inside = False
                for v, n, m, p in networks:
                    if v == version and address & m == n and p <= length:
                        inside = True
                        break
                if inside == negated:
                    continue
            return self.decisions.of(index)
        return self.decisions.of(None)


def _address(cidr: str) -> tuple[int, int, int]:
    """(version, address as an int, prefix): dotted quads by hand, the rest by ipaddress."""
    try:
        a, b, c, d = cidr.split(".")
        return 4, _OCTET[a] << 24 | _OCTET[b] << 16 | _OCTET[c] << 8 | _OCTET[d], 32
    except (ValueError, KeyError):  # not four canonical octets: a network, or IPv6
        pass
    network = request_network(cidr)
    return network.version, int(network.network_address), network.prefixlen


def build(policy: Policy) -> IndexedEngine:
    return IndexedEngine(policy)
