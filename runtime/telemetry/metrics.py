"""The gates' metrics: every job, decision, bypass and reload counted, with or without
``prometheus_client``.

The counts live in this module's own counters either way; with ``prometheus_client``
installed (the ``dualgate[metrics]`` extra) one collector in a registry of their own
exposes them, as counters and gauges with the names below, at scrape time. Without it
the gates work the same, and ``snapshot()`` reads the counts in both cases.

Cost: a counter is an ``itertools.count`` whose step is one C call that cannot lose an
increment to another thread (under the GIL, as the rest of CPython's builtins), with no
lock. A labelled counter is created once per label tuple and its step cached under the
tuple callers pass, so counting through the methods is one dict lookup and one call.
A gate counts a whole check with one step: ``checked()`` gives, once per distinct
outcome, one counter whose value is added, at read time, to each series that outcome
counts (a job received, its decision, and a bypass, an override, a requeue or a kill
switch when it is one), so the series of one check never disagree and the hot path
pays one call. ``benchmarks/bench_telemetry.py`` measures it beside a bare counter step.

Label sets are bounded: each label of a metric keeps at most ``MAX_LABEL_VALUES``
distinct values (and values of at most ``MAX_LABEL_LENGTH`` characters); any further
value, and any value that is not a string, is counted under ``other``, and ``None`` under
``none``. A request that carries a thousand made-up envs therefore adds at most
``MAX_LABEL_VALUES`` series per label, never a thousand. Nothing here raises on label
values.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

#: The metric names, as Prometheus exposes them; the alert rules are written against these.
JOBS_RECEIVED = "dualgate_jobs_received_total"
DECISIONS = "dualgate_decisions_total"
FAIL_OPEN = "dualgate_fail_open_total"
POLICY_UNAVAILABLE = "dualgate_policy_unavailable_total"
REQUEUED = "dualgate_requeued_total"
KILL_SWITCH = "dualgate_kill_switch_total"
FAIL_MODE_OVERRIDES = "dualgate_fail_mode_overrides_total"
BUNDLE_RELOADS = "dualgate_bundle_reloads_total"
BUNDLE_INFO = "dualgate_bundle_info"
BUNDLE_LAST_ACTIVATION = "dualgate_bundle_last_activation_timestamp_seconds"
DECISION_LOGS_DROPPED = "dualgate_decision_logs_dropped_total"

#: Each counter's name, labels and help text.
COUNTERS: dict[str, tuple[tuple[str, ...], str]] = {
    JOBS_RECEIVED: (("gate",), "Jobs a gate was asked to check."),
    DECISIONS: (("gate", "decision", "tier", "reason"),
                "Gate decisions, one per checked job, bypassed or not."),
    FAIL_OPEN: (("gate", "tier", "env"),
                "Jobs let through without a policy decision because their tier fails open."),
    POLICY_UNAVAILABLE: (("gate", "cause"), "Checks the policy could not decide."),
    REQUEUED: (("gate",), "Jobs a gate sent back to the queue."),
    KILL_SWITCH: ((), "Jobs denied by a kill switch."),
    FAIL_MODE_OVERRIDES: (("tier",),
                          "Jobs whose fail mode the emergency process-level override opened."),
    BUNDLE_RELOADS: (("result",), "Bundle reload attempts by result."),
    DECISION_LOGS_DROPPED: (("reason",), "Decision-log entries that were not written."),
}
_BUNDLE_INFO_HELP = "The active bundle: its policy and content hash (value 1)."
_BUNDLE_LAST_ACTIVATION_HELP = "When the active bundle was activated (Unix time)."

#: How many distinct values one label of one metric keeps before counting under ``other``.
MAX_LABEL_VALUES = 64
#: The longest label value kept; a longer one is counted under ``other``.
MAX_LABEL_LENGTH = 128
#: How many raw label tuples (and check outcomes) one metric caches for the hot path.
MAX_CACHED_TUPLES = 4096
OTHER = "other"
NONE = "none"

Snapshot = dict[str, dict[tuple[str, ...], float]]
Step = Callable[[], object]


class Count:
    """An exact counter without a lock: ``step()`` adds one (``itertools.count``'s
    ``__next__``, atomic under the GIL); ``value`` reads it. ``created`` is when it was
    made (Unix time), for the exposition's ``_created`` samples."""

    __slots__ = ("_count", "created", "step")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.step: Step = self._count.__next__
        self.created = time.time()

    def inc(self) -> None:
        self.step()

    @property
    def value(self) -> int:
        # The one way itertools.count shows its next value: its repr, `count(N)`.
        return int(repr(self._count)[6:-1])


class CheckOutcome(NamedTuple):
    """What one gate check counts (the key of ``GateMetrics.checked``): a job received
    by ``gate``, its ``decision``/``tier``/``reason`` (label words), and, when set, a
    bypass in ``fail_open_env``, an ``overridden`` fail mode, a ``requeued`` job, a job
    ``killed`` by a kill switch."""

    gate: str
    decision: str
    tier: str
    reason: str
    fail_open_env: str | None = None
    overridden: bool = False
    requeued: bool = False
    killed: bool = False


class _Family:
    """One metric's counters by (bounded) label tuple, created on first use.

    ``cache`` maps the label tuples callers pass to their counter's step, for the hot
    path; ``bounded()`` and ``child()`` are the slow path that bounds the values and
    fills the cache.
    """

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.cache: dict[tuple[Any, ...], Step] = {}
        self.children: dict[tuple[str, ...], Count] = {}
        self._accepted: tuple[set[str], ...] = tuple(set() for _ in labels)
        self._lock = threading.Lock()

    def child(self, key: tuple[Any, ...]) -> Count:
        """The counter of ``key`` (bounded), created on first use; caches its step
        under ``key``."""
        with self._lock:
            bounded = self._bounded(key)
            child = self.children.get(bounded)
            if child is None:
                child = self.children[bounded] = Count()
            try:
                if len(self.cache) < MAX_CACHED_TUPLES:
                    self.cache[key] = child.step
            except TypeError:  # an unhashable label value: counted, never cached
                pass
            return child

    def bounded(self, key: tuple[Any, ...]) -> tuple[str, ...]:
        """``key`` as the label tuple it is counted under."""
        with self._lock:
            return self._bounded(key)

    def _bounded(self, key: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(self._bound(index, value) for index, value in enumerate(key))

    def _bound(self, index: int, value: object) -> str:
        if value is None:
            return NONE
        if not isinstance(value, str):
            return OTHER
        text = str.__str__(value)
        accepted = self._accepted[index]
        if text in accepted:
            return text
        if len(accepted) < MAX_LABEL_VALUES and len(text) <= MAX_LABEL_LENGTH:
            accepted.add(text)
            return text
        return OTHER


class GateMetrics:
    """The counters and gauges of the gates and the bundle holder.

    ``use_prometheus``: True requires prometheus_client (ImportError otherwise), False
    keeps plain counters, None (the default) uses prometheus_client when it is installed.
    ``registry``: the prometheus_client registry to register in (giving one implies
    prometheus_client); by default a private ``CollectorRegistry`` of this object's own,
    so that several gates and tests never collide. Expose it with
    ``prometheus_client.start_http_server(port, registry=metrics.registry)`` or serve
    ``prometheus_client.generate_latest(metrics.registry)``.

    Every method is thread-safe, never raises on label values, and costs one dict lookup
    and one counter step once a label tuple has been seen.
    """

    def __init__(self, registry: Any = None, *, use_prometheus: bool | None = None) -> None:
        if use_prometheus is False and registry is not None:
            raise ValueError("a registry needs prometheus_client: drop `use_prometheus=False`")
        prometheus = None if use_prometheus is False else _prometheus_client(
            required=use_prometheus is True or registry is not None)
        self._lock = threading.Lock()
        self._bundle_info_labels: tuple[str, str] | None = None
        self._last_activation = 0.0
        self._families = {name: _Family(labels) for name, (labels, _help) in COUNTERS.items()}
        #: Check outcomes: the caller's key to its step, and each bounded outcome's
        #: counter with the series it adds to.
        self._checked: dict[CheckOutcome, Step] = {}
        self._outcomes: dict[tuple[tuple[str, tuple[str, ...]], ...], Count] = {}
        # The hot path reads these caches directly: one attribute load, one dict lookup.
        self._jobs_received = self._families[JOBS_RECEIVED].cache
        self._decisions = self._families[DECISIONS].cache
        self._fail_open = self._families[FAIL_OPEN].cache
        self._kill_switch = self._families[KILL_SWITCH].child(()).step
        self.registry: Any = None
        if prometheus is not None:
            self.registry = prometheus.CollectorRegistry() if registry is None else registry
            self.registry.register(_Collector(self, prometheus))

    @property
    def uses_prometheus(self) -> bool:
        """Whether a prometheus_client registry exposes the values (else plain counters
        only ``snapshot()`` reads)."""
        return self.registry is not None

    def checked(self, outcome: CheckOutcome) -> Step:
        """The step that counts one gate check of ``outcome``: one call adds one to
        ``jobs_received{gate}`` and ``decisions{gate,decision,tier,reason}``, and to
        ``fail_open{gate,tier,env}``, ``fail_mode_overrides{tier}``,
        ``requeued{gate}`` and ``kill_switch`` when the outcome is one. A gate keeps the
        step with what it reuses per verdict; the labels are bounded as for the methods
        below."""
        try:
            step = self._checked.get(outcome)
            cacheable = True
        except TypeError:  # an unhashable label value: counted (as `other`), never cached
            step, cacheable = None, False
        if step is not None:
            return step
        gate, decision, tier, reason, env, overridden, requeued, killed = outcome
        series = [(JOBS_RECEIVED, (gate,)), (DECISIONS, (gate, decision, tier, reason))]
        if env is not None:
            series.append((FAIL_OPEN, (gate, tier, env)))
        if overridden:
            series.append((FAIL_MODE_OVERRIDES, (tier,)))
        if requeued:
            series.append((REQUEUED, (gate,)))
        if killed:
            series.append((KILL_SWITCH, ()))
        key = tuple((name, self._families[name].bounded(labels)) for name, labels in series)
        with self._lock:
            count = self._outcomes.get(key)
            if count is None:
                count = self._outcomes[key] = Count()
            if cacheable and len(self._checked) < MAX_CACHED_TUPLES:
                self._checked[outcome] = count.step
        return count.step

    def job_received(self, gate: str) -> None:
        """Count one job a gate was asked to check (a gate counts it with ``checked``)."""
        try:
            self._jobs_received[(gate,)]()
        except (KeyError, TypeError):
            self._families[JOBS_RECEIVED].child((gate,)).inc()

    def decision(self, gate: str, decision: str, tier: str, reason: str) -> None:
        """Count one gate decision. Counted once per checked job, bypassed or not, so
        that the decisions of a tier add up to the jobs of that tier (the bypass ratio's
        denominator)."""
        try:
            self._decisions[(gate, decision, tier, reason)]()
        except (KeyError, TypeError):
            self._families[DECISIONS].child((gate, decision, tier, reason)).inc()

    def fail_open(self, gate: str, tier: str, env: str) -> None:
        """Count one job let through without a policy decision (a bypass)."""
        try:
            self._fail_open[(gate, tier, env)]()
        except (KeyError, TypeError):
            self._families[FAIL_OPEN].child((gate, tier, env)).inc()

    def policy_unavailable(self, gate: str, cause: str) -> None:
        """Count one check the policy could not decide, by cause (no bundle, error, ...)."""
        self._count(POLICY_UNAVAILABLE, (gate, cause))

    def requeued(self, gate: str) -> None:
        """Count one job sent back to the queue."""
        self._count(REQUEUED, (gate,))

    def kill_switch(self) -> None:
        """Count one job denied by a kill switch."""
        self._kill_switch()

    def fail_mode_override(self, tier: str) -> None:
        """Count one job whose fail mode the emergency process-level override opened."""
        self._count(FAIL_MODE_OVERRIDES, (tier,))

    def bundle_reload(self, result: str) -> None:
        """Count one reload attempt by its result (activated, unchanged, refused...)."""
        self._count(BUNDLE_RELOADS, (result,))

    def bundle_activated(self, policy: str, content_hash: str, timestamp: float) -> None:
        """Record the newly active bundle: ``dualgate_bundle_info`` then holds exactly one
        series, this bundle's, and the activation gauge its Unix time."""
        with self._lock:
            self._bundle_info_labels = (str(policy), str(content_hash))
            self._last_activation = float(timestamp)

    def decision_log_dropped(self, reason: str) -> None:
        """Count one decision-log entry that was not written, by reason."""
        self._count(DECISION_LOGS_DROPPED, (reason,))

    def snapshot(self) -> Snapshot:
        """Every metric by name, then by label-value tuple (in the label order of
        ``COUNTERS``; ``()`` for a metric without labels): its current value. Only label
        tuples seen so far appear; the gauges appear once a bundle was activated."""
        result: Snapshot = {name: {key: float(value) for key, (value, _created)
                                   in series.items()}
                            for name, series in self.series().items()}
        with self._lock:
            if self._bundle_info_labels is None:
                result[BUNDLE_INFO] = {}
                result[BUNDLE_LAST_ACTIVATION] = {}
            else:
                result[BUNDLE_INFO] = {self._bundle_info_labels: 1.0}
                result[BUNDLE_LAST_ACTIVATION] = {(): self._last_activation}
        return result

    def series(self) -> dict[str, dict[tuple[str, ...], tuple[int, float]]]:
        """Every counter's series: its value and when it was created (the earliest of
        the counters that add to it)."""
        result: dict[str, dict[tuple[str, ...], tuple[int, float]]] = {}
        for name, family in self._families.items():
            result[name] = {key: (child.value, child.created)
                            for key, child in list(family.children.items())}
        with self._lock:
            outcomes = list(self._outcomes.items())
        for series, count in outcomes:
            value, created = count.value, count.created
            for name, labels in series:
                known = result[name].get(labels)
                result[name][labels] = (value, created) if known is None else (
                    known[0] + value, min(known[1], created))
        return result

    def bundle_gauges(self) -> tuple[tuple[str, str] | None, float]:
        """The active bundle's (policy, hash) labels (None before any) and its
        activation time (0 before any)."""
        with self._lock:
            return self._bundle_info_labels, self._last_activation

    def _count(self, name: str, key: tuple[Any, ...]) -> None:
        family = self._families[name]
        try:
            family.cache[key]()
        except (KeyError, TypeError):
            family.child(key).inc()


class _Collector:
    """Exposes a ``GateMetrics``'s counts to a prometheus_client registry at scrape
    time, as the counters and gauges of ``COUNTERS`` and the bundle gauges."""

    def __init__(self, metrics: GateMetrics, prometheus: Any) -> None:
        self._metrics = metrics
        self._core = prometheus.metrics_core
        self._created_module = prometheus.metrics

    def describe(self) -> Iterator[Any]:
        """The metric families without samples, so that a registry refuses a second
        collector of the same names."""
        core = self._core
        for name, (labels, help_text) in COUNTERS.items():
            yield core.CounterMetricFamily(name, help_text, labels=labels)
        yield core.GaugeMetricFamily(BUNDLE_INFO, _BUNDLE_INFO_HELP, labels=("policy", "hash"))
        yield core.GaugeMetricFamily(BUNDLE_LAST_ACTIVATION, _BUNDLE_LAST_ACTIVATION_HELP)

    def collect(self) -> Iterator[Any]:
        core = self._core
        # prometheus_client's own switch for `_created` samples (its env variable or
        # `disable_created_metrics()`), read as its counters read it.
        with_created = getattr(self._created_module, "_use_created", True)
        for name, series in self._metrics.series().items():
            labels, help_text = COUNTERS[name]
            family = core.CounterMetricFamily(name, help_text, labels=labels)
            for key, (value, created) in series.items():
                family.add_metric(key, float(value), created=created if with_created else None)
            yield family
        info_labels, activated = self._metrics.bundle_gauges()
        info = core.GaugeMetricFamily(BUNDLE_INFO, _BUNDLE_INFO_HELP, labels=("policy", "hash"))
        if info_labels is not None:
            info.add_metric(info_labels, 1.0)
        yield info
        yield core.GaugeMetricFamily(BUNDLE_LAST_ACTIVATION, _BUNDLE_LAST_ACTIVATION_HELP,
                                     value=activated)


def _prometheus_client(*, required: bool) -> Any:
    """The prometheus_client module, imported only here, or None when it is not installed
    and not required."""
    try:
        import prometheus_client
        import prometheus_client.metrics
        import prometheus_client.metrics_core
    except ImportError:
        if required:
            raise ImportError(
                "prometheus_client is not installed: install `dualgate[metrics]`"
            ) from None
        return None
    return prometheus_client
