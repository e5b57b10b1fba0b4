"""Fail modes: what a gate does with a tier when the policy cannot be evaluated.

A tier's fail mode comes from the bundle that classified the topic (its declared mode,
its own time-boxed ``override`` lines applied). On top of that an operator may open the
medium or low tier for a bounded time with one process-level variable, for an
emergency (the policy server is down and read-only jobs must keep flowing)::

    DUALGATE_FAIL_MODE_OVERRIDE=medium:open@2026-12-03T00:00:00Z,low:open@2h

The value is a comma-separated list of ``TIER:open[@UNTIL]`` entries, where ``TIER`` is
``medium`` or ``low`` and ``UNTIL`` is either an RFC 3339 timestamp with a ``Z`` or an
offset, or a duration counted from when the process reads the variable (``90s``,
``30m``, ``2h``). Without ``@UNTIL`` an entry lasts ``DEFAULT_OVERRIDE_SECONDS``. No
entry may last longer than ``MAX_OVERRIDE_SECONDS`` from that moment. Whitespace around
entries is ignored; an empty value means no override.

Guarantees:

- the override never opens the high tier, nor a tier without a bundle (no bundle at all:
  every tier fails closed), and it only ever opens: it cannot close a tier the policy
  opens;
- it closes by itself at ``until`` (checked on every use, no reload needed);
- a malformed value (unknown tier, ``high``, anything but ``open``, a bad or past
  timestamp, a duration beyond the maximum, an entry given twice) is refused as a
  whole: nothing of it applies, an error naming the fault is logged, and
  ``FailModes.override_error`` keeps it. A refused override opens nothing: it fails
  closed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dualgate.runtime.bundle import Bundle
from dualgate.runtime.errors import BundleError
from dualgate.runtime.validation import parse_timestamp
from dualgate.runtime.vocabulary import FailMode, TierName

OVERRIDE_VARIABLE = "DUALGATE_FAIL_MODE_OVERRIDE"
#: How long an entry without ``@UNTIL`` keeps its tier open.
DEFAULT_OVERRIDE_SECONDS = 3600.0
#: The longest an entry may keep its tier open, from when the variable is read.
MAX_OVERRIDE_SECONDS = 24 * 3600.0

_ENTRY = re.compile(r"(?P<tier>[a-z]+):(?P<mode>[a-z]+)(?:@(?P<until>\S+))?")
_DURATION = re.compile(r"(?P<amount>[0-9]{1,6})(?P<unit>[smh])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_OPENABLE = (TierName.MEDIUM, TierName.LOW)

logger = logging.getLogger("dualgate.gates")


class FailModeOverrideError(ValueError):
    """A ``DUALGATE_FAIL_MODE_OVERRIDE`` value that was refused; ``str(error)`` says why."""


@dataclass(frozen=True)
class OverrideEntry:
    """One tier opened by the process-level override until ``until`` (epoch seconds)."""

    tier: TierName
    until: float

    def to_json(self) -> dict[str, str]:
        return {"tier": self.tier.value, "fail_mode": FailMode.OPEN.value,
                "until": _rfc3339(self.until)}


def parse_override(
    text: str, now: float, *, default_seconds: float = DEFAULT_OVERRIDE_SECONDS,
    max_seconds: float = MAX_OVERRIDE_SECONDS,
) -> tuple[OverrideEntry, ...]:
    """The entries of an override value read at ``now``; raises ``FailModeOverrideError``.

    See the module docstring for the syntax and what is refused.
    """
    entries: dict[TierName, OverrideEntry] = {}
    for raw in text.split(","):
        stripped = raw.strip()
        if not stripped and not text.strip():
            continue
        item = _shown(stripped)
        match = _ENTRY.fullmatch(stripped)
        if match is None:
            raise FailModeOverrideError(
                f"`{item}` is not `TIER:open[@UNTIL]` (for example `medium:open@2h`)")
        tier_text, mode, until_text = match["tier"], match["mode"], match["until"]
        if tier_text == TierName.HIGH.value:
            raise FailModeOverrideError(f"`{item}`: the high tier can never fail open")
        if tier_text not in ("medium", "low"):
            raise FailModeOverrideError(
                f"`{item}`: unknown tier `{tier_text}`; expected `medium` or `low`")
        if mode != FailMode.OPEN.value:
            raise FailModeOverrideError(
                f"`{item}`: an override only opens a tier; expected `open`, got `{mode}`")
        tier = TierName(tier_text)
        if tier in entries:
            raise FailModeOverrideError(f"`{item}`: tier `{tier_text}` is given twice")
        if until_text is None:
            until, shown_until = now + default_seconds, f"{default_seconds:g}s"
        else:
            until, shown_until = _until(until_text, now), _shown(until_text)
        if until <= now:
            raise FailModeOverrideError(f"`{item}`: `{shown_until}` has already passed")
        if until - now > max_seconds:
            raise FailModeOverrideError(
                f"`{item}`: an override lasts at most {_duration_text(max_seconds)}; "
                f"`{shown_until}` is further away")
        entries[tier] = OverrideEntry(tier, until)
    return tuple(entries.values())


def _until(text: str, now: float) -> float:
    duration = _DURATION.fullmatch(text)
    if duration is not None:
        return now + int(duration["amount"]) * _UNIT_SECONDS[duration["unit"]]
    try:
        return parse_timestamp(text, "until").timestamp()
    except BundleError:
        raise FailModeOverrideError(
            f"`{_shown(text)}` is neither an RFC 3339 timestamp with a time zone "
            f"(`2026-12-03T00:00:00Z`) nor a duration (`90s`, `30m`, `2h`)") from None


class FailModes:
    """The effective fail mode of a tier for the gates: the bundle's, opened by the
    process-level override while it lasts.

    Read the variable once (``from_environment``) and share the object between the
    gates of a process. Safe to share between threads: it never changes after
    construction.
    """

    def __init__(self, entries: tuple[OverrideEntry, ...] = (), *,
                 clock: Callable[[], float] = time.time,
                 override_error: str | None = None) -> None:
        self.entries = entries
        self.override_error = override_error
        self._clock = clock
        self._open_until: dict[TierName, float] = {
            e.tier: e.until for e in entries if e.tier in _OPENABLE}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *,
                         clock: Callable[[], float] = time.time,
                         default_seconds: float = DEFAULT_OVERRIDE_SECONDS,
                         max_seconds: float = MAX_OVERRIDE_SECONDS) -> FailModes:
        """Fail modes with the override of ``environ`` (default ``os.environ``) applied.

        A refused value is logged at error level and opens nothing (see the module
        docstring); each accepted entry is logged at warning level with its expiry.
        """
        if environ is None:
            import os

            environ = os.environ
        text = environ.get(OVERRIDE_VARIABLE, "")
        if not text.strip():
            return cls(clock=clock)
        try:
            entries = parse_override(text, clock(), default_seconds=default_seconds,
                                     max_seconds=max_seconds)
        except FailModeOverrideError as error:
            logger.error("%s refused, no tier is opened by it: %s", OVERRIDE_VARIABLE, error)
            return cls(clock=clock, override_error=str(error))
        for entry in entries:
            logger.warning("%s opens the %s tier when the policy is unavailable, until %s",
                           OVERRIDE_VARIABLE, entry.tier.value, _rfc3339(entry.until))
        return cls(entries, clock=clock)

    def resolve(self, tier: TierName | None, bundle: Bundle | None) -> tuple[FailMode, bool]:
        """The fail mode for ``tier`` under ``bundle`` now, and whether the process-level
        override is what opened it. No bundle or no tier: closed."""
        if bundle is None or tier is None:
            return FailMode.CLOSED, False
        mode = bundle.fail_mode(tier)
        if mode is FailMode.OPEN or tier is TierName.HIGH:
            # High is closed in every loadable bundle; checked here too, so nothing here
            # can ever open it.
            return mode, False
        until = self._open_until.get(tier)
        if until is not None and self._clock() < until:
            return FailMode.OPEN, True
        return mode, False

    def status(self) -> dict[str, object]:
        """The override as configured: its entries, which are still in force, the refusal."""
        now = self._clock()
        return {"entries": [e.to_json() for e in self.entries],
                "active": [e.tier.value for e in self.entries if now < e.until],
                "error": self.override_error}


def _shown(text: str) -> str:
    """User input as one printable line: escapes for control characters, cut at 60."""
    escaped = text.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= 60 else escaped[:57] + "..."


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _duration_text(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"
