"""The evaluator: a validated bundle's decision table, ready for the gates' hot path.

Deciding a request costs a bounded number of steps whatever the number of rules: a topic
the policy writes literally is one dict lookup; any other is validated and walked through
the automaton, once, and then cached (a bounded LRU cache); the env is one dict lookup; a
bare IPv4 address is parsed inline (any other network by ``parse_network``, cached) and
matched against the class's networks by one bisect over their elementary intervals
(``dualgate.runtime.intervals``), or for a class's first few requests by a scan of its
few networks; and the class's verdict row gives the answer in one index. Verdicts are
immutable and built once per (rule, tier), then shared.

The first request of a class costs little more than any other: the class object takes
its layout and plane from the table as they are, its verdict row starts empty and is
filled slot by slot, and the network index is built only once the class is in use
(``INDEX_AFTER``). Most classes of a large policy are never touched at all.

Request data is bounded before any work (``dualgate.runtime.vocabulary``): a topic of more
than ``MAX_TOPIC_LENGTH`` characters or ``MAX_TOPIC_SEGMENTS`` segments, an env of more
than ``MAX_ENV_LENGTH`` or a cidr of more than ``MAX_CIDR_LENGTH`` characters is denied
as malformed at the cost of one ``len``. What is refused is never cached, nor are literal
topics and bare IPv4 addresses (they need no cache); the caches are bounded in size as
well as count: only topics of at most ``CACHED_TOPIC_LENGTH``
characters are cached (longer valid ones are walked each time, at most
``MAX_TOPIC_LENGTH`` characters), and cidrs are at most ``MAX_CIDR_LENGTH`` characters.

An ``Evaluator`` is safe to share between threads: after construction its state only
changes by whole-object replacement (the fail-mode view), through the thread-safe LRU
cache, by filling a class's verdict row, which any thread fills with equal values, or by
giving a class its network index, which is built whole before the attribute the hot path
tests is set (two threads may both build it; the results are equal).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from dualgate.runtime.bundle_format import (
    COLUMN_OUTSIDE_V4,
    COLUMN_OUTSIDE_V6,
    DEFAULT_ENTRY,
    FIRST_NETWORK_COLUMN,
)
from dualgate.runtime.intervals import NetworkIndex, network_index
from dualgate.runtime.networks import OCTET, OCTET_8, OCTET_16, OCTET_24, parse_network
from dualgate.runtime.validation import parse_timestamp
from dualgate.runtime.verdict import (
    DEFAULT,
    EVALUATION_ERROR,
    INVALID_CIDR,
    INVALID_ENV,
    INVALID_TOPIC,
    RULE,
    UNKNOWN_ENV,
    Verdict,
)
from dualgate.runtime.vocabulary import (
    MAX_CIDR_LENGTH,
    MAX_ENV_LENGTH,
    MAX_TOPIC_LENGTH,
    MAX_TOPIC_SEGMENTS,
    TOPIC,
    Decision,
    FailMode,
    TierName,
)

#: Distinct topics whose class is remembered; beyond it the least recently used go.
DEFAULT_TOPIC_CACHE_SIZE = 65_536
#: Distinct request cidrs whose parsed form is remembered.
DEFAULT_CIDR_CACHE_SIZE = 65_536
#: The longest topic the cache keeps: with the counts above, the caches hold at most
#: 65,536 x 128 topic characters and 65,536 x 64 cidr characters (some 30 MB with
#: Python's per-entry overhead), whatever requests arrive.
CACHED_TOPIC_LENGTH = 128


class _RefusedError(Exception):
    """Raised inside a cached function for a value it refuses, so the cache keeps nothing."""

TIER_ORDER = (TierName.HIGH, TierName.MEDIUM, TierName.LOW)

# Plain lookups: calling an enum costs a microsecond, on the first use of every class.
_TIERS = {tier.value: tier for tier in TierName}
_DECISIONS = {decision.value: decision for decision in Decision}


#: Uses of a class's networks before the class gets its layout's index: most classes of
#: a large policy see a request or two, and a scan of a few networks costs less than
#: building the intervals; a class in use pays that once (``Evaluator._scan_column``).
INDEX_AFTER = 8


class TopicClass:
    """What the table knows about the topics of one class, and its verdicts.

    ``cached`` pairs the fail-mode view a verdict row was built for with the row: one
    slot per plane entry, filled on first use (None until then), then the class's
    verdicts for an undeclared env, a non-string env and an invalid cidr. It is one
    attribute, written in one step, so a thread never pairs a row with the wrong view;
    a row of an older view is replaced by a new one.

    A request network is matched by scanning the layout's networks for the class's first
    ``INDEX_AFTER`` uses, then with the layout's ``networks`` index
    (``dualgate.runtime.intervals``), whose IPv4 intervals ``v4_bounds`` and
    ``v4_columns`` serve the common request, a bare IPv4 address. They are None until
    then; ``v4_bounds`` is set last, so a thread that sees it sees the others.
    """

    __slots__ = ("cached", "columns", "layout", "networks", "plane", "scan", "tier",
                 "uses", "v4_bounds", "v4_columns")

    def __init__(self, tier: TierName, layout: int, scan: list[int], plane: list[int]) -> None:
        self.tier = tier
        self.layout = layout
        self.scan = scan  # the layout's network indices, in column order
        self.columns = FIRST_NETWORK_COLUMN + len(scan)
        self.plane = plane
        self.uses = 0
        self.networks: NetworkIndex | None = None
        self.v4_columns: list[int] | None = None
        self.v4_bounds: list[int] | None = None
        self.cached: tuple[_View | None, list[Verdict | None]] = (None, [])


class Evaluator:
    """Decides requests with the decision table of one validated bundle content."""

    def __init__(
        self,
        content: Mapping[str, Any],
        bundle_hash: str,
        *,
        clock: Callable[[], float] = time.time,
        topic_cache_size: int = DEFAULT_TOPIC_CACHE_SIZE,
        cidr_cache_size: int = DEFAULT_CIDR_CACHE_SIZE,
        networks: list[tuple[int, int, int]] | None = None,
    ) -> None:
        """``networks`` is ``table.networks`` parsed, if the caller has it already (the
        loader's checks do); otherwise it is parsed here."""
        self.bundle_hash = bundle_hash
        table = content["table"]
        topics = table["topics"]
        self._exact: dict[str, int] = topics["exact"]
        self._next: list[dict[str, int]] = topics["next"]
        self._other: list[int] = topics["other"]
        # Classes are built when a topic first needs them: a large bundle has tens of
        # thousands, and a gate sees a few of them; loading stays proportional to parsing.
        self._table = table
        self._class_of_state: list[int] = topics["class"]
        self._classes: list[TopicClass | None] = [None] * len(table["classes"])
        self._indexes: dict[int, NetworkIndex] = {}
        if networks is None:
            networks = [parse_network(text) for text in table["networks"]]  # type: ignore[misc]
        self._networks: list[tuple[int, int, int]] = networks
        envs = content["envs"]
        self._env_index: dict[str, int] | None = (
            {env["name"]: i for i, env in enumerate(envs)} if envs else None
        )
        rules = content["rules"]
        self.rule_ids: list[str] = rules["id"]
        self.rule_decisions: list[str] = rules["decision"]  # as Decision on first use
        self.default = Decision(content["default_decision"])
        self._content = content
        self._clock = clock
        self._view = _View(content, clock())
        self._until = self._view.until
        self._invalid_topic = Verdict(Decision.DENY, None, INVALID_TOPIC, None, None,
                                      bundle_hash)
        self._evaluation_error = Verdict(Decision.DENY, None, EVALUATION_ERROR, None, None,
                                         bundle_hash)
        self._classify = lru_cache(maxsize=topic_cache_size)(self._walk)
        self._parse_cidr = lru_cache(maxsize=cidr_cache_size)(_parse_request_network)

    # -- the hot path --------------------------------------------------------------

    def decide(self, topic: object, env: object, cidr: object = None) -> Verdict:
        """The verdict on one request. Never raises: a malformed request is denied."""
        try:
            # Read once: another thread's refresh may set it to None between two reads.
            until = self._until
            if until is not None and self._clock() >= until:
                self._refresh()
            if not isinstance(topic, str):
                return self._invalid_topic
            # One length check keeps long topics out of the cache (and refuses overlong
            # ones) before any hashing or matching; `_walk` raises for what it refuses.
            size = len(topic)
            if size > MAX_TOPIC_LENGTH:
                return self._invalid_topic
            # A topic the policy writes literally is one dict lookup away from its class
            # (the loader checked those topics against the bounds): no cache, no walk.
            label = self._exact.get(topic)
            if label is not None:
                topic_class = self._classes[label] or self._materialize(label)
            else:
                try:
                    topic_class = (self._classify(topic) if size <= CACHED_TOPIC_LENGTH
                                   else self._walk(topic))
                except _RefusedError:
                    return self._invalid_topic
            view, verdicts = topic_class.cached
            if view is not self._view:
                verdicts = self._verdicts(topic_class)
            if not isinstance(env, str) or len(env) > MAX_ENV_LENGTH:
                return verdicts[-2]  # type: ignore[return-value]  # never None
            index = 0
            if self._env_index is not None:
                found = self._env_index.get(env)
                if found is None:
                    return verdicts[-3]  # type: ignore[return-value]
                index = found * topic_class.columns
            if cidr is not None:
                if not isinstance(cidr, str) or len(cidr) > MAX_CIDR_LENGTH:
                    return verdicts[-1]  # type: ignore[return-value]
                if ":" not in cidr and "/" not in cidr:
                    # A bare IPv4 address, the common request: parsed inline (a call and
                    # a cache would cost as much as the parse) and matched by one bisect.
                    # Without `:` and `/` only a dotted quad is valid, and a dict key is
                    # a canonical octet, so this accepts exactly what `parse_network`
                    # accepts; the exception is for invalid input only.
                    try:
                        a, b, c, d = cidr.split(".")
                        address = OCTET_24[a] + OCTET_16[b] + OCTET_8[c] + OCTET[d]
                    except (ValueError, KeyError):
                        return verdicts[-1]  # type: ignore[return-value]
                    bounds = topic_class.v4_bounds
                    if bounds is not None:
                        index += topic_class.v4_columns[  # type: ignore[index]
                            bisect_right(bounds, address)]
                    else:
                        index += self._scan_column(topic_class, 4, address, 32)
                else:
                    try:
                        version, address, length = self._parse_cidr(cidr)
                    except _RefusedError:
                        return verdicts[-1]  # type: ignore[return-value]
                    networks = topic_class.networks
                    index += (networks.column(version, address, length) if networks
                              else self._scan_column(topic_class, version, address, length))
            # index: column 0 (COLUMN_ABSENT) without a cidr.
            return verdicts[index] or self._fill(topic_class, verdicts, index)
        except Exception:  # only hostile objects get here (a str whose hash raises)
            return self._evaluation_error

    def _walk(self, topic: str) -> TopicClass:
        """The class of ``topic`` (at most ``MAX_TOPIC_LENGTH`` characters, not one of the
        policy's literal topics, which ``decide`` and ``tier_of`` look up first); raises
        ``_RefusedError`` for a malformed one, so that the cache never keeps it."""
        if topic.count(".") >= MAX_TOPIC_SEGMENTS or TOPIC.fullmatch(topic) is None:
            raise _RefusedError
        nexts, other, state = self._next, self._other, 0
        for segment in topic.split("."):
            state = nexts[state].get(segment, other[state])
        label = self._class_of_state[state]
        if label < 0:
            raise _RefusedError  # only the start state, which no valid topic ends in
        return self._classes[label] or self._materialize(label)

    def _materialize(self, label: int) -> TopicClass:
        tier, layout, plane = self._table["classes"][label]
        topic_class = TopicClass(_TIERS[tier], layout, self._table["layouts"][layout],
                                 self._table["planes"][plane])
        self._classes[label] = topic_class
        return topic_class

    def _scan_column(self, topic_class: TopicClass, version: int, address: int,
                     length: int) -> int:
        """The column of a request network for a class without an index yet: by a scan
        of its networks, or, once the class is in use, by the index it then gets."""
        topic_class.uses += 1
        if topic_class.uses > INDEX_AFTER:
            index = self._indexes.get(topic_class.layout)
            if index is None:
                networks = [self._networks[i] for i in topic_class.scan]
                index = self._indexes[topic_class.layout] = network_index(
                    [(a, p) for v, a, p in networks if v == 4],
                    [(a, p) for v, a, p in networks if v == 6],
                    FIRST_NETWORK_COLUMN, COLUMN_OUTSIDE_V4, COLUMN_OUTSIDE_V6)
            topic_class.networks = index
            topic_class.v4_columns = index.v4[1]
            topic_class.v4_bounds = index.v4[0]
            return index.column(version, address, length)
        # In column order, so the last network holding the request is the deepest.
        column, width = (COLUMN_OUTSIDE_V4, 32) if version == 4 else (COLUMN_OUTSIDE_V6, 128)
        networks = self._networks
        for candidate, i in enumerate(topic_class.scan, FIRST_NETWORK_COLUMN):
            family, network, prefix = networks[i]
            if family == version and prefix <= length \
                    and (address ^ network) >> (width - prefix) == 0:
                column = candidate
        return column

    # -- verdicts ------------------------------------------------------------------

    def _verdicts(self, topic_class: TopicClass) -> list[Verdict | None]:
        """A new verdict row for the current view (see ``TopicClass``), still unfilled."""
        view = self._view
        row: list[Verdict | None] = [None] * len(topic_class.plane)
        row += view.malformed(self, topic_class.tier)
        topic_class.cached = (view, row)
        return row

    def _fill(self, topic_class: TopicClass, row: list[Verdict | None], index: int) -> Verdict:
        """Fill one slot of a verdict row (any thread fills it with the same verdict)."""
        # The current view, even for a row of an older one: a decision racing a refresh
        # may answer with either view, and a stale row is replaced on its next use.
        verdict = row[index] = self._view.rule_verdict(
            self, topic_class.plane[index], topic_class.tier)
        return verdict

    def _refresh(self) -> None:
        """An override expired: a new view of the fail modes; older verdict rows are stale."""
        self._view = view = _View(self._content, self._clock())
        self._until = view.until

    # -- outside the hot path ------------------------------------------------------

    def tier_of(self, topic: object) -> TierName | None:
        """The risk tier of ``topic`` (None when it is no valid topic); never raises.

        What a gate needs when a decision could not be made but the tier's fail mode must
        still be applied.
        """
        if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH:
            return None
        try:
            label = self._exact.get(topic)
            if label is not None:
                return (self._classes[label] or self._materialize(label)).tier
            # Cached only when short, as in `decide`, so the cache stays bounded in size.
            classify = self._classify if len(topic) <= CACHED_TOPIC_LENGTH else self._walk
            return classify(topic).tier
        except Exception:  # refused, or a str subclass whose hash raises: fail closed
            return None

    def fail_mode(self, tier: TierName) -> FailMode:
        """The effective fail mode of ``tier`` now (overrides applied)."""
        until = self._until
        if until is not None and self._clock() >= until:
            self._refresh()
        return self._view.modes[tier]

    def cache_info(self) -> dict[str, Any]:
        """Hits, misses and size of the topic and cidr caches (``functools`` cache info)."""
        return {"topics": self._classify.cache_info(), "cidrs": self._parse_cidr.cache_info()}

    def clear_caches(self) -> None:
        """Forget every cached topic and cidr (the next decisions run cold)."""
        self._classify.cache_clear()
        self._parse_cidr.cache_clear()


def _parse_request_network(text: str) -> tuple[int, int, int]:
    """A request's network, parsed; raises ``_RefusedError`` so the cache never keeps a fault."""
    network = parse_network(text)
    if network is None:
        raise _RefusedError
    return network


class _View:
    """The effective fail mode of each tier at one time, valid until ``until`` (None:
    for good), and the verdicts built with them."""

    __slots__ = ("malformed_verdicts", "modes", "rule_verdicts", "until")

    def __init__(self, content: Mapping[str, Any], now: float) -> None:
        declared = {TierName(t["name"]): FailMode(t["fail_mode"]) for t in content["tiers"]}
        # An undeclared tier (a default_tier nobody declared) fails closed: when in doubt.
        modes = {tier: declared.get(tier, FailMode.CLOSED) for tier in TIER_ORDER}
        until: float | None = None
        for override in content["overrides"]:
            expiry = parse_timestamp(override["until"], "until").timestamp()
            if now < expiry:
                modes[TierName(override["tier"])] = FailMode(override["fail_mode"])
                until = expiry if until is None else min(until, expiry)
        self.modes = modes
        self.until = until
        self.rule_verdicts: dict[tuple[int, TierName], Verdict] = {}
        self.malformed_verdicts: dict[TierName, list[Verdict]] = {}

    def malformed(self, evaluator: Evaluator, tier: TierName) -> list[Verdict]:
        """The verdicts for an undeclared env, a non-string env and an invalid cidr."""
        verdicts = self.malformed_verdicts.get(tier)
        if verdicts is None:
            verdicts = self.malformed_verdicts[tier] = [
                Verdict(Decision.DENY, None, reason, tier, self.modes[tier],
                        evaluator.bundle_hash)
                for reason in (UNKNOWN_ENV, INVALID_ENV, INVALID_CIDR)]
        return verdicts

    def rule_verdict(self, evaluator: Evaluator, entry: int, tier: TierName) -> Verdict:
        """The shared verdict for a plane entry (a rule index or the default) in ``tier``."""
        verdict = self.rule_verdicts.get((entry, tier))
        if verdict is None:
            if entry == DEFAULT_ENTRY:
                decision, rule, reason = evaluator.default, None, DEFAULT
            else:
                decision = _DECISIONS[evaluator.rule_decisions[entry]]
                rule, reason = evaluator.rule_ids[entry], RULE
            verdict = Verdict(decision, rule, reason, tier, self.modes[tier],
                              evaluator.bundle_hash)
            self.rule_verdicts[(entry, tier)] = verdict
        return verdict
