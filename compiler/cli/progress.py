"""A progress bar for long analyses: on a terminal only, and only once it takes a moment.

Small policies finish before the bar would appear, so everyday runs stay quiet; output
that is piped or captured (CI logs) never gets carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


class DelayedProgress:
    """A ``progress(phase, done, total)`` callback that draws one self-erasing line.

    Nothing is drawn unless ``stream`` is a terminal and ``delay`` seconds have passed
    since the bar was created (or last ``restart``-ed).
    """

    def __init__(self, label: str, stream: TextIO | None = None, delay: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self.label = label
        self.started = time.monotonic()
        self.drawn = False

    def restart(self, label: str) -> None:
        self.close()
        self.label = label
        self.started = time.monotonic()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        fraction = done / total if total else 1.0
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.stream.write(
            f"\r\x1b[K{self.label}: {phase} [{bar}] {fraction:4.0%} ({done}/{total})"
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erase the line, if one was drawn."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
