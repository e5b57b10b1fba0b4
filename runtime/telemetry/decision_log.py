"""Decision logs: one JSON line per gate decision, written off the hot path.

``record(entry)`` appends the entry (a dict, not yet encoded) to a queue and returns; a
writer thread wakes every ``flush_interval`` seconds, encodes the queued entries to JSON
and hands them to the sink (a batch at a time when the sink takes batches). A gate calls
``record_decision`` instead: it queues one tuple (the time, the fields its verdict
shares with every job it decides, and the job's four request values), and the writer
builds the line from the shared fields' JSON, encoded once per fields object, and the
request values; the line is the one ``record`` writes for the same entry. Nothing is
lost without a count:

- a full queue drops the entry, counted as ``queue-full``;
- an entry that cannot be encoded is dropped, counted as ``encode-error``;
- a line the sink raises on is dropped, counted as ``sink-error``;
- an entry recorded after ``close()`` is dropped, counted as ``closed``.

Bypass entries (``entry["bypass"] is True``) are never dropped by the log: the queue
bound does not apply to them (so the queue holds at most ``max_queue`` other entries
plus the bypasses, which are rare by design: each one is alerted on); an entry that
cannot be encoded as given is written with its values' ``repr``; and a line the sink
refuses is offered again on every writer cycle until the sink takes it (a bypass may so
be written twice, never zero times). Only at ``close()``, when the sink still refuses,
is it counted as ``sink-error``. Drops go to ``GateMetrics.decision_log_dropped`` and to
``stats()``.

The entry keys are ``ENTRY_KEYS``; ``topic``, ``env`` and ``cidr`` sit at the top level,
so that ``review --replay`` and ``test add --from-log`` read a line's request as it is
(``parse_entry`` reads and checks one line).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from dualgate.runtime.telemetry.metrics import GateMetrics
from dualgate.runtime.telemetry.sinks import Sink
from dualgate.runtime.verdict import MALFORMED_REQUEST

#: The keys of a decision-log entry, in the order the gates write them.
ENTRY_KEYS = (
    "timestamp", "decision_id", "gate", "job_id", "topic", "env", "cidr", "decision",
    "rule", "reason", "tier", "fail_mode", "bypass", "bundle", "policy", "approval",
)
#: The keys of a gate's entry after its timestamp and id: ``ENTRY_KEYS``, then the action
#: and the cause of an unavailable policy.
DECISION_FIELDS = (*ENTRY_KEYS[2:], "action", "cause")
#: The request values of a gate's entry: what ``record_decision`` takes job by job.
REQUEST_FIELDS = ("job_id", "topic", "env", "cidr")
#: The fields ``record_decision`` takes as one tuple, in order: those a verdict's answer
#: shares with every job it decides (the rest of ``DECISION_FIELDS``).
SHARED_FIELDS = tuple(key for key in DECISION_FIELDS if key not in REQUEST_FIELDS)
_BYPASS = SHARED_FIELDS.index("bypass")
#: Lines handed to a sink's ``write_lines`` at once.
BATCH_LINES = 512
#: Shared-field encodings the writer keeps; past this many it starts over.
MAX_CACHED_FRAGMENTS = 4096
QUEUE_FULL = "queue-full"
SINK_ERROR = "sink-error"
ENCODE_ERROR = "encode-error"
CLOSED = "closed"
#: Every reason an entry can be dropped for (the ``reason`` label of the drop counter).
DROP_REASONS = (QUEUE_FULL, SINK_ERROR, ENCODE_ERROR, CLOSED)

_next_id = itertools.count().__next__
_id_prefix = os.urandom(6).hex() + "-"


def _new_id_prefix() -> None:
    # A forked child must not repeat its parent's decision ids.
    global _id_prefix  # noqa: PLW0603 (one process-wide prefix, replaced whole)
    _id_prefix = os.urandom(6).hex() + "-"


os.register_at_fork(after_in_child=_new_id_prefix)


def decision_stamp() -> tuple[float, str]:
    """The time now (Unix seconds, for the entry's ``timestamp``: the writer formats it
    as RFC 3339) and a new decision id: 12 hex digits random per process, then a
    counter, so ids never repeat within a process and practically never across them."""
    return time.time(), f"{_id_prefix}{_next_id():x}"


# The last second formatted, with its text: consecutive entries mostly share a second.
_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def format_timestamp(seconds: float) -> str:
    """Unix seconds as RFC 3339 UTC with microseconds: ``2026-12-01T09:30:00.000001Z``."""
    global _second  # noqa: PLW0603 (a cache replaced whole, so threads never see half)
    whole = math.floor(seconds)
    micro = round((seconds - whole) * 1_000_000)
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{micro:06d}Z"


def format_timestamp_ns(nanoseconds: int) -> str:
    """Unix nanoseconds (``time.time_ns()``) as RFC 3339 UTC with microseconds (the
    nanoseconds cut, not rounded): ``2026-12-01T09:30:00.000001Z``."""
    seconds, nanos = divmod(nanoseconds, 1_000_000_000)
    return f"{_second_text(seconds)}.{nanos // 1000:06d}Z"


def _second_text(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


#: Why a reader takes no request from the entry of a malformed request.
MALFORMED_ENTRY = "the entry of a malformed request (`reason` `malformed-request`): no request"


def malformed_entry(entry: Mapping[str, object]) -> bool:
    """Whether ``entry`` is the entry of something that was no request (``reason``
    ``malformed-request``: a decision server's batch item that is none, logged with null
    ``topic``, ``env`` and ``cidr``). It holds no request to replay or to test, so the
    readers of a log (``parse_entry``, ``review --replay``, ``test add --from-log``) pass
    it over as ``MALFORMED_ENTRY`` instead of calling the line damaged."""
    return entry.get("reason") == MALFORMED_REQUEST


def parse_entry(line: str) -> dict[str, Any]:
    """One decision-log line as a dict; ValueError (a one-line message) when it is not a
    JSON object with string ``topic`` and ``env`` and a string or null ``cidr``, and,
    saying ``MALFORMED_ENTRY``, when it is the entry of a malformed request
    (``malformed_entry``), whatever its request fields."""
    try:
        entry = json.loads(line)
    except ValueError as error:
        raise ValueError(f"not a JSON object: {error}") from None
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    if malformed_entry(entry):
        raise ValueError(MALFORMED_ENTRY)
    for key in ("topic", "env"):
        if not isinstance(entry.get(key), str):
            raise ValueError(f"`{key}` is missing or not a string")
    if not isinstance(entry.get("cidr"), str | None):
        raise ValueError("`cidr` is neither a string nor null")
    return entry


class DecisionLog:
    """A bounded, asynchronous decision log over one sink (see the module docstring for
    what is kept and what is counted). Safe to share between threads."""

    def __init__(self, sink: Sink, *, max_queue: int = 10000, metrics: GateMetrics | None = None,
                 flush_interval: float = 0.05) -> None:
        if max_queue <= 0:
            raise ValueError(f"max_queue must be positive, not `{max_queue}`")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, not `{flush_interval}`")
        self.sink = sink
        self._max_queue = max_queue
        #: ``max_queue`` while open, 0 once closed: the hot path's one test.
        self.limit = max_queue
        self.metrics = metrics
        self.flush_interval = flush_interval
        #: What the writer drains. A caller on a hot path (a gate's ``check``) may
        #: append a ``record_decision`` item itself, ``(time.time_ns(), shared, job_id,
        #: topic, env, cidr, None)`` with plain string (or None) request values, exactly
        #: when ``len(queue) < limit``: what ``record_decision`` does first, without its
        #: call; anything else goes through ``record_decision``.
        self.queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._close_lock = threading.Lock()
        self._retry: list[str] = []
        self._fragments: dict[int, tuple[tuple[object, ...], str, str, bool]] = {}
        self._waiting: list[threading.Event] = []
        self._written = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._drop_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="dualgate-decision-log",
                                        daemon=True)
        self._thread.start()
        # The writer is a daemon thread, so that a stalled sink cannot hang the exit;
        # closing at exit still writes what is queued.
        atexit.register(self.close)

    def record(self, entry: Mapping[str, object]) -> None:
        """Queue one entry; never blocks on the sink and never raises. The entry must
        not be changed afterwards (it is encoded later, on the writer thread)."""
        try:
            if self._closed:
                self._drop(CLOSED)
            elif len(self.queue) < self._max_queue or entry.get("bypass") is True:
                self.queue.append(entry)
            else:
                self._drop(QUEUE_FULL)
        except Exception:  # not a mapping: it could never be encoded
            self._drop(ENCODE_ERROR)

    def record_decision(self, shared: tuple[object, ...], job_id: object, topic: object,
                        env: object, cidr: object, *, decision_id: str | None = None) -> None:
        """Queue one gate decision, stamped now (``time.time_ns()``, written as
        ``format_timestamp_ns`` writes it): ``shared`` holds the values of
        ``SHARED_FIELDS`` in order, the rest are the job's. The line written is the one
        ``record`` writes for the same entry, with ``decision_id`` (a caller that answers
        with the id, such as the decision server, passes the one it answered with) or a
        new id; it is built on the writer thread, so that the hot path builds one small
        tuple. ``shared`` and the values must not be changed afterwards. Never blocks and
        never raises."""
        queue = self.queue
        if len(queue) < self.limit:
            queue.append((_now(), shared, job_id, topic, env, cidr, decision_id))
        elif self._closed:
            self._drop(CLOSED)
        elif _bypass(shared):
            queue.append((_now(), shared, job_id, topic, env, cidr, decision_id))
        else:
            self._drop(QUEUE_FULL)

    @property
    def max_queue(self) -> int:
        """How many entries (bypasses aside) the queue holds before it drops."""
        return self._max_queue

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every entry recorded before the call is written or counted as
        dropped; False when ``timeout`` seconds passed first, or a bypass line is still
        waiting for a refusing sink."""
        if not self._thread.is_alive():
            return not self.queue and not self._retry
        marker = threading.Event()
        self.queue.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def close(self) -> None:
        """Write everything still queued, then close the sink; waits for a stalled sink.
        Later calls do nothing; later entries are counted as ``closed``."""
        with self._close_lock:
            if self._closed:
                return
            self.limit = 0
            self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        self._thread.join()
        # Entries that raced with the writer's last cycle, and a last chance for bypasses.
        self._drain()
        refused, self._retry = len(self._retry), []
        for _ in range(refused):
            self._drop(SINK_ERROR)
        self._release_waiting()
        # The lines are written or counted already: a failing close loses nothing.
        with contextlib.suppress(Exception):
            self.sink.close()

    def stats(self) -> dict[str, object]:
        """Counts so far: ``written`` lines, ``queued`` entries, bypass lines ``retrying``,
        and ``dropped`` by reason."""
        with self._drop_lock:
            dropped = dict(self._dropped)
        return {"written": self._written, "queued": len(self.queue),
                "retrying": len(self._retry), "dropped": dropped}

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        retry, self._retry = self._retry, []
        self._write(retry, [True] * len(retry))
        queue = self.queue
        fragments = self._fragments
        lines: list[str] = []
        bypasses: list[bool] = []
        second, second_text = -1, ""  # the second last formatted, with its text
        while queue:
            item = queue.popleft()
            if type(item) is tuple:
                # A gate's decision: the line from the shared fields' cached JSON, the
                # time formatted and the strings (nearly every value) escaped inline,
                # as the encoder escapes them; anything else takes the slow path.
                try:
                    stamp, shared, job_id, topic, env, cidr, decision_id = item
                    if decision_id is None:  # a new id: hex digits, nothing to escape
                        id_json = f'"{_id_prefix}{hex(_next_id())[2:]}"'
                    elif type(decision_id) is str:
                        id_json = _escape(decision_id)
                    else:
                        raise TypeError("a decision id is a string")
                    cached = fragments.get(id(shared))
                    if cached is None or cached[0] is not shared:
                        cached = self._fragment(shared)
                    seconds, nanos = divmod(stamp, 1_000_000_000)
                    if seconds != second:
                        second, second_text = seconds, _second_text(seconds)
                    # (str and hex: format specs cost several times as much here.)
                    encoded: str | None = (
                        f'{{"timestamp":"{second_text}.{str(1_000_000 + nanos // 1000)[1:]}Z",'
                        f'"decision_id":{id_json},"gate":{cached[1]},'
                        f'"job_id":'
                        f'{_escape(job_id) if type(job_id) is str else _scalar(job_id)},'
                        f'"topic":{_escape(topic) if type(topic) is str else _scalar(topic)},'
                        f'"env":{_escape(env) if type(env) is str else _scalar(env)},'
                        f'"cidr":{_escape(cidr) if type(cidr) is str else _scalar(cidr)},'
                        f'{cached[2]}}}')
                    bypass = cached[3]
                except Exception:
                    bypass, encoded = self._slow_line(item)
            elif isinstance(item, threading.Event):
                self._waiting.append(item)
                continue
            else:
                try:
                    bypass = item.get("bypass") is True
                except Exception:  # record() read it once; a mapping that fails now is not one
                    bypass = False
                encoded = _encode(item, bypass=bypass)
            if encoded is None:
                self._drop(ENCODE_ERROR)
                continue
            lines.append(encoded)
            bypasses.append(bypass)
            if len(lines) >= BATCH_LINES:
                self._write(lines, bypasses)
                lines, bypasses = [], []
        self._write(lines, bypasses)
        if not self._retry:
            self._release_waiting()

    def _fragment(self, shared: tuple[object, ...]) -> tuple[tuple[object, ...], str, str,
                                                              bool]:
        """``shared``'s JSON: the gate's value, and the fields after the request's as
        the tail of an object, and whether it is a bypass; cached by identity (the tuple
        is kept with it)."""
        gate, *rest = shared
        if len(rest) != len(SHARED_FIELDS) - 1:
            raise ValueError("not the shared fields")
        tail = ",".join(f"{_ENCODER.encode(key)}:{_ENCODER.encode(value)}"
                        for key, value in zip(SHARED_FIELDS[1:], rest, strict=True))
        cached = (shared, _ENCODER.encode(gate), tail, shared[_BYPASS] is True)
        if len(self._fragments) >= MAX_CACHED_FRAGMENTS:
            self._fragments.clear()
        self._fragments[id(shared)] = cached
        return cached

    def _slow_line(self, item: tuple[Any, ...]) -> tuple[bool, str | None]:
        """A ``record_decision`` entry as ``record`` would encode it (its dict)."""
        stamp, shared, job_id, topic, env, cidr, decision_id = item
        if decision_id is None:
            decision_id = f"{_id_prefix}{_next_id():x}"
        try:
            entry = {"timestamp": format_timestamp_ns(stamp), "decision_id": decision_id,
                     **dict(zip(DECISION_FIELDS, _in_order(shared, (job_id, topic, env, cidr)),
                                strict=True))}
            bypass = entry["bypass"] is True
        except Exception:  # not a tuple of the shared fields: it could never be encoded
            return False, None
        return bypass, _encode(entry, bypass=bypass)

    def _write(self, lines: list[str], bypasses: list[bool]) -> None:
        """Hand ``lines`` to the sink in order: in batches when it has ``write_lines``;
        a line it refuses is counted, or kept to offer again when it is a bypass."""
        write_lines = getattr(self.sink, "write_lines", None)
        start, total = 0, len(lines)
        while start < total:
            if write_lines is None:
                try:
                    self.sink.write(lines[start])
                    taken = 1
                except Exception:
                    taken = 0
            else:
                try:
                    taken = max(0, min(int(write_lines(lines[start:])), total - start))
                except Exception:  # raised: as if the first line was refused
                    taken = 0
            self._written += taken
            start += taken
            if taken == 0 or (start < total and write_lines is not None):
                # lines[start] was refused: the sink took the lines before it only.
                if bypasses[start]:
                    self._retry.append(lines[start])
                else:
                    self._drop(SINK_ERROR)
                start += 1

    def _release_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for marker in waiting:
            marker.set()

    def _drop(self, reason: str) -> None:
        with self._drop_lock:
            self._dropped[reason] += 1
        if self.metrics is not None:
            self.metrics.decision_log_dropped(reason)


# Built once: json.dumps with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
#: The encoder's own string escape (``ensure_ascii``), what it writes for a ``str``.
_escape: Callable[[str], str] = json.encoder.encode_basestring_ascii
_now = time.time_ns


def _bypass(shared: tuple[object, ...]) -> bool:
    try:
        return shared[_BYPASS] is True
    except Exception:  # no shared fields: the writer counts it as unencodable
        return False


def _scalar(value: object) -> str:
    """A request value's JSON as the encoder writes it inside an object."""
    if value is None:
        return "null"
    return _ENCODER.encode(value)


def _in_order(shared: tuple[object, ...], request: tuple[object, ...]) -> list[object]:
    """The values of ``DECISION_FIELDS`` from the shared and the request values."""
    values = dict(zip(SHARED_FIELDS, shared, strict=True))
    values.update(zip(REQUEST_FIELDS, request, strict=True))
    return [values[key] for key in DECISION_FIELDS]
_LENIENT_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=repr)


def _encode(entry: Mapping[str, Any], *, bypass: bool) -> str | None:
    """The entry as one JSON line (ASCII only, a numeric timestamp formatted as RFC 3339),
    or None when it cannot be encoded; a bypass entry is always encoded, as a last resort
    with its values' repr."""
    try:
        fields = dict(entry)
    except Exception:
        return None
    try:
        stamp = fields.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            fields["timestamp"] = format_timestamp(stamp)
        return _ENCODER.encode(fields)
    except Exception:
        if not bypass:
            return None
    try:
        return _LENIENT_ENCODER.encode(fields)
    except Exception:
        return _ENCODER.encode({str(key): value if isinstance(value, str) else repr(value)
                                for key, value in fields.items()})
