"""Turning command-line PATH arguments into the policy files they name."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from dualgate.compiler.frontend.loader import POLICY_SUFFIXES

#: Directories never searched: tooling state, virtual environments, VCS metadata.
_SKIPPED_DIRS = {"node_modules", "__pycache__", "venv"}


@dataclass
class Expansion:
    """The files found, and the arguments that named nothing."""

    files: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def searched(relative: PurePath, suffixes: tuple[str, ...] = POLICY_SUFFIXES) -> bool:
    """Whether a directory search finds the file at ``relative`` (to the searched directory)."""
    directories = relative.parts[:-1]
    return relative.name.lower().endswith(suffixes) and not any(
        d.startswith(".") or d in _SKIPPED_DIRS for d in directories
    )


def expand(paths: Iterable[Path], suffixes: tuple[str, ...] = POLICY_SUFFIXES) -> Expansion:
    """Files named directly, plus files under named directories whose names end in ``suffixes``.

    A file named directly is always included; directories are searched recursively in
    sorted order, skipping hidden and tooling directories, and file endings are compared
    case-insensitively (as ``loader.format_of`` does). Each file appears once.
    """
    found = Expansion()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(
                    d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS
                )
                for name in sorted(names):
                    if name.lower().endswith(suffixes):
                        add(Path(root) / name)
        elif path.is_file():
            add(path)
        else:
            found.missing.append(path)
    return found
