"""The policy files a change touches: the working tree against a git revision.

Discovery follows ``lint``'s rules (``cli.paths``): a file named directly is always
reviewed; under a named directory, files ending in ``.policy``, ``.policy.yaml`` or
``.policy.yml`` outside hidden and tooling directories. A file is reviewed when its bytes at
the revision differ from the working tree's, including files only one side has (untracked
files that git does not ignore count as added). Every git failure is a :class:`GitError`
with a one-line message.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from dualgate.compiler.cli.paths import expand, searched

Status = Literal["added", "modified", "deleted"]


class GitError(Exception):
    """git is missing, the directory is no repository, or the revision does not exist."""


@dataclass(frozen=True)
class ChangedFile:
    """One reviewed file: its path for reports, its bytes on both sides (None if absent)."""

    display: str
    status: Status
    base: bytes | None
    head: bytes | None


@dataclass(frozen=True)
class Repository:
    """A git work tree, its top directory and the resolved base commit."""

    top: Path
    base: str


def open_repository(directory: Path, revision: str) -> Repository:
    """The repository holding ``directory``, with ``revision`` resolved to a commit."""
    top = _git(directory, "rev-parse", "--show-toplevel").decode().strip()
    try:
        commit = _git(directory, "rev-parse", "--verify", "--quiet", "--end-of-options",
                      f"{revision}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"`{revision}` is not a commit in this repository") from None
    return Repository(Path(top).resolve(), commit)


def changed_policy_files(repo: Repository, paths: list[Path], cwd: Path) -> list[ChangedFile]:
    """The policy files under ``paths`` that differ between the base commit and the work tree.

    ``paths`` are relative to ``cwd``; a path that names nothing on either side is a
    :class:`GitError`. Files come in path order.
    """
    head_files = {(cwd / p).resolve(): p for p in expand(paths).files}
    base_files = _base_files(repo, paths, cwd)
    for path in paths:
        absolute = (cwd / path).resolve()
        if not absolute.exists() and not any(
            f == absolute or absolute in f.parents for f in base_files
        ):
            raise GitError(f"no such file or directory: `{path}`")
    found: list[ChangedFile] = []
    for absolute in sorted(set(head_files) | set(base_files)):
        display = os.path.relpath(absolute, cwd)
        head = _read(absolute, display) if absolute in head_files else None
        base: bytes | None = None
        if absolute in base_files:
            name, blob = base_files[absolute]
            if head is not None and _blob_id(head) == blob:
                continue
            base = _show(repo, name)
        if base == head:
            continue
        status: Status = "added" if base is None else "deleted" if head is None else "modified"
        found.append(ChangedFile(display, status, base, head))
    return found


def _base_files(repo: Repository, paths: list[Path], cwd: Path) -> dict[Path, tuple[str, str]]:
    """The policy files under ``paths`` at the base commit: absolute path -> (path in the
    tree, blob id)."""
    listing = _git(repo.top, "ls-tree", "-r", "-z", "--full-tree", repo.base)
    roots = [(cwd / p).resolve() for p in paths]
    found: dict[Path, tuple[str, str]] = {}
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, name = entry.split("\t", 1)
        kind, blob = meta.split()[1:3]
        if kind != "blob":
            continue
        absolute = repo.top.joinpath(*PurePosixPath(name).parts)
        for root in roots:
            if absolute == root or (
                root in absolute.parents
                and searched(PurePosixPath(absolute.relative_to(root).as_posix()))
            ):
                found[absolute] = (name, blob)
                break
    return found


def _blob_id(data: bytes) -> str:
    """The id git gives a blob holding ``data`` (SHA-1 repositories, git's default)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _show(repo: Repository, name: str) -> bytes:
    return _git(repo.top, "show", f"{repo.base}:{name}")


def _read(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise GitError(f"cannot read `{display}`: {(error.strerror or str(error)).lower()}") \
            from None


def _git(directory: Path, *arguments: str) -> bytes:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=directory, capture_output=True, check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except OSError as error:
        raise GitError(f"cannot run git: {(error.strerror or str(error)).lower()}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[0] if message else f"git {arguments[0]} failed"
        raise GitError(first.removeprefix("fatal: ").rstrip("."))
    return completed.stdout
