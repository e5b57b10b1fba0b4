"""GateMetrics: the same counts with prometheus_client and with plain counters, bounded
labels, a private registry, and the exposition's exact metric names."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime.telemetry import GateMetrics
from dualgate.runtime.telemetry import metrics as names
from dualgate.runtime.telemetry.metrics import MAX_LABEL_VALUES, NONE, OTHER, CheckOutcome
from tests.profiles import examples

try:
    import prometheus_client
except ImportError:  # the plain-counter tests still run
    prometheus_client = None

NEEDS_PROMETHEUS = pytest.mark.skipif(prometheus_client is None,
                                      reason="prometheus_client is not installed")
BOTH = pytest.mark.parametrize("use_prometheus", [
    pytest.param(True, id="prometheus", marks=NEEDS_PROMETHEUS),
    pytest.param(False, id="plain"),
])


def exercise(metrics: GateMetrics) -> None:
    metrics.job_received("submit")
    metrics.job_received("submit")
    metrics.job_received("dispatch")
    metrics.decision("submit", "allow", "low", "rule")
    metrics.decision("submit", "allow", "low", "rule")
    metrics.decision("dispatch", "deny", "high", "kill-switch")
    metrics.fail_open("submit", "low", "production")
    metrics.policy_unavailable("submit", "no-bundle")
    metrics.requeued("dispatch")
    metrics.kill_switch()
    metrics.fail_mode_override("medium")
    metrics.bundle_reload("activated")
    metrics.bundle_reload("refused")
    metrics.bundle_reload("refused")
    metrics.decision_log_dropped("queue-full")
    metrics.bundle_activated("infra", "aa11", 1700000000.5)


EXPECTED = {
    names.JOBS_RECEIVED: {("submit",): 2.0, ("dispatch",): 1.0},
    names.DECISIONS: {("submit", "allow", "low", "rule"): 2.0,
                      ("dispatch", "deny", "high", "kill-switch"): 1.0},
    names.FAIL_OPEN: {("submit", "low", "production"): 1.0},
    names.POLICY_UNAVAILABLE: {("submit", "no-bundle"): 1.0},
    names.REQUEUED: {("dispatch",): 1.0},
    names.KILL_SWITCH: {(): 1.0},
    names.FAIL_MODE_OVERRIDES: {("medium",): 1.0},
    names.BUNDLE_RELOADS: {("activated",): 1.0, ("refused",): 2.0},
    names.DECISION_LOGS_DROPPED: {("queue-full",): 1.0},
    names.BUNDLE_INFO: {("infra", "aa11"): 1.0},
    names.BUNDLE_LAST_ACTIVATION: {(): 1700000000.5},
}


@BOTH
def test_snapshot_reads_every_count(use_prometheus: bool) -> None:
    metrics = GateMetrics(use_prometheus=use_prometheus)
    assert metrics.uses_prometheus is use_prometheus
    exercise(metrics)
    assert metrics.snapshot() == EXPECTED


@BOTH
def test_bundle_info_holds_only_the_active_bundle(use_prometheus: bool) -> None:
    metrics = GateMetrics(use_prometheus=use_prometheus)
    assert metrics.snapshot()[names.BUNDLE_INFO] == {}
    metrics.bundle_activated("infra", "first", 10.0)
    metrics.bundle_activated("infra", "second", 20.0)
    snapshot = metrics.snapshot()
    assert snapshot[names.BUNDLE_INFO] == {("infra", "second"): 1.0}
    assert snapshot[names.BUNDLE_LAST_ACTIVATION] == {(): 20.0}
    if use_prometheus:
        text = prometheus_client.generate_latest(metrics.registry).decode()
        assert 'dualgate_bundle_info{hash="second",policy="infra"} 1.0' in text
        assert "first" not in text


@NEEDS_PROMETHEUS
def test_the_exposition_has_the_exact_metric_names() -> None:
    metrics = GateMetrics()
    exercise(metrics)
    text = prometheus_client.generate_latest(metrics.registry).decode()
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
               if line and not line.startswith("#") and "_created" not in line}
    assert samples == set(EXPECTED)
    assert 'dualgate_decisions_total{decision="allow",gate="submit",reason="rule",tier="low"} 2.0' \
        in text
    assert 'dualgate_fail_open_total{env="production",gate="submit",tier="low"} 1.0' in text
    assert "dualgate_kill_switch_total 1.0" in text
    assert "dualgate_bundle_last_activation_timestamp_seconds 1.7000000005e+09" in text
    for name in names.COUNTERS:
        assert f"# TYPE {name} counter" in text


@NEEDS_PROMETHEUS
def test_each_instance_has_a_private_registry() -> None:
    first, second = GateMetrics(), GateMetrics()
    first.job_received("submit")
    assert first.registry is not second.registry
    assert second.snapshot()[names.JOBS_RECEIVED] == {}
    assert prometheus_client.REGISTRY.get_sample_value(names.JOBS_RECEIVED,
                                                       {"gate": "submit"}) is None


@NEEDS_PROMETHEUS
def test_a_given_registry_is_used() -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = GateMetrics(registry)
    metrics.requeued("dispatch")
    assert registry.get_sample_value(names.REQUEUED, {"gate": "dispatch"}) == 1.0
    with pytest.raises(ValueError, match="registry needs prometheus_client"):
        GateMetrics(registry, use_prometheus=False)


def test_without_prometheus_client_plain_counters_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails
    metrics = GateMetrics()
    assert not metrics.uses_prometheus and metrics.registry is None
    exercise(metrics)
    assert metrics.snapshot() == EXPECTED
    with pytest.raises(ImportError, match=r"dualgate\[metrics\]"):
        GateMetrics(use_prometheus=True)


@BOTH
def test_concurrent_counting_loses_nothing(use_prometheus: bool) -> None:
    metrics = GateMetrics(use_prometheus=use_prometheus)
    threads, per_thread = 8, 2000

    def work(index: int) -> None:
        for _ in range(per_thread):
            metrics.decision("submit", "allow", f"t{index % 2}", "rule")
            metrics.kill_switch()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    snapshot = metrics.snapshot()
    assert snapshot[names.DECISIONS] == {
        ("submit", "allow", "t0", "rule"): threads // 2 * per_thread,
        ("submit", "allow", "t1", "rule"): threads // 2 * per_thread,
    }
    assert snapshot[names.KILL_SWITCH] == {(): threads * per_thread}


@BOTH
def test_odd_label_values_are_counted_never_raised_on(use_prometheus: bool) -> None:
    metrics = GateMetrics(use_prometheus=use_prometheus)
    metrics.fail_open("submit", None, "dev")  # type: ignore[arg-type]
    metrics.fail_open("submit", "low", ["unhashable"])  # type: ignore[arg-type]
    metrics.fail_open("submit", "low", 7)  # type: ignore[arg-type]
    metrics.fail_open("submit", "low", "x" * 1000)
    assert metrics.snapshot()[names.FAIL_OPEN] == {
        ("submit", NONE, "dev"): 1.0, ("submit", "low", OTHER): 3.0,
    }


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3 * MAX_LABEL_VALUES))
def test_label_values_are_bounded_and_counts_add_up(envs: list[str]) -> None:
    metrics = GateMetrics(use_prometheus=False)
    for env in envs:
        metrics.fail_open("submit", "low", env)
    counts = metrics.snapshot()[names.FAIL_OPEN]
    kept = {env for (_gate, _tier, env) in counts} - {OTHER}
    assert len(kept) <= MAX_LABEL_VALUES
    assert sum(counts.values()) == len(envs)
    # The first values seen are the ones kept, each counted exactly.
    first = list(dict.fromkeys(envs))[:MAX_LABEL_VALUES]
    for env in first:
        if env != OTHER:
            assert counts[("submit", "low", env)] == envs.count(env)


def test_the_telemetry_imports_neither_prometheus_client_nor_the_compiler_side() -> None:
    from tests.imports import imported_after

    modules = imported_after("import dualgate.runtime.telemetry")
    assert "dualgate.runtime.telemetry.decision_log" in modules
    forbidden = ("prometheus_client", "dualgate.compiler", "lark", "click", "pydantic", "yaml",
                 "jsonschema")
    assert [m for m in modules if m.split(".")[0] in forbidden or m.startswith(forbidden)] == []


OUTCOMES = st.builds(
    CheckOutcome, st.sampled_from(["submit", "dispatch"]),
    st.sampled_from(["allow", "deny", "none"]), st.sampled_from(["low", "high", "none"]),
    st.sampled_from(["rule", "kill-switch", "policy-unavailable"]),
    st.one_of(st.none(), st.sampled_from(["production", "unknown"])), st.booleans(),
    st.booleans(), st.booleans())


def count_alone(metrics: GateMetrics, outcome: CheckOutcome) -> None:
    """What ``checked(outcome)()`` stands for, one method at a time."""
    gate, decision, tier, reason, env, overridden, requeued, killed = outcome
    metrics.job_received(gate)
    metrics.decision(gate, decision, tier, reason)
    if env is not None:
        metrics.fail_open(gate, tier, env)
    if overridden:
        metrics.fail_mode_override(tier)
    if requeued:
        metrics.requeued(gate)
    if killed:
        metrics.kill_switch()


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(OUTCOMES, max_size=30), st.lists(OUTCOMES, max_size=5))
def test_one_check_step_counts_what_each_method_counts(outcomes: list[CheckOutcome],
                                                       alone: list[CheckOutcome]) -> None:
    stepped, reference = GateMetrics(use_prometheus=False), GateMetrics(use_prometheus=False)
    for outcome in outcomes:
        stepped.checked(outcome)()
        count_alone(reference, outcome)
    for outcome in alone:  # the methods still count beside the steps
        count_alone(stepped, outcome)
        count_alone(reference, outcome)
    assert stepped.snapshot() == reference.snapshot()


def test_check_steps_are_bounded_like_the_methods() -> None:
    metrics = GateMetrics(use_prometheus=False)
    for number in range(3 * MAX_LABEL_VALUES):
        metrics.checked(CheckOutcome("submit", "none", "low", "policy-unavailable",
                                     f"env-{number}"))()
    counts = metrics.snapshot()[names.FAIL_OPEN]
    assert len(counts) == MAX_LABEL_VALUES + 1
    assert counts[("submit", "low", OTHER)] == 2 * MAX_LABEL_VALUES
    assert metrics.snapshot()[names.JOBS_RECEIVED] == {("submit",): 3 * MAX_LABEL_VALUES}


def test_odd_check_outcome_labels_are_counted_never_raised_on() -> None:
    metrics = GateMetrics(use_prometheus=False)
    odd = CheckOutcome("submit", ["unhashable"], None, 7, "production")  # type: ignore[arg-type]
    for _ in range(2):
        metrics.checked(odd)()
    snapshot = metrics.snapshot()
    assert snapshot[names.DECISIONS] == {("submit", OTHER, NONE, OTHER): 2.0}
    assert snapshot[names.FAIL_OPEN] == {("submit", NONE, "production"): 2.0}


def test_concurrent_check_steps_lose_nothing() -> None:
    metrics = GateMetrics(use_prometheus=False)
    outcome = CheckOutcome("submit", "allow", "low", "rule")
    threads, per_thread = 8, 5000

    def work() -> None:
        step = metrics.checked(outcome)
        for _ in range(per_thread):
            step()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert metrics.snapshot()[names.DECISIONS] == {
        ("submit", "allow", "low", "rule"): threads * per_thread}


def exposition(registry: object) -> list[str]:
    """The text format without its `_created` samples (creation times differ)."""
    text = prometheus_client.generate_latest(registry).decode()  # type: ignore[arg-type]
    return [line for line in text.splitlines() if "_created" not in line]


@NEEDS_PROMETHEUS
@settings(max_examples=examples(25), deadline=None)
@given(st.lists(OUTCOMES, max_size=20), st.booleans())
def test_the_exposition_is_what_prometheus_client_counters_expose(
    outcomes: list[CheckOutcome], activated: bool,
) -> None:
    """The collector exposes exactly what prometheus_client's own counters (a child per
    `.labels()` tuple) and gauges would for the same counts."""
    metrics = GateMetrics()
    registry = prometheus_client.CollectorRegistry()
    counters = {name: prometheus_client.Counter(name, help_text, labels, registry=registry)
                for name, (labels, help_text) in names.COUNTERS.items()}
    info = prometheus_client.Gauge(names.BUNDLE_INFO,
                                   "The active bundle: its policy and content hash (value 1).",
                                   ("policy", "hash"), registry=registry)
    last = prometheus_client.Gauge(names.BUNDLE_LAST_ACTIVATION,
                                   "When the active bundle was activated (Unix time).",
                                   registry=registry)
    counters[names.KILL_SWITCH].inc(0)  # an unlabelled counter shows from the start
    for outcome in outcomes:
        metrics.checked(outcome)()
    if activated:
        exercise(metrics)
    for name, series in metrics.snapshot().items():
        for labels, value in series.items():
            if name == names.BUNDLE_INFO:
                info.labels(*labels).set(value)
            elif name == names.BUNDLE_LAST_ACTIVATION:
                last.set(value)
            elif labels:
                counters[name].labels(*labels).inc(value)
            else:
                counters[name].inc(value)
    assert exposition(metrics.registry) == exposition(registry)


@NEEDS_PROMETHEUS
def test_created_samples_follow_the_counters_and_a_shared_registry_refuses_twins() -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = GateMetrics(registry)
    metrics.checked(CheckOutcome("submit", "allow", "low", "rule"))()
    created = registry.get_sample_value("dualgate_jobs_received_created", {"gate": "submit"})
    assert created is not None and abs(created - time.time()) < 60
    with pytest.raises(ValueError, match="Duplicated"):
        GateMetrics(registry)
