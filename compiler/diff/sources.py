"""Where the two sides of a diff come from: a file, standard input, or ``REV:PATH`` in git.

``read_source`` returns the bytes and the name diagnostics and locations use; every
problem (no such file, no git, an unknown revision, a path the revision lacks) is a
``SourceError`` with a one-line message, never a traceback.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dualgate.compiler.frontend.loader import PolicyFormat, format_of

#: The argument that reads standard input.
STDIN = "-"


class SourceError(Exception):
    """A side of the diff cannot be read; the message is one lowercase line."""


@dataclass(frozen=True)
class Source:
    """The bytes of one side, the name it is reported under, and its policy format."""

    display: str
    data: bytes
    format: PolicyFormat


def read_source(argument: str, stdin: BinaryIO, stdin_filename: str | None = None) -> Source:
    """Read ``argument``: ``-`` (``stdin``), an existing file, or else ``REV:PATH`` via git.

    The format follows the file name (``stdin_filename`` for standard input, ``PATH`` for a
    revision): YAML for `.yaml`/`.yml`, the DSL otherwise.
    """
    if argument == STDIN:
        display = stdin_filename or "<stdin>"
        return Source(display, stdin.read(), format_of(display))
    path = Path(argument)
    if path.is_file():
        try:
            return Source(argument, path.read_bytes(), format_of(argument))
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise SourceError(f"cannot read `{argument}`: {reason}") from None
    revision, colon, inside = argument.partition(":")
    if not colon or path.exists():
        what = "a directory, not a policy file" if path.is_dir() else "no such file"
        raise SourceError(f"cannot read `{argument}`: {what}")
    if not revision or not inside:
        raise SourceError(f"`{argument}` is no file and no REV:PATH such as `HEAD:x.policy`")
    return Source(argument, git_show(revision, inside), format_of(inside))


def git_show(revision: str, path: str, cwd: Path | None = None) -> bytes:
    """The content of ``path`` at ``revision`` in the git repository around ``cwd``.

    ``path`` is relative to the repository's top (``./`` makes it relative to ``cwd``),
    as in ``git show REV:PATH``.
    """
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options",
                   f"{revision}^{{commit}}"], cwd)
    if commit.returncode != 0:
        if b"not a git repository" in commit.stderr:
            raise SourceError(f"cannot read `{revision}:{path}`: not inside a git repository")
        raise SourceError(f"unknown git revision `{revision}`")
    shown = _git(["cat-file", "blob", f"{commit.stdout.decode().strip()}:{path}"], cwd)
    if shown.returncode != 0:
        raise SourceError(f"`{path}` does not exist in revision `{revision}`")
    return shown.stdout


def _git(arguments: list[str], cwd: Path | None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise SourceError("git is not installed; it is needed to read REV:PATH") from None
    except OSError as error:
        raise SourceError(f"cannot run git: {(error.strerror or str(error)).lower()}") from None
