"""Where decision-log lines go: a rotating file, standard output, or a function.

A sink receives one encoded JSON line at a time (without its newline) from the decision
log's writer thread, never from the gates' hot path. ``write`` returns once the line is
handed to the operating system (or to the function); an exception means that line was
not written, and the decision log counts it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class Sink(Protocol):
    """What the decision log writes to."""

    def write(self, line: str) -> None:
        """Write one line (the newline is the sink's); raise if it could not."""

    def close(self) -> None:
        """Release the sink; called once, after the last write."""


class RotatingFileSink:
    """Appends lines to ``path``; a line that would take the file past ``max_bytes``
    first rotates it: ``path`` becomes ``path.1``, ``path.1`` becomes ``path.2``, up to
    ``backups`` files (the oldest is removed). With ``backups=0`` the file is emptied
    instead. A single line longer than ``max_bytes`` is still written whole, alone in
    its file. Each line is one unbuffered write, so a crash loses no written line.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not `{max_bytes}`")
        if backups < 0:
            raise ValueError(f"backups cannot be negative, not `{backups}`")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (held until close)
        self._size = self._file.tell()

    def write(self, line: str) -> None:
        data = line.encode() + b"\n"
        with self._lock:
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        if self.backups:
            for index in range(self.backups - 1, 0, -1):
                older = self._backup(index)
                if older.exists():
                    older.replace(self._backup(index + 1))
            self.path.replace(self._backup(1))
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        else:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self._size = 0

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")


class StdoutSink:
    """Writes each line to the process's standard output (as it is at write time), and
    flushes it, so that a log collector reading the stream sees every line at once."""

    def write(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.flush()


class CallableSink:
    """Calls ``fn(line)`` for each line (the JSON text of one entry, without newline)."""

    def __init__(self, fn: Callable[[str], object]) -> None:
        self.fn = fn

    def write(self, line: str) -> None:
        self.fn(line)

    def close(self) -> None:
        return None
