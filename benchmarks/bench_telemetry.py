"""What the gates' telemetry costs on the hot path, beside the bare operations.

Run: ``.venv/bin/python benchmarks/bench_telemetry.py [--number 200000] [--repeat 7]``

Each row is the median over ``--repeat`` samples of ``--number`` calls, in ns per call:

- a bare ``itertools.count`` step and a locked integer increment (the floor);
- ``prometheus_client`` directly: ``counter.labels(...).inc()`` (the lookup it does on
  every call) and a child held by the caller, ``child.inc()``;
- ``GateMetrics``, with prometheus_client and with plain counters: a decision (4
  labels) and a fail-open (3 labels), label tuples already seen, and the step a gate
  keeps per verdict, which counts a whole check;
- ``decision_stamp()``, building an entry with it, ``DecisionLog.record`` alone (the
  writer asleep), and end to end: record, the writer's JSON encoding and the write to a
  sink that keeps nothing, per entry (the writer's share runs on the same core);
- the same for ``DecisionLog.record_decision``, what a gate calls: the hot path alone,
  and end to end (the writer builds the line from the shared fields' cached JSON).

A gate's check pays one step and one ``record_decision``: the sum is what telemetry
adds to ``decide()``, against the 3 µs check budget (``bench_gates.py`` measures it).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import timeit
from typing import Any

from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics, decision_stamp
from dualgate.runtime.telemetry.metrics import CheckOutcome


def ns_per_call(statement: str, namespace: dict[str, Any], number: int, repeat: int) -> float:
    """The median over ``repeat`` samples of ``number`` runs of ``statement``, in ns."""
    samples = timeit.repeat(statement, globals=namespace, number=number, repeat=repeat)
    return statistics.median(samples) / number * 1e9


class LockedCounter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value = 0

    def inc(self) -> None:
        with self.lock:
            self.value += 1


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, statement, namespace) for every row."""
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("bare itertools.count step", "step()", {"step": itertools.count().__next__}),
        ("bare locked increment", "counter.inc()", {"counter": LockedCounter()}),
    ]
    try:
        import prometheus_client
    except ImportError:
        prometheus_client = None
    if prometheus_client is not None:
        counter = prometheus_client.Counter(
            "bench_total", "", ("gate", "decision", "tier", "reason"),
            registry=prometheus_client.CollectorRegistry())
        rows += [
            ("prometheus_client .labels(4).inc()",
             'counter.labels("submit", "allow", "low", "rule").inc()', {"counter": counter}),
            ("prometheus_client child.inc()", "child.inc()",
             {"child": counter.labels("submit", "allow", "low", "rule")}),
        ]
    for prometheus in ([True] if prometheus_client else []) + [False]:
        metrics = GateMetrics(use_prometheus=prometheus)
        kind = "prometheus" if prometheus else "plain"
        rows += [
            (f"GateMetrics.decision ({kind})",
             'metrics.decision("submit", "allow", "low", "rule")', {"metrics": metrics}),
            (f"GateMetrics.fail_open ({kind})",
             'metrics.fail_open("submit", "low", "production")', {"metrics": metrics}),
            (f"GateMetrics.checked step, a whole check ({kind})", "step()",
             {"step": metrics.checked(CheckOutcome("submit", "allow", "low", "rule"))}),
        ]
    entry = {
        "timestamp": 0.0, "decision_id": "x", "gate": "submit", "job_id": "job-1",
        "topic": "infra.vm.read", "env": "production", "cidr": "10.0.0.1",
        "decision": "allow", "rule": "allow-reads", "reason": "rule", "tier": "low",
        "fail_mode": "open", "bypass": False, "bundle": "ab12", "policy": "infra",
        "approval": None,
    }
    rows.append(("decision_stamp()", "stamp()", {"stamp": decision_stamp}))
    rows.append(("entry dict built with a stamp",
                 "t, i = stamp(); {**entry, 'timestamp': t, 'decision_id': i}",
                 {"entry": entry, "stamp": decision_stamp}))
    # The writer sleeps through the timing: this row is what the caller's thread pays.
    asleep = DecisionLog(CallableSink(lambda _line: None), max_queue=1 << 30,
                         flush_interval=3600)
    rows.append(("DecisionLog.record (hot path only)", "record(entry)",
                 {"record": asleep.record, "entry": entry}))
    rows.append(("record + encode + write, end to end", "end_to_end(entry)",
                 {"end_to_end": _end_to_end(), "entry": entry}))
    shared = ("submit", "allow", "allow-reads", "rule", "low", "open", False, "ab12", "infra",
              None, "admit", None)
    rows.append(("DecisionLog.record_decision (hot path only)",
                 'record(shared, "job-1", "infra.vm.read", "production", "10.0.0.1")',
                 {"record": asleep.record_decision, "shared": shared}))
    rows.append(("record_decision + line + write, end to end",
                 'end_to_end(shared, "job-1", "infra.vm.read", "production", "10.0.0.1")',
                 {"end_to_end": _end_to_end_decision(), "shared": shared}))
    return rows


def _end_to_end() -> Any:
    """A record into a log whose writer runs: timed together, the caller's and the
    writer's work per entry (both share the one core a Python process has)."""
    log = DecisionLog(CallableSink(lambda _line: None), max_queue=1 << 30)
    stamp = decision_stamp
    calls = itertools.count(1)

    def run(entry: dict[str, object]) -> None:
        timestamp, decision_id = stamp()
        log.record({**entry, "timestamp": timestamp, "decision_id": decision_id})
        if not next(calls) % 4096:  # keep memory flat: wait for the writer to catch up
            log.flush()

    return run


def _end_to_end_decision() -> Any:
    """As ``_end_to_end``, for ``record_decision``."""
    log = DecisionLog(CallableSink(lambda _line: None), max_queue=1 << 30)
    calls = itertools.count(1)

    def run(shared: tuple[object, ...], *request: object) -> None:
        log.record_decision(shared, *request)
        if not next(calls) % 4096:
            log.flush()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'operation':<44} {'ns/call':>8}")
    for name, statement, namespace in cases():
        print(f"{name:<44} {ns_per_call(statement, namespace, args.number, args.repeat):>8.0f}")


if __name__ == "__main__":
    main()
