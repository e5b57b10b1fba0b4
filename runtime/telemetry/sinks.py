"""Where decision-log lines go: a rotating file, standard output, or a function.

A sink receives encoded JSON lines (without their newline) from the decision log's writer
thread, never from the gates' hot path. ``write`` returns once the line is handed to the
operating system (or to the function); an exception means that line was not written, and
the decision log counts it. A sink may also take a batch: ``write_lines(lines)`` writes
them in order and returns how many it wrote, stopping at the first it could not write
(the log counts that one and offers it the rest again); an exception there counts as the
first line refused, so a sink raises only when it wrote none of them. The file and the
standard-output sinks take batches as one write for many lines, the function sink as
one call per line.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
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
    its file. Writes are unbuffered (a batch of lines is one write, up to a rotation), so
    a crash loses no written line; a write the disk refuses part-way (disk full) can
    leave a torn line, and only the lines before it count as written.
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

    def write_lines(self, lines: Sequence[str]) -> int:
        written = 0
        with self._lock:
            chunk: list[bytes] = []
            size = 0
            for line in lines:
                data = line.encode() + b"\n"
                if self._size + size and self._size + size + len(data) > self.max_bytes:
                    done = self._write_chunk(chunk, size)
                    written += done
                    if done < len(chunk):
                        return written
                    chunk, size = [], 0
                    try:
                        self._rotate()
                    except OSError:
                        return written
                chunk.append(data)
                size += len(data)
            return written + self._write_chunk(chunk, size)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _write_chunk(self, chunk: list[bytes], size: int) -> int:
        """Write ``chunk``'s lines in one write (more when the OS takes part of it);
        how many of them were written whole."""
        if not chunk:
            return 0
        view = memoryview(b"".join(chunk))
        done = 0
        try:
            while done < size:
                count = self._file.write(view[done:])
                if not count:
                    break
                done += count
        except OSError:
            pass
        self._size += done
        if done == size:
            return len(chunk)
        whole = 0
        for data in chunk:
            done -= len(data)
            if done < 0:
                break
            whole += 1
        return whole

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

    def write_lines(self, lines: Sequence[str]) -> int:
        # One write and one flush; a stream that raises is refused whole (a line the
        # stream had taken before it raised may then be written twice).
        if not lines:
            return 0
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return len(lines)

    def close(self) -> None:
        sys.stdout.flush()


class CallableSink:
    """Calls ``fn(line)`` for each line (the JSON text of one entry, without newline);
    a line ``fn`` raises on is the one refused."""

    def __init__(self, fn: Callable[[str], object]) -> None:
        self.fn = fn

    def write(self, line: str) -> None:
        self.fn(line)

    def write_lines(self, lines: Sequence[str]) -> int:
        fn = self.fn
        for index, line in enumerate(lines):
            try:
                fn(line)
            except Exception:
                return index
        return len(lines)

    def close(self) -> None:
        return None
