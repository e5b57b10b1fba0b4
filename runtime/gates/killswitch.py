"""Kill switches: deny every job on a topic pattern, at once, until revived or expired.

An incident responder kills a capability (``payments.refund``, ``infra.**.delete``) with
``KillSwitches.kill`` or by listing it in a kill-switch file; the holder consults the
switches before the bundle, so a killed topic is denied with reason ``kill-switch`` from
the very next decision on. Patterns read like the policy's topic patterns (docs/design.md,
"Semantics"): dot-separated segments, each a literal, ``*`` (exactly one segment) or
``**`` (zero or more), matched case-sensitively against the whole topic.

The kill-switch file is JSON (the runtime reads no YAML)::

    {"kills": [
      {"topic": "payments.refund", "reason": "INC-42 refunds loop"},
      {"topic": "infra.**.delete", "reason": "freeze", "until": "2026-12-03T00:00:00Z"}
    ]}

``until`` is optional: an RFC 3339 timestamp with a zone, or seconds since the epoch.
Guarantees:

- ``match`` never raises and costs one attribute read while nothing is killed;
- a switch stops applying at its ``until`` (checked on every decision, no reload needed);
- switches set by ``kill`` and those of the file are kept apart: reloading the file
  replaces only the file's, ``revive`` lifts only those set by ``kill`` (a file's switch
  is lifted by editing the file);
- a file that cannot be read or parsed changes nothing (the switches it set last stay
  in effect: fail closed) and ``file_error`` says why; a missing file kills nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dualgate.runtime.errors import BundleError
from dualgate.runtime.validation import parse_timestamp
from dualgate.runtime.vocabulary import is_valid_segment

#: The verdict reason of a job denied by a kill switch.
KILL_SWITCH = "kill-switch"

API = "api"
FILE = "file"

_ANY_SEGMENT = r"\.[A-Za-z0-9_-]+"


class KillSwitchError(ValueError):
    """A kill switch or kill-switch file that was refused; ``str(error)`` says why."""


@dataclass(frozen=True)
class KillSwitch:
    """One kill switch: what it kills, why, until when (None: until revived), and whether
    ``kill`` (``api``) or the kill-switch file (``file``) set it."""

    pattern: str
    reason: str
    until: float | None
    origin: str
    matcher: re.Pattern[str]

    def in_effect(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.pattern, "reason": self.reason, "until": self.until,
                "origin": self.origin}


def compile_pattern(pattern: object) -> re.Pattern[str]:
    """A regular expression matching ``"." + topic`` for the topics ``pattern`` names;
    raises ``KillSwitchError`` for anything that is no topic pattern."""
    if not isinstance(pattern, str) or not pattern:
        raise KillSwitchError("a kill switch's topic pattern is a non-empty string")
    parts = []
    for segment in pattern.split("."):
        if segment == "**":
            parts.append(f"(?:{_ANY_SEGMENT})*")
        elif segment == "*":
            parts.append(_ANY_SEGMENT)
        elif is_valid_segment(segment):
            parts.append(r"\." + re.escape(segment))
        else:
            raise KillSwitchError(
                f"`{pattern}` is not a topic pattern: segment `{segment}` is neither a "
                "name of letters, digits, `_` and `-` nor `*` or `**`")
    # Topics are matched with a leading dot, so `**` may stand for zero segments.
    return re.compile("".join(parts))


def _until_seconds(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise KillSwitchError(f"{where}: `until` has no time zone")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise KillSwitchError(f"{where}: `until` is a timestamp or seconds since the epoch")
    if isinstance(value, str):
        try:
            return parse_timestamp(value, "until").timestamp()
        except BundleError:
            raise KillSwitchError(
                f"{where}: `until` `{value}` is not an RFC 3339 timestamp with a zone"
            ) from None
    return float(value)


def _switch(pattern: object, reason: object, until: object, origin: str,
            where: str) -> KillSwitch:
    if not isinstance(pattern, str):
        raise KillSwitchError(f"{where}: a kill switch's topic pattern is a string")
    matcher = compile_pattern(pattern)
    if not isinstance(reason, str) or not reason.strip():
        raise KillSwitchError(f"{where}: a kill switch needs a non-empty reason")
    return KillSwitch(pattern, reason, _until_seconds(until, where), origin, matcher)


def parse_kill_file(data: bytes) -> tuple[KillSwitch, ...]:
    """The switches a kill-switch file lists (see the module docstring); raises
    ``KillSwitchError`` naming the first fault."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise KillSwitchError("the kill-switch file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise KillSwitchError(
            f"the kill-switch file is not JSON: {error.msg.lower()} at line {error.lineno}"
        ) from None
    except RecursionError:
        raise KillSwitchError("the kill-switch file is nested too deeply") from None
    if not isinstance(document, dict) or set(document) != {"kills"} \
            or not isinstance(document["kills"], list):
        raise KillSwitchError('the kill-switch file is an object `{"kills": [...]}`')
    switches = []
    for index, entry in enumerate(document["kills"]):
        where = f"`kills[{index}]`"
        if not isinstance(entry, dict) or not {"topic", "reason"} <= entry.keys() \
                or not entry.keys() <= {"topic", "reason", "until"}:
            raise KillSwitchError(f"{where} is an object with `topic`, `reason` and an "
                                  "optional `until`")
        switches.append(_switch(entry["topic"], entry["reason"], entry.get("until"),
                                FILE, where))
    return tuple(switches)


class KillSwitches:
    """The kill switches in effect; safe to share between threads.

    Writers (``kill``, ``revive``, ``reload_file``) hold a lock and replace the tuple
    of switches whole; ``match`` reads it once without a lock.
    """

    def __init__(self, file: str | os.PathLike[str] | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.file = None if file is None else os.fspath(file)
        self.clock = clock
        self._lock = threading.Lock()
        self._api: tuple[KillSwitch, ...] = ()
        self._file: tuple[KillSwitch, ...] = ()
        #: Read-only: the switches (``kill``'s first) and one expression matching what
        #: any of them matches, or None when there are none; replaced whole, so that a
        #: reader sees one consistent pair.
        self.current: tuple[tuple[KillSwitch, ...], re.Pattern[str]] | None = None
        self._file_digest: str | None = None
        #: Why the kill-switch file was last refused (None once it loads again).
        self.file_error: str | None = None

    def match(self, topic: object) -> KillSwitch | None:
        """The switch in effect that kills ``topic``, or None; never raises."""
        current = self.current
        if current is None or not isinstance(topic, str):
            return None
        switches, combined = current
        try:
            dotted = "." + topic
            if combined.fullmatch(dotted) is None:
                return None
            now = self.clock()
            for switch in switches:
                if switch.matcher.fullmatch(dotted) is not None and switch.in_effect(now):
                    return switch
        except Exception:  # a str subclass that misbehaves: left to the bundle to deny
            return None
        return None

    def kill(self, topic_pattern: str, reason: str,
             until: float | datetime | None = None) -> KillSwitch:
        """Kill every topic ``topic_pattern`` matches, from the next decision on.

        ``until`` (seconds since the epoch, or an aware datetime) ends it by itself. A
        second ``kill`` of the same pattern replaces the first. Raises
        ``KillSwitchError`` for a malformed pattern, an empty reason or a past ``until``.
        """
        switch = _switch(topic_pattern, reason, until, API, f"`{topic_pattern}`")
        if not switch.in_effect(self.clock()):
            raise KillSwitchError(f"`{topic_pattern}`: `until` is already past")
        with self._lock:
            kept = tuple(s for s in self._api
                         if s.pattern != switch.pattern and s.in_effect(self.clock()))
            self._api = (*kept, switch)
            self._publish()
        return switch

    def revive(self, topic_pattern: str) -> bool:
        """Lift the switch ``kill`` set on ``topic_pattern`` (the exact pattern); whether
        there was one. The file's switches stay: edit the file to lift them."""
        with self._lock:
            kept = tuple(s for s in self._api if s.pattern != topic_pattern)
            found = len(kept) != len(self._api)
            self._api = kept
            self._publish()
        return found

    def reload_file(self) -> bool:
        """Read the kill-switch file again if its contents changed; whether the
        switches changed. A refused file leaves them as they were (``file_error``)."""
        if self.file is None:
            return False
        try:
            with open(self.file, "rb") as handle:
                data: bytes | None = handle.read()
        except FileNotFoundError:
            data = None
        except OSError as error:
            with self._lock:
                self.file_error = f"cannot read `{self.file}`: {error.strerror}"
            return False
        digest = None if data is None else hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest == self._file_digest and self.file_error is None:
                return False
            try:
                switches = () if data is None else parse_kill_file(data)
            except KillSwitchError as error:
                self.file_error = f"`{self.file}`: {error}"
                return False
            self.file_error = None
            self._file_digest = digest
            changed = switches != self._file
            self._file = switches
            self._publish()
        return changed

    def in_effect(self) -> list[KillSwitch]:
        """The switches in effect now, those set by ``kill`` first."""
        current = self.current
        now = self.clock()
        return [] if current is None else [s for s in current[0] if s.in_effect(now)]

    def _publish(self) -> None:
        """Replace ``current`` with the switches now set (called holding the lock)."""
        switches = self._api + self._file
        if not switches:
            self.current = None
            return
        combined = re.compile("|".join(f"(?:{s.matcher.pattern})" for s in switches))
        self.current = (switches, combined)
