"""Hypothesis strategies for valid IR policies and their parts, shared by the test suites.

Every strategy documents what it guarantees. ``policies()`` draws policies that
construct without validation errors and pass every check lowering makes, so
``lower(parse(format_policy(raise_policy(p))))`` gives ``p`` back. The values are drawn
from small pools (a few topic segments, anchor networks) so that patterns and networks
in one policy often overlap, nest or repeat, which is where analyzers go wrong.

Import as ``from tests.strategies import policies``: pytest's importlib mode registers
``tests`` as a namespace package from the root directory.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.frontend.keywords import KEYWORDS
from dualgate.compiler.networks import Network, parse_network
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

#: Literal topic segments: few, so that patterns in one policy collide.
SEGMENTS = ("a", "b", "c", "x-y", "d_1")
WILDCARDS = ("*", "**")

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME_REST = _NAME_START + "_.-"
_READABLE_NAMES = ("production", "staging", "dev", "prod-eu", "ci.1", "x", "A_b", "0day")

_V4_ANCHORS = ("0.0.0.0", "10.0.0.0", "10.128.0.0", "172.16.0.0", "192.168.1.0", "255.255.255.255")
_V6_ANCHORS = ("::", "2001:db8::", "2001:db8:8000::", "fe80::", "::ffff:10.0.0.0", "ff00::")
_PREFIX_FAVOURITES_V4 = (0, 1, 8, 9, 12, 16, 24, 31, 32)
_PREFIX_FAVOURITES_V6 = (0, 1, 16, 32, 33, 64, 96, 104, 127, 128)

_TRICKY_REASONS = (
    'she said "no"', "C:\\agents\\tmp\\", '\\"', '"\\n"', "line\nbreak\ttab", "# not a comment",
    "ünïcødé → 😀", "trailing space ", " \r\n ", '"', "\\",
)
_TRICKY_TEXT = '"\\#\n\t\r ,()\'é→😀\u2028\x0b'


def names() -> st.SearchStrategy[str]:
    """Strings matching ``ir.NAME_PATTERN`` that are no reserved keyword (usable as DSL values)."""
    return _NAMES


_NAMES = st.one_of(
    st.sampled_from(_READABLE_NAMES),
    st.builds(str.__add__, st.sampled_from(_NAME_START), st.text(alphabet=_NAME_REST, max_size=10)),
).filter(lambda name: name not in KEYWORDS)


def topic_patterns(max_segments: int = 4) -> st.SearchStrategy[ir.TopicPattern]:
    """Valid patterns of 1..``max_segments`` segments over ``SEGMENTS``, `*` and `**`.

    Wildcards stand anywhere, including `**` in the middle and several in a row.
    """
    segment = st.sampled_from(SEGMENTS + WILDCARDS)
    return st.lists(segment, min_size=1, max_size=max_segments).map(
        lambda segments: ir.TopicPattern(segments=tuple(segments))
    )


def _network(version: int) -> st.SearchStrategy[Network]:
    make, bits, anchors, favourites = (
        (ipaddress.IPv4Network, 32, _V4_ANCHORS, _PREFIX_FAVOURITES_V4) if version == 4
        else (ipaddress.IPv6Network, 128, _V6_ANCHORS, _PREFIX_FAVOURITES_V6)
    )
    address = st.one_of(
        st.sampled_from(anchors).map(lambda a: int(ipaddress.ip_address(a))),
        st.integers(min_value=0, max_value=2**bits - 1),
    )
    prefix = st.one_of(st.sampled_from(favourites), st.integers(min_value=0, max_value=bits))
    return st.builds(
        lambda a, p: parse_network(str(make((a, p), strict=False))), address, prefix
    )


def networks() -> st.SearchStrategy[Network]:
    """IPv4 and IPv6 networks with host bits zero, in the form ``parse_network`` returns.

    Prefix lengths span 0 to the full width; addresses cluster on a few anchors
    (10.0.0.0, 2001:db8::, IPv4-mapped ::ffff:10.0.0.0, ...) so that networks drawn
    together are often equal, nested or siblings. IPv4-mapped networks come out as IPv4.
    """
    return _NETWORKS


_NETWORKS = st.one_of(_network(4), _network(6))


def texts(max_size: int = 20) -> st.SearchStrategy[str]:
    """Any text without NUL, rich in quotes, backslashes, `#`, newlines, tabs, CR and unicode."""
    tricky = st.sampled_from(_TRICKY_TEXT)
    return st.text(
        # Two characters in three from the tricky set, or quotes and backslashes seldom meet.
        alphabet=st.one_of(tricky, tricky, st.characters(codec="utf-8", exclude_characters="\x00")),
        max_size=max_size,
    )


def reasons() -> st.SearchStrategy[str | None]:
    """None, a plain reason, a hand-picked hard one (escapes next to quotes), or ``texts()``."""
    return _REASONS


_TEXTS = texts()
_REASONS = st.one_of(
    st.none(),
    st.sampled_from(("", "INC-4512", "public ingress")),
    st.sampled_from(_TRICKY_REASONS),
    _TEXTS,
)


def timestamps() -> st.SearchStrategy[datetime]:
    """Aware datetimes (2000-2100) in UTC or any whole-minute offset, often with microseconds."""
    return _TIMESTAMPS


_TIMESTAMPS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(
        st.just(UTC),
        st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        ),
    ),
)


def decisions() -> st.SearchStrategy[Decision]:
    """Any decision."""
    return st.sampled_from(Decision)


# Built once, not per draw: fresh strategies are validated anew, which made generation
# several times slower.
_PATTERN_LISTS = st.lists(topic_patterns(), min_size=1, max_size=3).map(tuple)
_TIER_PATTERN_LISTS = st.lists(topic_patterns(), min_size=1, max_size=4).map(tuple)
_NETWORK_LISTS = st.lists(_NETWORKS, min_size=1, max_size=3).map(tuple)
_ENV_PICKS = st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=5)
_KINDS_WITH_ENV = st.sampled_from(("topic", "env", "cidr"))
_KINDS_WITHOUT_ENV = st.sampled_from(("topic", "cidr"))
_TIER_ORDERS = st.permutations(list(TierName))
_FAIL_MODES = st.sampled_from(FailMode)


@st.composite
def env_declarations(draw: st.DrawFn, max_envs: int = 4) -> tuple[ir.EnvDecl, ...]:
    """0..``max_envs`` envs with distinct names, each protected or not."""
    env_names = draw(st.lists(_NAMES, max_size=max_envs, unique=True))
    return tuple(ir.EnvDecl(name=name, protected=draw(st.booleans())) for name in env_names)


@st.composite
def conditions(draw: st.DrawFn, env_names: tuple[str, ...] = ()) -> ir.Condition:
    """A topic, cidr or (when ``env_names`` is not empty) env condition, negated or not.

    Env conditions only name ``env_names``; the values of one condition may repeat.
    """
    kind = draw(_KINDS_WITH_ENV if env_names else _KINDS_WITHOUT_ENV)
    negated = draw(st.booleans())
    if kind == "topic":
        return ir.TopicCondition(negated=negated, patterns=draw(_PATTERN_LISTS))
    if kind == "cidr":
        return ir.CidrCondition(negated=negated, networks=draw(_NETWORK_LISTS))
    picks = draw(_ENV_PICKS)
    return ir.EnvCondition(
        negated=negated, envs=tuple(env_names[i % len(env_names)] for i in picks)
    )


@st.composite
def rules(
    draw: st.DrawFn, env_names: tuple[str, ...] = (), max_conditions: int = 4,
    rule_id: str | None = None,
) -> ir.Rule:
    """A rule with 0..``max_conditions`` conditions (one attribute may occur several times).

    Its id is ``rule_id``, or a drawn name; env conditions only name ``env_names``.
    """
    count = draw(st.integers(min_value=0, max_value=max_conditions))
    return ir.Rule(
        id=rule_id if rule_id is not None else draw(_NAMES),
        conditions=tuple(draw(conditions(env_names)) for _ in range(count)),
        decision=draw(decisions()),
        reason=draw(_REASONS),
    )


@st.composite
def tiers(draw: st.DrawFn) -> tuple[ir.Tier, ...]:
    """0..3 tiers, at most one per tier name, in any order; the high tier always fails closed."""
    order = draw(_TIER_ORDERS)
    count = draw(st.integers(min_value=0, max_value=len(order)))
    return tuple(
        ir.Tier(
            name=name,
            patterns=draw(_TIER_PATTERN_LISTS),
            fail_mode=FailMode.CLOSED if name is TierName.HIGH else draw(_FAIL_MODES),
        )
        for name in order[:count]
    )


@st.composite
def overrides(draw: st.DrawFn, tier_names: tuple[TierName, ...]) -> ir.Override:
    """An override opening one of ``tier_names`` (must not be empty) until a timestamp.

    The tier may be high and the expiry past: lowering accepts both, governance
    checks report them.
    """
    return ir.Override(
        tier=draw(st.sampled_from(tier_names)),
        fail_mode=FailMode.OPEN,
        until=draw(_TIMESTAMPS),
        reason=draw(_TEXTS),
    )


@st.composite
def policies(
    draw: st.DrawFn, max_rules: int = 8, max_conditions: int = 4, max_envs: int = 4,
    max_overrides: int = 2,
) -> ir.Policy:
    """A policy that constructs without validation errors and that lowering accepts.

    Rule ids are unique; env conditions name declared envs only (none without envs);
    at most one tier per name, high failing closed; overrides open declared tiers only.
    Names are never keywords, so the policy prints as DSL text and reads back equal.
    """
    envs = draw(env_declarations(max_envs))
    env_names = tuple(e.name for e in envs)
    declared_tiers = draw(tiers())
    tier_names = tuple(t.name for t in declared_tiers)
    rule_ids = draw(st.lists(_NAMES, max_size=max_rules, unique=True))
    override_count = draw(st.integers(min_value=0, max_value=max_overrides)) if tier_names else 0
    return ir.Policy(
        name=draw(_NAMES),
        envs=envs,
        default_decision=draw(decisions()),
        default_tier=draw(st.sampled_from(TierName)),
        tiers=declared_tiers,
        rules=tuple(draw(rules(env_names, max_conditions, rule_id)) for rule_id in rule_ids),
        overrides=tuple(draw(overrides(tier_names)) for _ in range(override_count)),
    )


# -- policies whose rules collide (the analysis and runtime differential tests) -----

#: Two literals and both wildcards: patterns of one policy collide and nest all the time.
_COLLIDING_SEGMENT = st.sampled_from(("a", "b", *WILDCARDS))
_COLLIDING_PATTERN = st.lists(_COLLIDING_SEGMENT, min_size=1, max_size=3).map(
    lambda s: ir.TopicPattern(segments=tuple(s)))
_COLLIDING_PATTERN_LISTS = st.lists(_COLLIDING_PATTERN, min_size=1, max_size=2).map(tuple)
#: Nested, sibling and overlapping networks of both families, /0s and mapped IPv6.
_COLLIDING_POOL = tuple(parse_network(text) for text in (
    "10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9", "10.0.0.0/16", "10.0.0.1/32", "10.0.0.0/31",
    "192.168.0.0/16", "0.0.0.0/0", "::ffff:10.0.0.0/104", "::/0", "2001:db8::/32",
    "2001:db8::/33", "2001:db8:8000::/33", "2001:db8::1/128", "fe80::/10",
))
_COLLIDING_NETWORK = st.one_of(st.sampled_from(_COLLIDING_POOL),
                               st.sampled_from(_COLLIDING_POOL),
                               st.sampled_from(_COLLIDING_POOL), networks())
_COLLIDING_NETWORK_LISTS = st.lists(_COLLIDING_NETWORK, min_size=1, max_size=2).map(tuple)
_COLLIDING_ENV_NAMES = ("prod", "stage", "dev")
#: The instant the differential tests decide at: colliding policies' overrides expire
#: around it (before, exactly at it, just after, later), so some are live and some not.
COLLIDING_NOW = datetime(2026, 11, 21, tzinfo=UTC)
_COLLIDING_EXPIRIES = st.sampled_from((
    COLLIDING_NOW - timedelta(days=1), COLLIDING_NOW, COLLIDING_NOW,
    COLLIDING_NOW + timedelta(microseconds=1),
    COLLIDING_NOW + timedelta(days=365),
))


@st.composite
def colliding_policies(draw: st.DrawFn, max_rules: int = 6, max_overrides: int = 2) -> ir.Policy:
    """Small policies whose rules overlap, nest, shadow and conflict often.

    Two literal segments with `*` and `**`; negated conditions; IPv4 and IPv6 networks
    from a pool of nested and sibling networks (plus random ones); 0-3 envs, some
    protected; tiers with few patterns; any decisions and default tier; 0..``max_overrides``
    overrides of declared tiers (the high tier in about one draw in ten), expiring around
    ``COLLIDING_NOW``: a day before, exactly at it, a microsecond after, a year after.
    """
    envs = tuple(ir.EnvDecl(name=name, protected=draw(st.booleans()))
                 for name in draw(st.lists(st.sampled_from(_COLLIDING_ENV_NAMES), unique=True,
                                           max_size=3)))
    names = tuple(e.name for e in envs)
    kinds = ("topic", "topic", "cidr", "env") if names else ("topic", "topic", "cidr")
    rules = []
    for n in range(draw(st.integers(min_value=0, max_value=max_rules))):
        conditions: list[ir.Condition] = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            kind, negated = draw(st.sampled_from(kinds)), draw(st.booleans())
            if kind == "topic":
                conditions.append(ir.TopicCondition(
                    negated=negated, patterns=draw(_COLLIDING_PATTERN_LISTS)))
            elif kind == "cidr":
                conditions.append(ir.CidrCondition(
                    negated=negated, networks=draw(_COLLIDING_NETWORK_LISTS)))
            else:
                picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
                conditions.append(ir.EnvCondition(negated=negated, envs=tuple(picked)))
        rules.append(ir.Rule(id=f"r{n}", conditions=tuple(conditions),
                             decision=draw(st.sampled_from(Decision))))
    tiers = tuple(
        ir.Tier(name=name, patterns=draw(_COLLIDING_PATTERN_LISTS),
                fail_mode=FailMode.CLOSED if name is TierName.HIGH
                else draw(st.sampled_from(FailMode)))
        for name in draw(st.lists(st.sampled_from(TierName), unique=True, max_size=3))
    )
    # Overrides open declared tiers; the high tier seldom (the compiler refuses that).
    openable = [t.name for t in tiers if t.name is not TierName.HIGH]
    overrides = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_overrides)) if tiers else 0):
        high_declared = len(openable) < len(tiers)
        if openable and (not high_declared or draw(st.integers(min_value=0, max_value=9))):
            tier = draw(st.sampled_from(openable))
        else:
            tier = TierName.HIGH
        overrides.append(ir.Override(tier=tier, fail_mode=FailMode.OPEN,
                                     until=draw(_COLLIDING_EXPIRIES), reason="r"))
    return ir.Policy(
        name="p", envs=envs, rules=tuple(rules), tiers=tiers, overrides=tuple(overrides),
        default_decision=draw(st.sampled_from(Decision)),
        default_tier=draw(st.sampled_from(TierName)),
    )
