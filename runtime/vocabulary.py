"""The words both sides of dualgate agree on: decisions, tiers, fail modes, topics.

Defined once here, on the runtime side, because the runtime must not import the
compiler; the compiler imports these. Semantics follow docs/design.md ("Semantics").
"""

from __future__ import annotations

import re
from enum import StrEnum


class Decision(StrEnum):
    """What a gate does with a job. Ordered by strictness (see ``strictness``)."""

    ALLOW = "allow"
    THROTTLE = "throttle"
    REQUIRE_HUMAN = "require_human"
    DENY = "deny"

    @property
    def strictness(self) -> int:
        """Rank in allow < throttle < require_human < deny; a larger rank is stricter."""
        return _STRICTNESS[self]


_STRICTNESS = {decision: rank for rank, decision in enumerate(Decision)}

#: Spellings accepted in policies for a decision, mapped to the canonical decision.
DECISION_ALIASES: dict[str, Decision] = {
    **{decision.value: decision for decision in Decision},
    "require_approval": Decision.REQUIRE_HUMAN,
}


class TierName(StrEnum):
    """Risk tiers, declared from highest to lowest risk."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def risk(self) -> int:
        """Rank by risk; a larger rank is riskier (high > medium > low)."""
        return _RISK[self]


_RISK = {TierName.HIGH: 2, TierName.MEDIUM: 1, TierName.LOW: 0}


class FailMode(StrEnum):
    """What a gate does when the policy cannot be evaluated."""

    CLOSED = "closed"
    OPEN = "open"


# A topic segment: ASCII letters, digits, `_` and `-`, at least one character.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def is_valid_segment(segment: str) -> bool:
    """True when ``segment`` is one well-formed topic segment."""
    return _SEGMENT.fullmatch(segment) is not None


#: A whole topic in one pattern, for the runtime's hot path; ``is_valid_topic`` says the
#: same segment by segment, the way the reference interpreter reads the design.
TOPIC = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")

# What one request may carry. Far above any real topic, env or network, these bound the
# work and memory a request can cost a gate: a longer value is malformed and denied
# (invalid-topic, invalid-env, invalid-cidr) before it is looked at. No valid network is
# longer than 49 characters (`0000:0000:0000:0000:0000:ffff:255.255.255.255/128`).
#: Characters in a topic.
MAX_TOPIC_LENGTH = 1024
#: Dot-separated segments in a topic.
MAX_TOPIC_SEGMENTS = 64
#: Characters in an env.
MAX_ENV_LENGTH = 256
#: Characters in a cidr.
MAX_CIDR_LENGTH = 64


def is_valid_topic(topic: object) -> bool:
    """True when ``topic`` is a string of one to ``MAX_TOPIC_SEGMENTS`` dot-separated
    valid segments, at most ``MAX_TOPIC_LENGTH`` characters long."""
    return (isinstance(topic, str) and len(topic) <= MAX_TOPIC_LENGTH
            and topic.count(".") < MAX_TOPIC_SEGMENTS
            and all(is_valid_segment(s) for s in topic.split(".")))
