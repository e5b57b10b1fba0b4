"""Topic pattern syntax (docs/design.md, "topic"): dotted segments, `*` and `**` wildcards."""

from __future__ import annotations

from dualgate.runtime.vocabulary import is_valid_segment

SINGLE = "*"
ANY = "**"


class PatternError(ValueError):
    """A malformed topic pattern; ``str(error)`` is a lowercase one-line reason."""


def parse_pattern(text: str) -> tuple[str, ...]:
    """The segments of topic pattern ``text``; raises ``PatternError`` naming the fault.

    Each segment is a literal (ASCII letters, digits, `_`, `-`), `*` (exactly one
    segment) or `**` (zero or more segments).
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
    return segments


def pattern_text(segments: tuple[str, ...]) -> str:
    """The written form of a pattern."""
    return ".".join(segments)
