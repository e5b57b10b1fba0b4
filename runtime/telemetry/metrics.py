"""The gates' metrics: every job, decision, bypass and reload counted, with or without
``prometheus_client``.

With ``prometheus_client`` installed (the ``dualgate[metrics]`` extra) the counters are
Prometheus metrics in a registry of their own; without it they are plain thread-safe
counters, and the gates work the same. Either way ``snapshot()`` reads them.

Cost: a labelled child is created once per label tuple and cached with its increment
(for a prometheus_client child, its value's own ``inc``, which skips the checks
``Counter.inc`` repeats on every call: a cached child is always observable and the amount
is always 1), so counting on the hot path is one dict lookup and one call.
``benchmarks/bench_telemetry.py`` measures it beside a bare counter increment.

Label sets are bounded: each label of a metric keeps at most ``MAX_LABEL_VALUES``
distinct values (and values of at most ``MAX_LABEL_LENGTH`` characters); any further
value, and any value that is not a string, is counted under ``other``, and ``None`` under
``none``. A request that carries a thousand made-up envs therefore adds at most
``MAX_LABEL_VALUES`` series per label, never a thousand. Nothing here raises on label
values.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Protocol

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

#: How many distinct values one label of one metric keeps before counting under ``other``.
MAX_LABEL_VALUES = 64
#: The longest label value kept; a longer one is counted under ``other``.
MAX_LABEL_LENGTH = 128
#: How many raw label tuples one metric caches for the hot path.
MAX_CACHED_TUPLES = 4096
OTHER = "other"
NONE = "none"

Snapshot = dict[str, dict[tuple[str, ...], float]]


class _Child(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _PlainCounter:
    """A thread-safe counter: the fallback when prometheus_client is not installed."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount


_Increment = Callable[[], None]


def _increment(child: _Child) -> _Increment:
    """A call that adds 1 to ``child``: a prometheus_client child's value's ``inc`` bound
    to 1 (what ``Counter.inc(1)`` comes down to), else the child's own ``inc``."""
    value = getattr(child, "_value", None)
    inc = getattr(value, "inc", None)
    if callable(inc):
        return functools.partial(inc, 1)
    return child.inc


class _Family:
    """One metric's children by (bounded) label tuple, created on first use.

    ``cache`` maps the label tuples callers pass to their child's increment, for the hot
    path;
    ``child()`` is the slow path that bounds the values and fills the cache.
    """

    def __init__(self, labels: tuple[str, ...], make: Callable[[tuple[str, ...]], _Child]):
        self.labels = labels
        self.cache: dict[tuple[Any, ...], _Increment] = {}
        self.children: dict[tuple[str, ...], _Child] = {}
        self._make = make
        self._accepted: tuple[set[str], ...] = tuple(set() for _ in labels)
        self._lock = threading.Lock()

    def child(self, key: tuple[Any, ...]) -> _Child:
        """The child counting ``key`` (bounded), created on first use; caches its
        increment under ``key``."""
        with self._lock:
            bounded = tuple(self._bound(index, value) for index, value in enumerate(key))
            child = self.children.get(bounded)
            if child is None:
                child = self.children[bounded] = self._make(bounded)
            try:
                if len(self.cache) < MAX_CACHED_TUPLES:
                    self.cache[key] = _increment(child)
            except TypeError:  # an unhashable label value: counted, never cached
                pass
            return child

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
    and one increment once a label tuple has been seen.
    """

    def __init__(self, registry: Any = None, *, use_prometheus: bool | None = None) -> None:
        if use_prometheus is False and registry is not None:
            raise ValueError("a registry needs prometheus_client: drop `use_prometheus=False`")
        prometheus = None if use_prometheus is False else _prometheus_client(
            required=use_prometheus is True or registry is not None)
        self._lock = threading.Lock()
        self._bundle_info_labels: tuple[str, str] | None = None
        self._last_activation = 0.0
        self.registry: Any = None
        self._metrics: dict[str, Any] = {}
        if prometheus is None:
            self._families = {
                name: _Family(labels, lambda _key: _PlainCounter())
                for name, (labels, _help) in COUNTERS.items()
            }
        else:
            self.registry = prometheus.CollectorRegistry() if registry is None else registry
            self._families = {}
            for name, (labels, help_text) in COUNTERS.items():
                counter = prometheus.Counter(name, help_text, labels, registry=self.registry)
                self._metrics[name] = counter
                self._families[name] = _Family(labels, _labelled(counter))
            self._metrics[BUNDLE_INFO] = prometheus.Gauge(
                BUNDLE_INFO, "The active bundle: its policy and content hash (value 1).",
                ("policy", "hash"), registry=self.registry,
            )
            self._metrics[BUNDLE_LAST_ACTIVATION] = prometheus.Gauge(
                BUNDLE_LAST_ACTIVATION, "When the active bundle was activated (Unix time).",
                registry=self.registry,
            )
        # The hot path reads these caches directly: one attribute load, one dict lookup.
        self._jobs_received = self._families[JOBS_RECEIVED].cache
        self._decisions = self._families[DECISIONS].cache
        self._fail_open = self._families[FAIL_OPEN].cache
        self._kill_switch = _increment(self._families[KILL_SWITCH].child(()))

    @property
    def uses_prometheus(self) -> bool:
        """Whether the values live in prometheus_client metrics (else plain counters)."""
        return self.registry is not None

    def job_received(self, gate: str) -> None:
        """Count one job a gate was asked to check (before anything else happens)."""
        try:
            self._jobs_received[(gate,)]()
        except (KeyError, TypeError):
            self._families[JOBS_RECEIVED].child((gate,)).inc()

    def decision(self, gate: str, decision: str, tier: str, reason: str) -> None:
        """Count one gate decision. Called once per checked job, bypassed or not, so that
        the decisions of a tier add up to the jobs of that tier (the bypass ratio's
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
        labels = (str(policy), str(content_hash))
        with self._lock:
            if self.registry is not None:
                info = self._metrics[BUNDLE_INFO]
                if self._bundle_info_labels is not None and self._bundle_info_labels != labels:
                    info.remove(*self._bundle_info_labels)
                info.labels(*labels).set(1)
                self._metrics[BUNDLE_LAST_ACTIVATION].set(timestamp)
            self._bundle_info_labels = labels
            self._last_activation = float(timestamp)

    def decision_log_dropped(self, reason: str) -> None:
        """Count one decision-log entry that was not written, by reason."""
        self._count(DECISION_LOGS_DROPPED, (reason,))

    def snapshot(self) -> Snapshot:
        """Every metric by name, then by label-value tuple (in the label order of
        ``COUNTERS``; ``()`` for a metric without labels): its current value. Only label
        tuples seen so far appear; the gauges appear once a bundle was activated."""
        result: Snapshot = {name: {} for name in COUNTERS}
        if self.registry is None:
            for name, family in self._families.items():
                result[name] = {
                    key: child.value for key, child in list(family.children.items())
                    if isinstance(child, _PlainCounter)
                }
        else:
            for name, (labels, _help) in COUNTERS.items():
                result[name] = _collected(self._metrics[name], name, labels)
        with self._lock:
            if self._bundle_info_labels is None:
                result.setdefault(BUNDLE_INFO, {})
                result.setdefault(BUNDLE_LAST_ACTIVATION, {})
            else:
                result[BUNDLE_INFO] = {self._bundle_info_labels: 1.0}
                result[BUNDLE_LAST_ACTIVATION] = {(): self._last_activation}
        return result

    def _count(self, name: str, key: tuple[Any, ...]) -> None:
        family = self._families[name]
        try:
            family.cache[key]()
        except (KeyError, TypeError):
            family.child(key).inc()


def _labelled(counter: Any) -> Callable[[tuple[str, ...]], _Child]:
    def make(key: tuple[str, ...]) -> _Child:
        child: _Child = counter.labels(*key) if key else counter
        return child
    return make


def _collected(
    metric: Any, name: str, labels: tuple[str, ...],
) -> dict[tuple[str, ...], float]:
    """A prometheus_client metric's current values by label tuple (its ``_created``
    samples left out)."""
    values: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == name:
                values[tuple(sample.labels[label] for label in labels)] = float(sample.value)
    return values


def _prometheus_client(*, required: bool) -> Any:
    """The prometheus_client module, imported only here, or None when it is not installed
    and not required."""
    try:
        import prometheus_client
    except ImportError:
        if required:
            raise ImportError(
                "prometheus_client is not installed: install `dualgate[metrics]`"
            ) from None
        return None
    return prometheus_client
