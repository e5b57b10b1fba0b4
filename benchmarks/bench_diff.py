"""Diff cost: ``diff_policies`` on a generated policy and a copy differing in a few rules.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_diff.py [--sizes 1000,10000,50000]
[--repeat 3] [--write]``

The base is ``bench_analysis.generate(size)`` (the analysis benchmark's realistic policy);
the head is the same policy after the edits a pull request makes: one rule's decision
changed, one rule removed, one rule inserted in the middle, one rule's env changed. Both
are loaded once (the front-end time is reported on its own, per side); then the diff runs
``--repeat`` times (once from ``--big-size`` rules on) and the median is reported beside
the bare operation it builds on: the region space of one policy alone (what ``lint``
builds), so the table shows what diffing costs on top of two region spaces. The cyclic
garbage collector is off, as in the ``dualgate`` command. ``--write`` stores the Markdown
in ``benchmarks/results/diff.md`` with the machine it ran on. Timings belong here, not
in unit tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_analysis import generate

from dualgate.compiler import ir
from dualgate.compiler.diff import diff_policies
from dualgate.compiler.diff.joint import JointSpace
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.regions import RegionSpace
from dualgate.runtime.vocabulary import Decision

RESULTS = Path(__file__).resolve().parent / "results" / "diff.md"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
#: Budget from issue #8: two 10k-rule policies differing in a few rules, on one core.
BUDGET_SIZE, BUDGET_SECONDS = 10_000, 5.0


def edited(policy: ir.Policy) -> ir.Policy:
    """``policy`` after four small edits: a decision, a removal, an insertion, an env."""
    rules = list(policy.rules)
    middle = len(rules) // 2
    flipped = rules[middle]
    rules[middle] = flipped.model_copy(update={
        "decision": Decision.ALLOW if flipped.decision is not Decision.ALLOW else Decision.DENY})
    del rules[len(rules) // 3]
    rules.insert(middle, ir.Rule(
        id="bench-inserted",
        conditions=(ir.TopicCondition(patterns=(ir.TopicPattern.parse("svc1.res3.delete"),)),
                    ir.EnvCondition(envs=("staging",))),
        decision=Decision.ALLOW))
    at = next(i for i in range(len(rules) * 2 // 3, len(rules))
              if any(isinstance(c, ir.EnvCondition) for c in rules[i].conditions))
    rules[at] = rules[at].model_copy(update={"conditions": tuple(
        ir.EnvCondition(envs=("dev",)) if isinstance(c, ir.EnvCondition) else c
        for c in rules[at].conditions)})
    return policy.model_copy(update={"rules": tuple(rules)})


@dataclass(frozen=True)
class Row:
    """One size's measurements (seconds)."""

    size: int
    front_end: float
    space: float
    diff: float
    runs: int
    changes: int
    loosening: int
    topic_atoms: int
    cidr_atoms: int
    classes: int


def _seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(size: int, args: argparse.Namespace) -> Row:
    text = generate(size)
    started = time.perf_counter()
    loaded = load_policy_text(text, "base.policy")
    front_end = time.perf_counter() - started
    base = loaded.policy
    assert base is not None and len(base.rules) == size
    head = edited(base)
    runs = 1 if size >= args.big_size else args.repeat
    space = _seconds(lambda: RegionSpace(base), runs)
    diff = diff_policies(base, head, now=NOW)
    seconds = _seconds(lambda: diff_policies(base, head, now=NOW), runs)
    joint = JointSpace(base, head)
    return Row(
        size=size, front_end=front_end, space=space, diff=seconds, runs=runs,
        changes=len(diff.changes), loosening=diff.count("loosening"),
        topic_atoms=len(joint.base.space.topics.atoms),
        cidr_atoms=len(joint.base.space.cidrs.atoms),
        classes=len(joint.base.space.classes) + len(joint.head.space.classes),
    )


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(rows: list[Row], command: str) -> str:
    budget = next((r for r in rows if r.size == BUDGET_SIZE), None)
    lines = [
        "# Diff benchmark", "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        "1 usable by the benchmark",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        "- policies: `bench_analysis.generate(size)` (seed 7) and a copy with four edits "
        "(a decision changed, a rule removed, a rule inserted, an env changed); "
        "median of the runs",
        f"- run: `{command}` on {datetime.now(UTC).date()}; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other work on the machine slows every column alike, so "
        "compare the diff with the region space beside it)", "",
        "| rules | front end (one side) | region space of one policy | diff (median) | runs "
        "| changes | loosening | joint topic atoms | cidr atoms | topic classes (both) |",
        "|------:|----:|----:|----:|----:|----:|----:|----:|----:|----:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {_time(r.front_end)} | {_time(r.space)} | {_time(r.diff)} "
            f"| {r.runs} | {r.changes} | {r.loosening} | {r.topic_atoms:,} "
            f"| {r.cidr_atoms:,} | {r.classes:,} |")
    if budget is not None:
        met = "met" if budget.diff < BUDGET_SECONDS else "missed"
        lines += ["", f"Budget: two {BUDGET_SIZE:,}-rule policies differing in a few rules in "
                  f"under {BUDGET_SECONDS:.0f} s on one core: {met} ({_time(budget.diff)}).",
                  ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-size", type=int, default=50_000,
                        help="from this many rules on, run once")
    parser.add_argument("--write", action="store_true", help=f"store the table in {RESULTS}")
    args = parser.parse_args()
    gc.disable()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args))
        print(f"{size:>7,} rules: diff {_time(rows[-1].diff)}, {rows[-1].changes} changes",
              file=sys.stderr)
    command = "taskset -c 0 .venv/bin/python benchmarks/bench_diff.py " + " ".join(sys.argv[1:])
    markdown = table(rows, command.strip())
    print(markdown)
    if args.write:
        RESULTS.write_text(markdown + "\n")


if __name__ == "__main__":
    main()
