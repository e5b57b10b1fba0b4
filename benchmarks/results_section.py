"""Write one benchmark's section of a results file shared by several benchmarks.

Each section sits between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``; writing a
section replaces only its own lines (appending it when it is new), so two benchmarks
can report into ``benchmarks/results/cli.md`` without overwriting each other.
"""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, name: str, lines: list[str]) -> None:
    """Replace (or append) the section ``name`` of ``path`` with ``lines``."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = [begin, *lines, end]
    existing = path.read_text().splitlines() if path.exists() else ["# CLI benchmarks", ""]
    if begin in existing and end in existing:
        start, stop = existing.index(begin), existing.index(end)
        existing[start:stop + 1] = block
    else:
        if existing and existing[-1]:
            existing.append("")
        existing.extend(block)
    path.write_text("\n".join(existing) + "\n")
