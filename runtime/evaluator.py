"""The evaluator: a validated bundle's decision table, ready for the gates' hot path.

Deciding a request costs a bounded number of steps whatever the number of rules: a topic
the policy writes literally is one dict lookup; any other is validated and walked through
the automaton, once, and then cached (a bounded LRU cache); the env is one dict lookup; a
bare IPv4 address is parsed inline by C's strict ``inet_pton`` (``networks.ipv4_bytes``;
any other network by ``parse_network``, cached) and found in the bundle's one network
index (``dualgate.runtime.intervals``, built at load) by one bisect among the bounds of
the address's block, which gives the deepest of all the bundle's networks holding it; the
class's column is that of the first network of the chain from there to enclosing ones
its layout lists (mostly one more bisect in the layout); the class's plane gives the
rule (or the default) for the env's row and that column, and the current fail-mode view
its verdict in the class's tier. Verdicts are immutable and made once per (rule, tier),
then shared: at load for what ``table.tier_entries`` names (what the planes use), any
other on first use (after an override expires, the new view's too).

Nothing is built per class after load: every class is one tuple made at load from the
table's columns, every literal topic maps to its class's tuple, and the planes lie in one
array of machine integers. A large policy's cold traffic (new topics and addresses in
most requests) is bound by memory, not work, so the hot path touches few objects: at
100,000 rules the table is tens of megabytes, and each object a request reads is a
likely cache miss.

Request data is bounded before any work (``dualgate.runtime.vocabulary``): a topic of more
than ``MAX_TOPIC_LENGTH`` characters or ``MAX_TOPIC_SEGMENTS`` segments, an env of more
than ``MAX_ENV_LENGTH`` or a cidr of more than ``MAX_CIDR_LENGTH`` characters is denied
as malformed at the cost of one ``len``. What is refused is never cached, nor are literal
topics and bare IPv4 addresses (they need no cache), but a refused short topic is
remembered in a set of its own (at most ``REFUSED_TOPICS_KEPT``, then it starts over), so a
client repeating a malformed topic costs one set lookup instead of a validation and an
exception each time, and a flood of malformed topics evicts no valid one from the topic
cache. The caches are bounded in size as well as count: only topics of at most
``CACHED_TOPIC_LENGTH`` characters are cached (longer valid ones are walked each time, at most
``MAX_TOPIC_LENGTH`` characters), and cidrs are at most ``MAX_CIDR_LENGTH`` characters.

An ``Evaluator`` is safe to share between threads: after construction its state only
changes by whole-object replacement (the fail-mode view, with verdicts of its own),
through the thread-safe LRU cache, by adding to or clearing the refused-topic set (each
one atomic step), or by filling a slot of a view's verdicts by rule, which any thread
fills with equal values.
"""

from __future__ import annotations

import time
from array import array
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
from dualgate.runtime.intervals import OUTSIDE, column_in, network_index
from dualgate.runtime.networks import IPV4, ipv4_bytes, parse_network
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
#: How many refused topics (each at most ``CACHED_TOPIC_LENGTH`` characters) are remembered.
REFUSED_TOPICS_KEPT = 4_096


_from_bytes = int.from_bytes


class _RefusedError(Exception):
    """Raised inside a cached function for a value it refuses, so the cache keeps nothing."""

TIER_ORDER = (TierName.HIGH, TierName.MEDIUM, TierName.LOW)

# A plain lookup: calling an enum costs a microsecond.
_DECISIONS = {decision.value: decision for decision in Decision}


#: A topic class as ``decide`` reads it, one tuple built at load (its fields lie in one
#: object, so a request's first touch of a class is one cache line, not a chain of them):
#: its tier's number in ``TIER_ORDER``; its layout, the numbers of the networks that matter
#: to the class, ascending (the i-th is column ``FIRST_NETWORK_COLUMN + i``); where its
#: plane starts in the table's flat list of planes; and its columns (the layout's count
#: plus the columns before them: one env's share of the plane, one row per env).
_Class = tuple[int, tuple[int, ...], int, int]

_TIER_NUMBERS = {tier.value: number for number, tier in enumerate(TIER_ORDER)}


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
        # One map of literal edges per state, shared by the states the bundle gives the
        # same one (it stores each distinct map once): a few milliseconds at 100k rules.
        self._next: list[dict[str, int]] = list(
            map(topics["transitions"].__getitem__, topics["next"]))
        self._other: list[int] = topics["other"]
        # Every class is one tuple, built at load from the table's class columns (some
        # 15 ms at 100,000 rules, mostly C loops), and every literal topic maps to
        # its class's tuple: a request's class is one lookup away, with nothing built on
        # its first use (a large policy's cold traffic first-touches a class in about a
        # third of its requests; each would cost several cache misses more).
        # Layouts as tuples (items inline: one object less to read) of one shared
        # integer per network (the parsed bundle holds one per occurrence).
        numbers = list(range(len(table["networks"])))
        layouts = [tuple(map(numbers.__getitem__, layout)) for layout in table["layouts"]]
        classes = table["classes"]
        class_layouts = list(map(layouts.__getitem__, classes["layout"]))
        self._classes: list[_Class] = list(zip(
            map(_TIER_NUMBERS.__getitem__, classes["tier"]), class_layouts,
            # New integers, made one after another: the parsed ones lie scattered among
            # the rest of the content, a cache miss more for each class a request reads.
            map((0).__add__, classes["plane"]),
            [FIRST_NETWORK_COLUMN + len(layout) for layout in class_layouts], strict=True))
        self._exact: dict[str, _Class] = dict(zip(
            topics["exact"], map(self._classes.__getitem__, topics["exact"].values()),
            strict=True))
        # The planes as one array of machine integers (a few milliseconds at 100,000
        # rules): a request reads one entry, which in a list would be a pointer to an
        # integer object of its own, two cache misses in some 28 MB instead of one in 3.
        # Public: a document the loader read shares it (`load_bundle`).
        self.planes = array("i", table["planes"])
        self._class_of_state: list[int] = topics["class"]
        if networks is None:
            networks = [parse_network(text) for text in table["networks"]]  # type: ignore[misc]
        # One index of every network, for every class: a few milliseconds at load for
        # 100,000 rules, and a class's first request builds nothing for its networks.
        index = self._network_index = network_index(networks)
        self._v4_bounds, self._v4_deepest = index.v4_bounds, index.v4_deepest
        self._v4_shift, self._v4_starts = index.v4_shift, index.v4_starts
        self._chain = index.chain
        envs = content["envs"]
        self._env_index: dict[str, int] | None = (
            {env["name"]: i for i, env in enumerate(envs)} if envs else None
        )
        rules = content["rules"]
        self.rule_ids: list[str] = rules["id"]
        self.rule_decisions: list[Decision] = list(
            map(_DECISIONS.__getitem__, rules["decision"]))
        self.default = Decision(content["default_decision"])
        self._content = content
        self._clock = clock
        self._view = _View(content, clock(), bundle_hash, len(self.rule_ids))
        # The verdicts the planes use, made now rather than on a request's first use; a
        # later view (an override expired) makes its own on first use, so that no
        # request waits for them all.
        self._view.make_verdicts(self, table["tier_entries"])
        self._until = self._view.until
        self._invalid_topic = Verdict(Decision.DENY, None, INVALID_TOPIC, None, None,
                                      bundle_hash)
        self._evaluation_error = Verdict(Decision.DENY, None, EVALUATION_ERROR, None, None,
                                         bundle_hash)
        self._classify = lru_cache(maxsize=topic_cache_size)(self._walk)
        self._refused_topics: set[str] = set()
        self._parse_cidr = lru_cache(maxsize=cidr_cache_size)(_parse_request_network)

    # -- the hot path --------------------------------------------------------------

    # One function on purpose: on the hot path a call costs as much as a step.
    def decide(self, topic: object, env: object,  # noqa: PLR0915
               cidr: object = None) -> Verdict:
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
            topic_class = self._exact.get(topic)
            if topic_class is None:
                if topic in self._refused_topics:
                    return self._invalid_topic
                try:
                    topic_class = (self._classify(topic) if size <= CACHED_TOPIC_LENGTH
                                   else self._walk(topic))
                except _RefusedError:
                    # Only plain strings: a subclass could compare equal to others.
                    if size <= CACHED_TOPIC_LENGTH and type(topic) is str:
                        self._remember_refused(topic)
                    return self._invalid_topic
            tier, layout, index, columns = topic_class  # index: where the plane starts
            # Read once, and after the refresh above: the kit and a verdict made for it
            # below belong to one view, whatever another thread's refresh does meanwhile.
            view = self._view
            malformed, by_entry = view.kits[tier]
            if not isinstance(env, str) or len(env) > MAX_ENV_LENGTH:
                return malformed[1]
            if self._env_index is not None:
                found = self._env_index.get(env)
                if found is None:
                    return malformed[0]
                index += found * columns
            if cidr is not None:
                if not isinstance(cidr, str) or len(cidr) > MAX_CIDR_LENGTH:
                    return malformed[2]
                if ":" not in cidr and "/" not in cidr:
                    # A bare IPv4 address, the common request: parsed inline by C's
                    # strict inet_pton (``ipv4_bytes``: a call and a cache would cost as
                    # much as the parse), which takes exactly the dotted quads that
                    # `parse_network` takes. Without `:` and `/` only a dotted quad is
                    # valid, so anything else is refused; the exception is for invalid
                    # input only (a network would pay it: it has a `/`).
                    try:
                        address = _from_bytes(ipv4_bytes(IPV4, cidr))
                    except (OSError, ValueError):  # ValueError: a NUL or a lone surrogate
                        return malformed[2]
                    # The deepest network holding it (`NetworkIndex.deepest_v4`, inlined:
                    # a bisect in the address's block), then the first network of its
                    # chain of enclosing ones that the class's layout lists (`column_in`,
                    # inlined: a bisect in the chain, some ten networks long in a large
                    # policy, for each listed network not on it).
                    block, starts = address >> self._v4_shift, self._v4_starts
                    network = self._v4_deepest[bisect_right(
                        self._v4_bounds, address, starts[block], starts[block + 1])]
                    column = COLUMN_OUTSIDE_V4
                    if network != OUTSIDE:
                        chain = self._chain[network]
                        while True:
                            at = bisect_right(layout, network) - 1
                            if at < 0:
                                break
                            listed = layout[at]
                            # The deepest of the chain numbered up to `listed`.
                            up = bisect_right(chain, listed) - 1
                            if up < 0:
                                break
                            network = chain[up]
                            if network == listed:
                                column = FIRST_NETWORK_COLUMN + at
                                break
                    index += column
                else:
                    try:
                        version, address, length = self._parse_cidr(cidr)
                    except _RefusedError:
                        return malformed[2]
                    index += column_in(
                        layout,
                        self._network_index.deepest(version, address, length),
                        self._chain, FIRST_NETWORK_COLUMN,
                        COLUMN_OUTSIDE_V4 if version == 4 else COLUMN_OUTSIDE_V6)
            # index: the plane's entry of the env's row and the column (COLUMN_ABSENT
            # without a cidr), a rule's number or DEFAULT_ENTRY; its verdict in the tier
            # was made at load (`table.tier_entries`), or is made on the first use of the
            # pair (any thread makes it alike).
            entry = self.planes[index]
            return by_entry[entry] or view.rule_verdict(self, entry, tier)
        except Exception:  # only hostile objects get here (a str whose hash raises)
            return self._evaluation_error

    def _remember_refused(self, topic: str) -> None:
        # Set operations are atomic under the GIL: threads may both clear, never corrupt.
        refused = self._refused_topics
        if len(refused) >= REFUSED_TOPICS_KEPT:
            refused.clear()
        refused.add(topic)

    def _walk(self, topic: str) -> _Class:
        """The class of ``topic`` (at most ``MAX_TOPIC_LENGTH`` characters, not one of the
        policy's literal topics, which ``decide`` and ``tier_of`` look up first); raises
        ``_RefusedError`` for a malformed one, so that the cache never keeps it."""
        segments = topic.split(".")
        # Valid: 1..MAX_TOPIC_SEGMENTS segments, none empty, of ASCII letters, digits,
        # `_` and `-` (TOPIC). Most topics are letters, digits and dots only, which
        # isascii + isalnum check at a third of the regex's cost; the regex decides the
        # rest.
        if (len(segments) > MAX_TOPIC_SEGMENTS or "" in segments
                or not ((topic.isascii() and topic.replace(".", "").isalnum())
                        or TOPIC.fullmatch(topic) is not None)):
            raise _RefusedError
        nexts, other, state = self._next, self._other, 0
        for segment in segments:
            state = nexts[state].get(segment, other[state])
        label = self._class_of_state[state]
        if label < 0:
            raise _RefusedError  # only the start state, which no valid topic ends in
        return self._classes[label]

    # -- fail modes -----------------------------------------------------------------

    def _refresh(self) -> None:
        """An override expired: a new view of the fail modes, with verdicts of its own."""
        self._view = view = _View(self._content, self._clock(), self.bundle_hash,
                                  len(self.rule_ids))
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
            topic_class = self._exact.get(topic)
            if topic_class is None:
                # Cached only when short, as in `decide`, so the cache stays bounded in size.
                topic_class = (self._classify(topic) if len(topic) <= CACHED_TOPIC_LENGTH
                               else self._walk(topic))
            return TIER_ORDER[topic_class[0]]
        except Exception:  # refused, or a str subclass whose hash raises: fail closed
            return None

    def fail_mode(self, tier: TierName) -> FailMode:
        """The effective fail mode of ``tier`` now (overrides applied)."""
        until = self._until
        if until is not None and self._clock() >= until:
            self._refresh()
        return self._view.modes[tier]

    def cache_info(self) -> dict[str, Any]:
        """Hits, misses and size of the topic and cidr caches (``functools`` cache info),
        and how many refused topics are remembered."""
        return {"topics": self._classify.cache_info(), "cidrs": self._parse_cidr.cache_info(),
                "refused_topics": len(self._refused_topics)}

    def clear_caches(self) -> None:
        """Forget every cached topic and cidr and every refused topic (the next decisions
        run cold)."""
        self._classify.cache_clear()
        self._refused_topics.clear()
        self._parse_cidr.cache_clear()


def _parse_request_network(text: str) -> tuple[int, int, int]:
    """A request's network, parsed; raises ``_RefusedError`` so the cache never keeps a fault."""
    network = parse_network(text)
    if network is None:
        raise _RefusedError
    return network


class _View:
    """The effective fail mode of each tier at one time, valid until ``until`` (None:
    for good), and the verdicts made with them: ``kits`` holds, for each tier of
    ``TIER_ORDER``, its verdicts for an undeclared env, a non-string env and an invalid
    cidr, and a list of its verdicts by plane entry (a rule's number, or
    ``DEFAULT_ENTRY``, the last slot), each made on its first use (None until then), or
    for the first view at load (``make_verdicts``). One slot a rule and tier: some 2.4 MB
    at 100,000 rules."""

    __slots__ = ("kits", "modes", "until")

    def __init__(self, content: Mapping[str, Any], now: float, bundle_hash: str,
                 rule_count: int) -> None:
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
        self.kits: tuple[tuple[list[Verdict], list[Verdict | None]], ...] = tuple(
            ([Verdict(Decision.DENY, None, reason, tier, modes[tier], bundle_hash)
              for reason in (UNKNOWN_ENV, INVALID_ENV, INVALID_CIDR)],
             [None] * (rule_count + 1))
            for tier in TIER_ORDER)

    def make_verdicts(self, evaluator: Evaluator, tier_entries: Mapping[str, list[int]],
                      ) -> None:
        """Make at once the verdicts of the plane entries ``tier_entries`` names for each
        tier (``table.tier_entries``), as ``rule_verdict`` makes each: at 100,000 rules
        some 32,000, in some 15 ms at load, where a third of the requests of cold traffic
        would make one (a microsecond each, mostly cache misses)."""
        for number, tier in enumerate(TIER_ORDER):
            by_entry, mode = self.kits[number][1], self.modes[tier]
            for entry in tier_entries[tier.value]:
                by_entry[entry] = _verdict_of(evaluator, entry, tier, mode)

    def rule_verdict(self, evaluator: Evaluator, entry: int, tier: int) -> Verdict:
        """The shared verdict for a plane entry (a rule's number or ``DEFAULT_ENTRY``) in
        the tier numbered ``tier``, made on first use and kept in ``kits``. Requests make
        one only for what ``make_verdicts`` did not: after an override expired, or for a
        bundle whose ``table.tier_entries`` misses it."""
        by_entry = self.kits[tier][1]
        verdict = by_entry[entry]
        if verdict is None:
            name = TIER_ORDER[tier]
            verdict = by_entry[entry] = _verdict_of(evaluator, entry, name, self.modes[name])
        return verdict


def _verdict_of(evaluator: Evaluator, entry: int, tier: TierName, mode: FailMode) -> Verdict:
    """The verdict of a plane entry (a rule's number or ``DEFAULT_ENTRY``) in ``tier``
    with fail mode ``mode``.

    Made as ``Verdict(decision, rule, reason, tier, fail_mode, bundle)`` would make it,
    equal and alike, in a third of the time: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``; this sets its slots directly."""
    if entry == DEFAULT_ENTRY:
        decision, rule, reason = evaluator.default, None, DEFAULT
    else:
        decision, rule, reason = evaluator.rule_decisions[entry], evaluator.rule_ids[entry], RULE
    verdict = _new(Verdict)
    _DECISION(verdict, decision)
    _RULE(verdict, rule)
    _REASON(verdict, reason)
    _TIER(verdict, tier)
    _FAIL_MODE(verdict, mode)
    _BUNDLE(verdict, evaluator.bundle_hash)
    return verdict


# Verdict's slot setters, for ``_verdict_of``.
_new = object.__new__
_DECISION, _RULE, _REASON, _TIER, _FAIL_MODE, _BUNDLE = (
    getattr(Verdict, name).__set__
    for name in ("decision", "rule", "reason", "tier", "fail_mode", "bundle"))
