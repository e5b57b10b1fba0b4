"""Topic pattern syntax (docs/design.md, "topic"): dotted segments, `*` and `**` wildcards."""

from __future__ import annotations

from dualgate.runtime.vocabulary import MAX_TOPIC_LENGTH, MAX_TOPIC_SEGMENTS, is_valid_segment

SINGLE = "*"
ANY = "**"


class PatternError(ValueError):
    """A malformed topic pattern; ``str(error)`` is a lowercase one-line reason."""


def parse_pattern(text: str) -> tuple[str, ...]:
    """The segments of topic pattern ``text``; raises ``PatternError`` naming the fault.

    Each segment is a literal (ASCII letters, digits, `_`, `-`), `*` (exactly one
    segment) or `**` (zero or more segments). A pattern that matches only topics longer
    than a request's may be (``MAX_TOPIC_SEGMENTS`` segments, ``MAX_TOPIC_LENGTH``
    characters) is refused too: the runtime denies such a topic as invalid before any
    rule, so the rule could never apply, and its bundle would be refused.
    """
    if not text:
        raise PatternError("empty topic pattern")
    segments = tuple(text.split("."))
    for position, segment in enumerate(segments, start=1):
        if segment in (SINGLE, ANY) or is_valid_segment(segment):
            continue
        if not segment:
            raise PatternError(f"segment {position} is empty")
        if set(segment) == {"*"}:
            raise PatternError(f"`{segment}` is not a wildcard; use `*` or `**`")
        if "*" in segment:
            raise PatternError(
                f"`{segment}` mixes a wildcard with other characters; "
                "wildcards stand for whole segments"
            )
        bad = next(c for c in segment if not is_valid_segment(c))
        raise PatternError(f"segment `{segment}` contains `{bad}`")
    # The shortest topic it matches: `**` as no segment, every other one character or more.
    fixed = [segment for segment in segments if segment != ANY]
    if len(fixed) > MAX_TOPIC_SEGMENTS or sum(map(len, fixed)) + len(fixed) - 1 > MAX_TOPIC_LENGTH:
        raise PatternError(
            f"it matches only topics longer than a request may carry (at most "
            f"{MAX_TOPIC_SEGMENTS} segments and {MAX_TOPIC_LENGTH:,} characters)")
    return segments


def pattern_text(segments: tuple[str, ...]) -> str:
    """The written form of a pattern."""
    return ".".join(segments)
