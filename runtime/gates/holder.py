"""The bundle holder: the one fully verified bundle a gate decides with, hot-reloaded.

``BundleHolder`` fetches a bundle from a file or an ``http(s)://`` URL, verifies it with
``load_bundle`` (format, content hash, signature when a key is configured, structure),
checks it is for the expected policy, and only then swaps it in with one attribute
assignment. Guarantees:

- every decision is made by exactly one fully verified bundle: ``decide`` reads the
  active bundle once and decides with it, whatever reloads happen meanwhile;
- a refused bundle (unreadable, tampered with, badly signed, of an unknown format, for
  another policy, or one that was rolled back) leaves the active one serving, and the
  ``ReloadResult``, ``status()`` and the ``on_reload`` callback say why;
- kill switches are consulted before the bundle: a killed topic is denied with reason
  ``kill-switch`` from the decision after ``kill`` returns;
- with ``persist_dir`` the last activated bundle is written there atomically (a reader
  sees the old file or the new one, never a mix) and, when the source cannot give a
  valid bundle at start, that bundle is verified again and served;
- ``decide`` never raises on request data; it raises ``PolicyUnavailable("no-bundle")``
  only while no bundle was ever activated;
- everything is safe to call from any thread; reloads, rollbacks, their ``on_reload``
  calls and status reads are serialized by one lock that ``decide`` never takes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from dualgate.runtime.bundle import Bundle, load_bundle
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.errors import BundleError
from dualgate.runtime.gates.killswitch import KILL_SWITCH, KillSwitch, KillSwitches
from dualgate.runtime.gates.sources import Source, SourceError, open_source
from dualgate.runtime.telemetry import GateMetrics
from dualgate.runtime.verdict import Verdict
from dualgate.runtime.vocabulary import Decision

#: The file a holder keeps its last activated bundle in, inside ``persist_dir``.
PERSISTED_NAME = "last-activated.bundle.json"
DEFAULT_INTERVAL = 30.0
#: The watcher waits ``interval`` times a factor drawn from 1 ± ``jitter``.
DEFAULT_JITTER = 0.1
#: The longest the watcher waits between attempts after failures.
DEFAULT_MAX_BACKOFF = 600.0
#: The ``cause`` of ``PolicyUnavailable`` while no bundle was ever activated.
NO_BUNDLE = "no-bundle"

logger = logging.getLogger("dualgate.gates")


class PolicyUnavailable(Exception):  # noqa: N818 (the name the gates and deciders share)
    """No decision could be made; ``cause`` names why in a short lowercase word
    (``no-bundle``, ``evaluation-error``, ``timeout``, ``circuit-open``, ...)."""

    def __init__(self, cause: str, message: str | None = None) -> None:
        super().__init__(message or cause)
        self.cause = cause


class ReloadOutcome(StrEnum):
    """What a reload did (the ``result`` label of ``dualgate_bundle_reloads_total``)."""

    ACTIVATED = "activated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class ActiveBundle:
    """A bundle that was activated: the bundle, its content hash and policy, when it
    was activated (seconds since the epoch, by the holder's clock) and where from."""

    bundle: Bundle
    content_hash: str
    policy: str
    activated_at: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "content_hash": self.content_hash,
                "activated_at": self.activated_at, "source": self.source,
                "signed": self.bundle.signed, "verified_key": self.bundle.verified_key}


class ReloadResult(NamedTuple):
    """What one reload attempt (or rollback) did: ``result``, a one-line ``reason``,
    and the bundle active afterwards (None while none was ever activated)."""

    result: ReloadOutcome
    reason: str
    active: ActiveBundle | None


class _Failure(NamedTuple):
    at: float
    reason: str


def watch_delay(interval: float, jitter: float, failures: int, max_backoff: float,
                unit: float) -> float:
    """The watcher's wait before its next attempt: ``interval`` doubled per consecutive
    failure up to ``max_backoff``, times ``1 + jitter * (2 * unit - 1)`` for ``unit`` in
    [0, 1) (a uniform draw), so that many holders do not poll in step."""
    base = min(interval * 2.0 ** min(failures, 32), max(max_backoff, interval))
    return base * (1.0 + jitter * (2.0 * unit - 1.0))


class BundleHolder:
    """Holds the active bundle and keeps it fresh; see the module docstring.

    ``source`` is a path, an ``http(s)://`` URL, or a ``Source`` (such as an
    ``HttpSource`` with headers or a TLS context). ``public_key`` (a key object, PEM
    bytes or a PEM path) makes a valid signature by that key mandatory;
    ``require_signature`` refuses to run without one. ``expected_policy`` is the policy
    name a bundle must carry (default: the first activated bundle's). ``history_size``
    bounds how many bundles ``history()`` keeps, the active one included. ``max_age``
    (seconds) marks the active bundle stale in ``status()`` when the source was not
    checked successfully for that long. ``kill_switch_file`` is a JSON kill-switch file
    (see ``killswitch``) read at start and by the watcher. ``on_reload`` is called with
    every ``ReloadResult``, including the initial load and rollbacks, in the order they
    happened (it runs holding the reload lock, never the decision path's: keep it quick
    and do not reload from it); what it raises is logged and otherwise ignored.
    ``load_at_start`` loads the source (and, failing that, the persisted bundle) in the
    constructor.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Source,
        *,
        public_key: Any = None,
        require_signature: bool = False,
        expected_policy: str | None = None,
        persist_dir: str | os.PathLike[str] | None = None,
        history_size: int = 5,
        max_age: float | None = None,
        kill_switch_file: str | os.PathLike[str] | None = None,
        on_reload: Callable[[ReloadResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        load_at_start: bool = True,
    ) -> None:
        if require_signature and public_key is None:
            raise ValueError("`require_signature` needs the `public_key` to verify with")
        if history_size < 1:
            raise ValueError("`history_size` is at least 1: the active bundle")
        if max_age is not None and max_age <= 0:
            raise ValueError("`max_age` is a positive number of seconds")
        self._key = None
        if public_key is not None:
            from dualgate.runtime.signatures import load_public_key

            self._key = load_public_key(public_key)
        self._source = open_source(source)
        self.source = self._source.name
        self._expected_policy = expected_policy
        self._persist_dir = None if persist_dir is None else os.fspath(persist_dir)
        self.max_age = max_age
        self._on_reload = on_reload
        self._clock = clock
        self._kills = KillSwitches(kill_switch_file, clock=clock)
        self._lock = threading.RLock()
        self._active: ActiveBundle | None = None
        self._previous: deque[ActiveBundle] = deque(maxlen=history_size - 1)
        self._rolled_back: deque[str] = deque(maxlen=history_size)
        self._etag: str | None = None
        self._seen_digest: str | None = None  # of the source's last accepted bytes
        self._refused: tuple[str, str] | None = None  # digest and reason, last refused
        self._last_check: float | None = None
        self._last_activation: float | None = None
        self._last_failure: _Failure | None = None
        self._failures = 0
        self._persist_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if kill_switch_file is not None:
            self._kills.reload_file()
        if load_at_start:
            result = self.reload()
            if result.result is ReloadOutcome.REFUSED and self._persist_dir is not None:
                with self._lock:
                    restored = self._restore_persisted(result.reason)
                    if restored is not None:
                        self._notify(restored)

    # -- deciding ------------------------------------------------------------------

    @property
    def active(self) -> ActiveBundle | None:
        """The active bundle (one atomic read), None while none was ever activated."""
        return self._active

    def decide(self, topic: object, env: object,
               cidr: object = None) -> tuple[Verdict, ActiveBundle]:
        """The verdict on a request and the bundle that gave it.

        A topic a kill switch in effect matches is denied with reason ``kill-switch``
        (its tier and fail mode from the bundle). Raises ``PolicyUnavailable`` with
        cause ``no-bundle`` while no bundle was ever activated; never raises otherwise.
        """
        active = self._active
        if active is None:
            raise PolicyUnavailable(NO_BUNDLE, "no bundle was ever activated")
        kills = self._kills
        if kills.current is not None and kills.match(topic) is not None:
            return _killed(active, topic), active
        return active.bundle.decide(topic, env, cidr), active

    # -- kill switches -------------------------------------------------------------

    def kill(self, topic_pattern: str, reason: str,
             until: float | datetime | None = None) -> KillSwitch:
        """Deny every topic ``topic_pattern`` matches from the next decision on, until
        ``revive`` or ``until``; raises ``KillSwitchError`` for a malformed pattern, an
        empty reason or a past ``until``."""
        return self._kills.kill(topic_pattern, reason, until)

    def revive(self, topic_pattern: str) -> bool:
        """Lift the switch ``kill`` set on exactly ``topic_pattern``; whether there was
        one (switches from the kill-switch file are lifted by editing the file)."""
        return self._kills.revive(topic_pattern)

    def kill_switches(self) -> list[KillSwitch]:
        """The kill switches in effect now."""
        return self._kills.in_effect()

    def reload_kill_switches(self) -> bool:
        """Read the kill-switch file again if it changed; whether the switches changed."""
        return self._kills.reload_file()

    # -- loading -------------------------------------------------------------------

    def reload(self) -> ReloadResult:
        """Fetch the source once and activate what it holds if it is a new, valid
        bundle for the expected policy; what happened and why."""
        with self._lock:
            result = self._reload()
            self._notify(result)
        return result

    def rollback(self) -> ReloadResult:
        """Activate the bundle that was active before the current one again.

        The current one is dropped from the history and, until the source serves
        another bundle that is then activated, refused if the source offers it again.
        Refused when there is no previous bundle.
        """
        with self._lock:
            current = self._active
            if current is None or not self._previous:
                result = ReloadResult(ReloadOutcome.REFUSED,
                                      "there is no previous bundle to roll back to", current)
            else:
                previous = self._previous.pop()
                self._rolled_back.append(current.content_hash)
                self._refused = None
                self._install(previous.bundle, previous.source, None, keep_current=False)
                result = ReloadResult(
                    ReloadOutcome.ACTIVATED,
                    f"rolled back from `{current.content_hash[:12]}` to "
                    f"`{previous.content_hash[:12]}`", self._active)
            self._notify(result)
        return result

    def history(self) -> list[ActiveBundle]:
        """The bundles ``rollback`` can return to, newest first, the active one first."""
        with self._lock:
            active = self._active
            return [] if active is None else [active, *reversed(self._previous)]

    # -- the watcher ---------------------------------------------------------------

    def start(self, interval: float = DEFAULT_INTERVAL, jitter: float = DEFAULT_JITTER,
              *, max_backoff: float = DEFAULT_MAX_BACKOFF) -> None:
        """Start the watcher thread: every ``interval`` seconds (± ``jitter``, a
        fraction), reload the kill-switch file and the bundle; after consecutive
        failed reloads the bundle's wait doubles each time, up to ``max_backoff``
        (the kill-switch file is still read at every tick). The watcher ends with
        ``stop()``, or at its next tick once the holder is garbage."""
        if not interval > 0 or not 0 <= jitter < 1 or not max_backoff > 0:
            raise ValueError("the watcher needs `interval` > 0, 0 <= `jitter` < 1 and "
                             "`max_backoff` > 0")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("the watcher is already running")
            self._stop = threading.Event()
            # The thread holds the holder weakly: a holder nobody references any more
            # (and never stopped) ends its watcher at the next tick.
            self._thread = threading.Thread(
                target=_watch, args=(weakref.ref(self), self._stop, interval, jitter,
                                     max_backoff),
                name="dualgate-bundle-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the watcher: it wakes at once and ends after the fetch in progress, if
        any (bounded by the source's timeout); waits up to ``timeout`` for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def consecutive_failures(self) -> int:
        """Reloads that failed since the last successful check of the source."""
        return self._failures

    @property
    def watching(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- status --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The holder's state, in the spirit of OPA's status API (times are seconds
        since the epoch by the holder's clock).

        ``stale`` is True when no bundle serves, or when ``max_age`` is set and the
        source was not checked successfully (a valid bundle fetched, or told unchanged)
        within it; ``healthy`` is a bundle serving that is not stale.
        """
        with self._lock:
            now = self._clock()
            active = self._active
            check = self._last_check
            since_check = None if check is None else now - check
            stale = active is None or (self.max_age is not None and (
                since_check is None or since_check > self.max_age))
            failure = self._last_failure
            return {
                "active": None if active is None else active.to_json(),
                "source": self.source,
                "etag": self._etag,
                "last_successful_check": check,
                "last_activation": self._last_activation,
                "last_failed_load": None if failure is None else failure._asdict(),
                "consecutive_failures": self._failures,
                "seconds_since_check": since_check,
                "bundle_age_seconds": None if active is None else now - active.activated_at,
                "max_age": self.max_age,
                "stale": stale,
                "healthy": not stale,
                "history": [b.content_hash for b in self.history()],
                "kill_switches": [s.to_json() for s in self._kills.in_effect()],
                "kill_switch_file": self._kills.file,
                "kill_switch_file_error": self._kills.file_error,
                "persist_dir": self._persist_dir,
                "persist_error": self._persist_error,
                "watching": self.watching,
            }

    # -- inside the lock -----------------------------------------------------------

    def _reload(self) -> ReloadResult:
        now = self._clock()
        try:
            fetched = self._source.fetch(self._etag)
        except SourceError as error:
            return self._failed(str(error), now)
        data = fetched.data
        if data is None:
            return self._checked(now, fetched.etag, "the source answered not modified")
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._seen_digest and self._active is not None:
            return self._checked(now, fetched.etag, "the source has not changed")
        if self._refused is not None and self._refused[0] == digest:
            return self._failed(self._refused[1], now)  # the same bytes: the same answer
        try:
            bundle = load_bundle(data, public_key=self._key, clock=self._clock)
            self._admissible(bundle)
        except BundleError as error:
            self._refused = (digest, str(error))
            return self._failed(str(error), now)
        self._seen_digest = digest
        active = self._active
        if active is not None and active.content_hash == bundle.content_hash:
            return self._checked(now, fetched.etag, "the source holds the active bundle")
        self._rolled_back.clear()
        self._install(bundle, self.source, data, keep_current=True)
        self._checked(now, fetched.etag, "")
        return ReloadResult(ReloadOutcome.ACTIVATED,
                            f"activated `{bundle.content_hash[:12]}` from `{self.source}`",
                            self._active)

    def _admissible(self, bundle: Bundle) -> None:
        """Raise ``BundleError`` unless ``bundle`` may replace the active one."""
        active = self._active
        expected = self._expected_policy or (None if active is None else active.policy)
        if expected is not None and bundle.policy != expected:
            raise BundleError(f"the bundle is for policy `{bundle.policy}`, not the "
                              f"expected `{expected}`")
        if bundle.content_hash in self._rolled_back:
            raise BundleError(f"bundle `{bundle.content_hash[:12]}` was rolled back: the "
                              "source must serve another")

    def _install(self, bundle: Bundle, source: str, data: bytes | None, *,
                 keep_current: bool) -> None:
        current = self._active
        if current is not None and keep_current:
            self._previous.append(current)
        now = self._clock()
        self._active = ActiveBundle(bundle, bundle.content_hash, bundle.policy, now, source)
        self._last_activation = now
        if source != self._persisted_path():
            self._persist(bundle, data)

    def _checked(self, now: float, etag: str | None, reason: str) -> ReloadResult:
        self._last_check = now
        self._etag = etag
        self._failures = 0
        self._refused = None
        return ReloadResult(ReloadOutcome.UNCHANGED, reason, self._active)

    def _failed(self, reason: str, now: float) -> ReloadResult:
        self._last_failure = _Failure(now, reason)
        self._failures += 1
        logger.warning("bundle from `%s` refused: %s", self.source, reason)
        return ReloadResult(ReloadOutcome.REFUSED, reason, self._active)

    def _notify(self, result: ReloadResult) -> None:
        if self._on_reload is None:
            return
        try:
            self._on_reload(result)
        except Exception:  # telemetry must never break loading
            logger.exception("the on_reload callback failed")

    # -- persistence ---------------------------------------------------------------

    def _persisted_path(self) -> str | None:
        if self._persist_dir is None:
            return None
        return os.path.join(self._persist_dir, PERSISTED_NAME)

    def _persist(self, bundle: Bundle, data: bytes | None) -> None:
        """Write the bundle to ``persist_dir`` atomically (a temporary file in the same
        directory, flushed to disk, then renamed over the old one)."""
        path = self._persisted_path()
        if path is None or self._persist_dir is None:
            return
        try:
            os.makedirs(self._persist_dir, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._persist_dir, prefix=".bundle-",
                                                 suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(serialize(bundle.document) if data is None else data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            self._persist_error = (f"cannot persist the bundle in `{self._persist_dir}`: "
                                   f"{(error.strerror or str(error)).lower()}")
            logger.warning("%s", self._persist_error)
            return
        self._persist_error = None

    def _restore_persisted(self, why: str) -> ReloadResult | None:
        """Activate the persisted bundle after the source failed at start (``why``);
        None when nothing was persisted."""
        path = self._persisted_path()
        if path is None or not os.path.exists(path):
            return None
        with self._lock:
            try:
                bundle = load_bundle(path, public_key=self._key, clock=self._clock)
                self._admissible(bundle)
            except BundleError as error:
                return ReloadResult(ReloadOutcome.REFUSED,
                                    f"the persisted bundle `{path}` is refused: {error}",
                                    self._active)
            self._install(bundle, path, None, keep_current=True)
            return ReloadResult(
                ReloadOutcome.ACTIVATED,
                f"activated the persisted bundle `{bundle.content_hash[:12]}` because the "
                f"source failed: {why}", self._active)


def _watch(holder_ref: weakref.ref[BundleHolder], stop: threading.Event, interval: float,
           jitter: float, max_backoff: float) -> None:
    """The watcher thread's loop (see ``BundleHolder.start``)."""
    # Two schedules: the kill-switch file every interval, the bundle after its
    # backoff, so that an incident's kill switch never waits for a failing server.
    draw = random.Random()
    next_kills = next_bundle = time.monotonic() + watch_delay(
        interval, jitter, 0, max_backoff, draw.random())
    while not stop.wait(max(0.0, min(next_kills, next_bundle) - time.monotonic())):
        holder = holder_ref()
        if holder is None:
            return  # nobody holds the holder: nobody would read what is loaded
        now = time.monotonic()
        try:
            if now >= next_kills:
                next_kills = now + watch_delay(interval, jitter, 0, max_backoff,
                                               draw.random())
                holder.reload_kill_switches()
            if now >= next_bundle:
                next_bundle = now + interval  # replaced below once the reload is done
                holder.reload()
                next_bundle = time.monotonic() + watch_delay(
                    interval, jitter, holder.consecutive_failures, max_backoff,
                    draw.random())
        except Exception:  # a bug must not end the watcher silently
            logger.exception("the bundle watcher's reload failed")
        del holder  # not held while waiting


def _killed(active: ActiveBundle, topic: object) -> Verdict:
    bundle = active.bundle
    tier = bundle.tier_of(topic)
    return Verdict(Decision.DENY, None, KILL_SWITCH, tier,
                   None if tier is None else bundle.fail_mode(tier), active.content_hash)


def reload_metrics(metrics: GateMetrics) -> Callable[[ReloadResult], None]:
    """An ``on_reload`` callback for ``metrics``: every attempt (reload, watcher, rollback)
    counted in ``dualgate_bundle_reloads_total{result}``, and every activation recorded in
    ``dualgate_bundle_info`` and ``dualgate_bundle_last_activation_timestamp_seconds``."""

    def observe(result: ReloadResult) -> None:
        metrics.bundle_reload(result.result)
        if result.result is ReloadOutcome.ACTIVATED and result.active is not None:
            active = result.active
            metrics.bundle_activated(active.policy, active.content_hash, active.activated_at)

    return observe
