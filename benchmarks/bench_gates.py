"""What a gate's ``check()`` costs beside the bare ``decide()`` it wraps.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_gates.py [--write]``
(``--write`` also writes ``benchmarks/results/gates.md``).

The process pins itself to one core (so the decision log's writer thread shares it with
the gates, as it would on a busy host). Requests: those of ``policies/requests/infra.jsonl``
against the compiled ``policies/infra.policy``, a mix of allow, deny, throttle,
require_human and malformed requests, decided warm. Each figure is the median over
``--repeat`` samples of the CPU time per request of one pass over the requests repeated
to ``--number`` calls; the loop itself is included everywhere. CPU time, not wall time:
on a shared machine the wall clock also counts other processes' turns on the core.

Rows: ``Bundle.decide``, ``BundleHolder.decide``, then each gate's ``check()`` without
telemetry, with ``GateMetrics`` (plain counters, then prometheus_client), and with
prometheus metrics and a ``DecisionLog`` to a sink that keeps nothing. Two figures per
row: the calling thread's CPU time (what ``check()`` itself costs, the goal's measure)
and the whole process's, which with the log on adds the writer thread's work on every
entry of the sample (building its JSON line, handing it to the sink; waited for with a
flush). Then per decision kind, and a fail-open bypass (a decider that raises
``TimeoutError`` on a low-tier topic).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from dualgate.compiler.frontend.loader import load_policy
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gates.md"
GOAL_NS = 3000.0
Request = tuple[Any, Any, Any]


def requests() -> list[Request]:
    lines = (ROOT / "policies" / "requests" / "infra.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]
    return [(r.get("topic"), r.get("env"), r.get("cidr")) for r in parsed
            if isinstance(r, dict)]


def bundle_file(directory: Path) -> Path:
    from dualgate.compiler.backend import compile_loaded

    path = ROOT / "policies" / "infra.policy"
    compiled = compile_loaded(load_policy(path))
    assert compiled.bundle is not None
    target = directory / "infra.bundle.json"
    target.write_bytes(serialize(compiled.bundle))
    return target


class Measured(NamedTuple):
    """Medians over the samples: ns per call on the calling thread and in the whole
    process, and each sample's figures over the bare ``decide`` sample run just before
    it (paired, so that a change of the machine's speed between rows cancels out)."""

    caller: float
    process: float
    caller_ratio: float
    process_ratio: float


def per_call(run: Callable[[], None], calls: int, repeat: int, *,
             baseline: Callable[[], None], baseline_calls: int,
             after: Callable[[], object] | None = None) -> Measured:
    """CPU time per call of ``run`` (which makes ``calls`` calls): on the calling
    thread, and in the whole process (every thread, ``after`` included); each sample
    follows one of ``baseline`` (``baseline_calls`` calls), the ratios' denominator.

    CPU time rather than wall time: on a shared machine the wall clock also counts the
    time other processes hold the core, which says nothing about the gates."""
    caller, process, caller_ratio, process_ratio = [], [], [], []
    for _ in range(repeat):
        base_start = time.thread_time()
        baseline()
        base = (time.thread_time() - base_start) / baseline_calls * 1e9
        thread_start, process_start = time.thread_time(), time.process_time()
        run()
        caller.append((time.thread_time() - thread_start) / calls * 1e9)
        if after is not None:
            after()
        process.append((time.process_time() - process_start) / calls * 1e9)
        caller_ratio.append(caller[-1] / base)
        process_ratio.append(process[-1] / base)
    return Measured(*map(statistics.median, (caller, process, caller_ratio, process_ratio)))


def check_loop(check: Callable[..., Any], batch: Sequence[Request], passes: int,
               attempt: int | None = None) -> Callable[[], None]:
    """A pass loop calling ``check`` as a gateway (``attempt`` None) or a scheduler
    would: the arguments spelled out, no ``**`` unpacking in the loop."""
    if attempt is None:
        def run() -> None:
            for _ in range(passes):
                for topic, env, cidr in batch:
                    check(topic, env, cidr, job_id="job-1", job_hash="sha256:1")
    else:
        def run() -> None:
            for _ in range(passes):
                for topic, env, cidr in batch:
                    check(topic, env, cidr, job_id="job-1", job_hash="sha256:1",
                          attempt=attempt)
    return run


def decide_loop(decide: Callable[..., Any], batch: Sequence[Request],
                passes: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(passes):
            for topic, env, cidr in batch:
                decide(topic, env, cidr)
    return run


class Row(NamedTuple):
    name: str
    measured: Measured
    logged: bool  # a decision log on: the whole process's figure counts


def measure(args: argparse.Namespace, directory: Path) -> tuple[list[Row], dict[str, Any]]:
    holder = BundleHolder(bundle_file(directory))
    batch = requests()
    passes = max(1, args.number // len(batch))
    calls = passes * len(batch)
    assert holder.active is not None
    bundle = holder.active.bundle
    modes = FailModes()
    rows: list[Row] = []

    bare = decide_loop(bundle.decide, batch, passes)

    def row(name: str, run: Callable[[], None], log: DecisionLog | None = None,
            count: int = calls) -> None:
        run()  # warm: caches, label children, verdict results
        if log is not None:
            log.flush(60)
        measured = per_call(run, count, args.repeat, baseline=bare, baseline_calls=calls,
                            after=None if log is None else lambda: log.flush(60))
        rows.append(Row(name, measured, log is not None))

    row("`Bundle.decide` (bare)", bare)
    row("`BundleHolder.decide`", decide_loop(holder.decide, batch, passes))
    logs: list[DecisionLog] = []
    gate_classes: tuple[tuple[str, Any, int | None], ...] = (
        ("SubmitGate", SubmitGate, None), ("DispatchGate", DispatchGate, 1))
    for name, gate_class, attempt in gate_classes:
        row(f"`{name}.check`, no telemetry",
            check_loop(gate_class(holder, fail_modes=modes).check, batch, passes, attempt))
        plain = GateMetrics(use_prometheus=False)
        row(f"`{name}.check`, plain metrics",
            check_loop(gate_class(holder, fail_modes=modes, metrics=plain).check, batch,
                       passes, attempt))
        prometheus = GateMetrics(use_prometheus=True)
        row(f"`{name}.check`, prometheus metrics",
            check_loop(gate_class(holder, fail_modes=modes, metrics=prometheus).check,
                       batch, passes, attempt))
        log = DecisionLog(CallableSink(lambda _line: None), metrics=prometheus,
                          max_queue=calls * 4)
        logs.append(log)
        gate = gate_class(holder, fail_modes=modes, metrics=prometheus, decision_log=log)
        row(f"`{name}.check`, prometheus metrics + decision log",
            check_loop(gate.check, batch, passes, attempt), log)

    # Per decision kind and for a bypass, with everything on (submit gate).
    metrics = GateMetrics(use_prometheus=True)
    log = DecisionLog(CallableSink(lambda _line: None), metrics=metrics,
                      max_queue=calls * 4)
    logs.append(log)
    gate = SubmitGate(holder, fail_modes=modes, metrics=metrics, decision_log=log)
    kinds = {
        "allow": ("infra.vm.read", "production", None),
        "deny": ("infra.iam.role.read", "dev", None),
        "throttle": ("infra.vm.scale", "production", None),
        "require_human (hold)": ("infra.vm.delete", "production", None),
        "malformed (invalid topic)": ("bad topic", "production", None),
    }
    for kind, request in kinds.items():
        row(f"submit, {kind}: `decide`", decide_loop(bundle.decide, [request], calls),
            count=calls)
        row(f"submit, {kind}: `check`, all telemetry",
            check_loop(gate.check, [request], calls), log, count=calls)

    def timeout(topic: object, env: object, cidr: object = None) -> Any:
        raise TimeoutError

    bypassing = SubmitGate(holder, decider=timeout, fail_modes=modes, metrics=metrics,
                           decision_log=log)
    row("submit, fail-open bypass (decider times out, low tier): `check`, all telemetry",
        check_loop(bypassing.check, [("infra.vm.read", "production", None)], calls // 10),
        log, count=calls // 10)
    dropped = {id(log): log.stats()["dropped"] for log in logs}
    for log in logs:
        log.close()
    info = {"requests": len(batch), "calls": calls, "dropped": dropped}
    return rows, info


def report(rows: list[Row], info: dict[str, Any],
           args: argparse.Namespace, load_before: float) -> list[str]:
    def shown(ns: float) -> str:
        return f"{ns / 1000:.2f} µs"

    bare = rows[0].measured.caller
    lines = [
        "# Gates benchmark", "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        f"pinned to {len(os.sched_getaffinity(0))}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at "
        "the end (other work on the machine shows here)",
        f"- requests: `policies/requests/infra.jsonl` ({info['requests']} requests) against "
        f"`policies/infra.policy`, {info['calls']:,} calls per sample, median of "
        f"{args.repeat} samples; the loop is included in every figure",
        "- ratios: each sample over a sample of the bare `decide` row run just before it, "
        "then the median (the machine's speed drifts between rows; paired ratios hold)",
        f"- run: `taskset -c 0 .venv/bin/python benchmarks/bench_gates.py --write` on "
        f"{datetime.now(UTC).date()}", "",
        "| what | CPU per call, calling thread | CPU per call, whole process (log writer "
        "included) | calling thread vs bare decide | whole process vs bare decide |",
        "|:---|---:|---:|---:|---:|",
    ]
    for name, measured, logged in rows:
        lines.append(
            f"| {name} | {shown(measured.caller)} | "
            f"{shown(measured.process) if logged else '—'} | {measured.caller_ratio:.1f}x | "
            f"{f'{measured.process_ratio:.1f}x' if logged else '—'} |")
    submit_full = next(r for r in rows if r.name.startswith(
        "`SubmitGate.check`, prometheus metrics + decision log"))
    dispatch_full = next(r for r in rows if r.name.startswith(
        "`DispatchGate.check`, prometheus metrics + decision log"))
    lines += ["", "Goal: at most 3 µs median per check with metrics and decision logging on, "
              "one core: what `check()` costs its caller. The whole process's figure adds "
              "the log writer's share (building and writing each line, off the hot path); "
              "it is reported beside it.", ""]
    for name, row in (("submit", submit_full), ("dispatch", dispatch_full)):
        measured = row.measured
        verdict = "met" if measured.caller <= GOAL_NS else "**not met**"
        lines.append(f"- {name} gate: {shown(measured.caller)} on the calling thread "
                     f"({verdict}), {measured.caller_ratio:.1f}x bare `decide`; "
                     f"{shown(measured.process)} for the whole process, the writer included "
                     f"({measured.process_ratio:.1f}x)")
    lines.append(f"- at this run's bare `decide` ({shown(bare)}) the goal allows "
                 f"{GOAL_NS / bare:.1f}x it; this shared machine's speed moves between runs, "
                 "the ratios much less")
    dropped = sum(sum(counts.values()) for counts in info["dropped"].values())
    lines.append(f"- decision-log entries dropped during the run: {dropped}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per sample")
    parser.add_argument("--repeat", type=int, default=7, help="samples per row")
    parser.add_argument("--write", action="store_true", help=f"write {RELATIVE}")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = os.getloadavg()[0]
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        rows, info = measure(args, Path(directory))
    lines = report(rows, info, args, load_before)
    print("\n".join(lines))
    if args.write:
        RESULTS.write_text("\n".join(lines) + "\n")
    return 0


RELATIVE = "benchmarks/results/gates.md"

if __name__ == "__main__":
    sys.exit(main())
