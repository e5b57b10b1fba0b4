"""Source files and spans: where a piece of a policy came from.

Lines and columns are 1-based; columns count characters (not bytes). End positions
are exclusive, so a one-character token at column 5 ends at column 6.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A region of one source file."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __post_init__(self) -> None:
        if (self.end_line, self.end_column) < (self.line, self.column):
            object.__setattr__(self, "end_line", self.line)
            object.__setattr__(self, "end_column", self.column)

    def merge(self, other: Span) -> Span:
        """The smallest span covering both ``self`` and ``other`` (same file)."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(self.path, start[0], start[1], end[0], end[1])


@dataclass(frozen=True)
class SourceFile:
    """The text of one policy file, with line lookup for diagnostics."""

    path: str
    text: str
    _lines: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Only `\n` ends a line, as in the Lark and YAML positions; `str.splitlines` would
        # also break at form feeds and Unicode separators and shift every line after them.
        lines = [line.removesuffix("\r") for line in self.text.split("\n")]
        if lines and lines[-1] == "" and len(lines) > 1:
            lines.pop()
        object.__setattr__(self, "_lines", lines)

    def line_text(self, line: int) -> str | None:
        """The text of 1-based ``line`` without its line break, or None past the end."""
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1]
        return None

    def span_at(self, line: int, column: int, length: int = 1) -> Span:
        """A span of ``length`` characters starting at ``line``:``column``."""
        return Span(self.path, line, column, line, column + max(length, 1))

    def end_span(self) -> Span:
        """A zero-width-ish span just after the last character of the file."""
        line = max(len(self._lines), 1)
        last = self.line_text(line) or ""
        return Span(self.path, line, len(last) + 1, line, len(last) + 2)
