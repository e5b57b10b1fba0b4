"""GitHub Actions workflow commands (``::error file=...,line=...::message``) for annotations.

Escaping follows the runner's rules: in the message (the command's data) ``%``, ``\\r`` and
``\\n`` become ``%25``, ``%0D`` and ``%0A``; in a property value ``:`` and ``,`` also become
``%3A`` and ``%2C``, since they separate properties. GitHub shows at most 10 annotations of
each level per step, so at most ``limit`` of each level are written and, when some are
left out, one plain summary line says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

AnnotationLevel = Literal["error", "warning", "notice"]
LEVELS: tuple[AnnotationLevel, ...] = ("error", "warning", "notice")
LIMIT = 10


@dataclass(frozen=True)
class Annotation:
    """One annotation: its level, message and where it points (all optional but level)."""

    level: AnnotationLevel
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None


def escape_data(text: str) -> str:
    """``text`` fit for a command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """``text`` fit for a command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(annotation: Annotation) -> str:
    """The workflow command line for ``annotation``."""
    properties = [
        (key, value) for key, value in (
            ("file", annotation.file),
            ("line", annotation.line),
            ("col", annotation.column),
            ("endLine", annotation.end_line),
            ("endColumn", annotation.end_column),
            ("title", annotation.title),
        ) if value is not None
    ]
    written = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    head = f"{annotation.level} {written}" if written else annotation.level
    return f"::{head}::{escape_data(annotation.message)}"


def render_annotations(annotations: Sequence[Annotation], limit: int = LIMIT) -> str:
    """At most ``limit`` commands per level, in order, then a summary of any left out."""
    lines: list[str] = []
    left_out: dict[AnnotationLevel, int] = {}
    for level in LEVELS:
        of_level = [a for a in annotations if a.level == level]
        lines.extend(command(a) for a in of_level[:limit])
        if len(of_level) > limit:
            left_out[level] = len(of_level) - limit
    if left_out:
        counts = ", ".join(f"{n} {level}{'s' if n != 1 else ''}" for level, n in left_out.items())
        lines.append(f"dualgate: {counts} more not annotated (GitHub shows {limit} per level); "
                     "see the job summary or the SARIF report")
    return "\n".join(lines) + ("\n" if lines else "")
