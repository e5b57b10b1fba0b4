"""Analysis cost: the exact analyzer (DG2xx and DG3xx passes) on generated policies.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_analysis.py [--sizes 100,1000,10000,50000]
[--repeat 3] [--write]``

Each size runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own. A child
generates a realistic policy of exactly ``size`` rules (mostly exact topics, some `*` and
`**` globs, a third with envs, a third with /24 cidrs, a few nested /16 and /8 cidrs, a
few negated conditions, risk tiers by verb, production protected, a catch-all rule last),
loads it once (the front-end time is reported on its own), then runs ``analyze``
``--repeat`` times or more, until the runs add up to ``--min-time`` (from ``--big-size``
rules on: ``--big-repeat`` times) and
reports the median, the time per rule (flat per-rule cost means linear growth), the
slowest passes (``CheckUnmatchableRules`` is the first pass that needs the region space,
so it includes the space build), the findings by code, the size of the region space
(topic atoms, topic classes, cells) and the peak RSS. The growth ratios between sizes
are printed against linear and quadratic growth; ``--write`` also stores the Markdown in
``benchmarks/results/analysis.md`` with the machine it ran on.

The policy spreads its rules over ``size / --rules-per-service`` services (default 100
rules per service), so a bigger policy covers more services rather than piling more
globs onto the same ones; ``--services N`` fixes the count instead (bench_frontend uses
97), which makes the glob candidates per topic grow with the size.

``--profile`` runs the sizes in this process with one ``analyze`` under cProfile each
and prints the top functions by cumulative and by own time instead of the table.
Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import math
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dualgate.compiler.analysis import AnalysisOptions, analyze
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.ir import Policy
from dualgate.compiler.regions import RegionSpace

RESULTS = Path(__file__).resolve().parent / "results" / "analysis.md"

#: Declared envs, production protected (the DG301 checks look at protected envs).
ENVS = ("production", "staging", "dev")
VERBS = ("read", "list", "create", "update", "delete")
#: Risk tiers by verb, as real policies classify them.
TIERS = (
    ("high", ("**.delete",), "closed"),
    ("medium", ("**.create", "**.update"), "closed"),
    ("low", ("**.read", "**.list"), "open"),
)
DECISIONS = ("allow", "throttle", "require_human", "deny")
#: Decision weights (in the order of ``DECISIONS``) by verb: reads are mostly allowed,
#: deletes mostly gated; globs over every verb get the mixed weights.
DECISION_WEIGHTS = {
    "read": (8, 1, 0, 1), "list": (8, 1, 0, 1),
    "create": (4, 3, 2, 1), "update": (4, 3, 2, 1),
    "delete": (1, 0, 5, 4), "**": (5, 1, 2, 2),
}
#: Resources per service: exact topics repeat now and then with other env/cidr conditions.
RESOURCES = 40
#: /24 subnets per service; each lies in the service's /16, which lies in 10.0.0.0/8.
SUBNETS = 24
#: Analysis runs with a fixed clock so that the time-dependent checks are reproducible.
NOW = datetime(2025, 1, 1, tzinfo=UTC)

Conditions = list[str]


def _service_net(service: int) -> str:
    return f"10.{service % 256}.0.0/16"


def _subnet(service: int, subnet: int) -> str:
    return f"10.{service % 256}.{subnet}.0/24"


def _body_rule(i: int, services: int, rng: random.Random) -> tuple[Conditions, str]:
    """One rule of the body: topic mix by ``i``, envs and cidrs on a third each."""
    service = i % services
    svc = f"svc{service}"
    verb = rng.choice(VERBS)
    if i % 10 == 0:
        topic = f"{svc}.*.{verb}"
    elif i % 25 == 0:
        topic = f"{svc}.**"
        verb = "**"
    else:
        topic = f"{svc}.res{rng.randrange(RESOURCES)}.{verb}"
    conditions = [f"topic {topic}"]
    if i % 100 == 37:  # a glob with an exception
        conditions = [f"topic {svc}.**", f"topic not {svc}.*.read, {svc}.*.list"]
        verb = "**"
    if i % 3 == 0:
        if i % 60 == 0:
            conditions.append("env not production")
        else:
            conditions.append(f"env {rng.choice(ENVS)}")
    if i % 3 == 1:
        if i % 500 == 1:  # nested: the service's /16 holds its /24s
            conditions.append(f"cidr in {_service_net(service)}")
        elif i % 1000 == 4:  # and 10.0.0.0/8 holds them all
            conditions.append("cidr in 10.0.0.0/8")
        elif i % 300 == 7:
            conditions.append(f"cidr not in {_service_net(service)}")
        else:
            conditions.append(f"cidr in {_subnet(service, rng.randrange(SUBNETS))}")
    decision = rng.choices(DECISIONS, DECISION_WEIGHTS[verb])[0]
    return conditions, decision


def generate(size: int, seed: int = 7, services: int | None = None,
             rules_per_service: int = 100) -> str:
    """A realistic policy of exactly ``size`` rules as DSL text (deterministic in ``seed``).

    Two governance rules come first, the catch-all rule last, the body in between.
    """
    rng = random.Random(seed)
    count = services or max(1, size // rules_per_service)
    head: list[tuple[str, Conditions, str]] = [
        ("require-human-prod-deletes", ["topic **.delete", "env production"], "require_human"),
        ("deny-prod-outside-network", ["env production", "cidr not in 10.0.0.0/8"], "deny"),
    ]
    tail: list[tuple[str, Conditions, str]] = [
        ("catch-all-reads", ["topic **.read, **.list", "cidr in 10.0.0.0/8"], "allow"),
    ]
    head, tail = head[:size], tail[:max(0, size - len(head))]
    body = [(f"rule-{i}", *_body_rule(i, count, rng))
            for i in range(size - len(head) - len(tail))]
    lines = [
        "policy bench",
        "envs production (protected), staging, dev",
        "default_decision deny",
        "default_tier high",
        "",
        *(f"tier {name} topics {', '.join(patterns)} fail_mode {mode}"
          for name, patterns, mode in TIERS),
        "",
    ]
    for rule_id, conditions, decision in (*head, *body, *tail):
        lines.append(f"rule {rule_id}\n  when " + "\n   and ".join(conditions)
                     + f"\n  then {decision}\n")
    return "\n".join(lines)


# -- measuring one size (in a child process) ------------------------------------------


def _maxrss_mib() -> float:
    """The peak resident set of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _load(size: int, args: argparse.Namespace) -> tuple[Policy, float]:
    text = generate(size, args.seed, args.services, args.rules_per_service)
    started = time.perf_counter()
    result = load_policy_text(text, "bench.policy")
    seconds = time.perf_counter() - started
    assert result.policy is not None, [d.message for d in result.diagnostics[:5]]
    assert len(result.policy.rules) == size
    return result.policy, seconds


def _enough(size: int, samples: list[float], args: argparse.Namespace) -> bool:
    """At least ``--repeat`` runs and ``--min-time`` seconds; ``--big-repeat`` runs when big."""
    if size >= args.big_size:
        return bool(len(samples) >= min(args.repeat, args.big_repeat))
    return bool(len(samples) >= args.repeat and sum(samples) >= args.min_time)


def measure(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Everything the table reports about one size, as JSON-ready data."""
    rss_start = _maxrss_mib()
    policy, load_seconds = _load(size, args)
    rss_loaded = _maxrss_mib()
    options = AnalysisOptions(now=NOW)
    totals: list[float] = []
    passes: dict[str, list[float]] = {}
    analysis = None
    while not _enough(size, totals, args):
        analysis = None  # let the previous run's objects go before the next one
        gc.collect()
        started = time.perf_counter()
        analysis = analyze(policy, options)
        totals.append(time.perf_counter() - started)
        for name, seconds in analysis.timings:
            passes.setdefault(name, []).append(seconds)
    assert analysis is not None
    rss_analyzed = _maxrss_mib()
    findings = Counter(f"{d.code.code} {d.code.name}" for d in analysis.diagnostics)
    del analysis
    gc.collect()
    started = time.perf_counter()
    space = RegionSpace(policy)
    space_seconds = time.perf_counter() - started
    return {
        "size": size,
        "repeat": len(totals),
        "load": load_seconds,
        "analysis": statistics.median(totals),
        "samples": totals,
        "passes": {name: statistics.median(s) for name, s in passes.items()},
        "space": space_seconds,
        "findings": dict(sorted(findings.items())),
        "topic_states": space.topics.state_count,
        "topic_atoms": len(space.topics.atoms),
        "topic_classes": len(space.classes),
        "cells": sum(len(c.cells) for c in space.classes),
        "max_candidates": max((len(c.candidates) for c in space.classes), default=0),
        "cidr_atoms": len(space.cidrs.atoms),
        "rss_start": rss_start,
        "rss_loaded": rss_loaded,
        "rss_analyzed": rss_analyzed,
    }


def _child_command(size: int, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(size),
               "--repeat", str(args.repeat), "--big-size", str(args.big_size),
               "--big-repeat", str(args.big_repeat), "--min-time", str(args.min_time),
               "--seed", str(args.seed),
               "--rules-per-service", str(args.rules_per_service)]
    if args.services:
        command += ["--services", str(args.services)]
    return command


def run_child(size: int, args: argparse.Namespace) -> dict[str, Any]:
    completed = subprocess.run(_child_command(size, args), capture_output=True, text=True,
                               check=False)
    if completed.returncode != 0:
        sys.exit(f"size {size} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


# -- the report -----------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


def _count(value: int) -> str:
    return f"{value:,}"


def _size(value: int) -> str:
    return f"{value // 1000}k" if value >= 1000 and value % 1000 == 0 else str(value)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out: list[str] = []
    out.append("| rules | front end | analysis (median) | per rule | runs | topic atoms "
               "| topic classes | cells | cidr atoms | findings | peak RSS | RSS Δ analysis |")
    out.append("|------:|----------:|------------------:|---------:|-----:|------------:"
               "|--------------:|------:|-----------:|---------:|---------:|---------------:|")
    for r in results:
        out.append(
            f"| {_count(r['size'])} | {_seconds(r['load'])} | {_seconds(r['analysis'])} "
            f"| {r['analysis'] / r['size'] * 1e6:.0f} µs | {r['repeat']} "
            f"| {_count(r['topic_atoms'])} | {_count(r['topic_classes'])} "
            f"| {_count(r['cells'])} | {_count(r['cidr_atoms'])} "
            f"| {_count(sum(r['findings'].values()))} | {r['rss_analyzed']:.0f} MiB "
            f"| {max(0.0, r['rss_analyzed'] - r['rss_loaded']):.0f} MiB |"
        )

    sizes = [_size(r["size"]) for r in results]
    names = list(dict.fromkeys(n for r in results for n in r["passes"]))
    names.sort(key=lambda n: -max(r["passes"].get(n, 0.0) for r in results))
    out += ["", "Per pass (median seconds; the first pass includes the region-space build, "
            "the second the sweep over the cells):", ""]
    out.append("| pass | " + " | ".join(sizes) + " |")
    out.append("|:-----|" + "|".join("-" * (len(s) + 1) + ":" for s in sizes) + "|")
    for name in names:
        cells = []
        for r in results:
            seconds = r["passes"].get(name)
            cells.append("-" if seconds is None else
                         f"{_seconds(seconds)} ({seconds / r['analysis']:.0%})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("| *region space alone (built once more)* | "
               + " | ".join(_seconds(r["space"]) for r in results) + " |")

    codes = sorted({c for r in results for c in r["findings"]})
    out += ["", "Findings by code:", ""]
    out.append("| code | " + " | ".join(sizes) + " |")
    out.append("|:-----|" + "|".join("-" * (len(s) + 1) + ":" for s in sizes) + "|")
    for code in codes:
        out.append(f"| {code} | "
                   + " | ".join(_count(r["findings"].get(code, 0)) for r in results) + " |")

    if len(results) > 1:
        out += ["", "Growth (for a 10x step linear = 10x, quadratic = 100x; for a 5x step "
                "linear = 5x, quadratic = 25x; exponent 1 is linear, 2 quadratic):", ""]
        out.append("| step | size ratio | time ratio | linear | quadratic | exponent |")
        out.append("|:-----|-----------:|-----------:|-------:|----------:|---------:|")
        for small, big in itertools.pairwise(results):
            size_ratio = big["size"] / small["size"]
            time_ratio = big["analysis"] / small["analysis"]
            exponent = math.log(time_ratio) / math.log(size_ratio)
            out.append(
                f"| {_size(small['size'])} → {_size(big['size'])} | {size_ratio:.0f}x "
                f"| {time_ratio:.1f}x | {size_ratio:.0f}x | {size_ratio ** 2:.0f}x "
                f"| {exponent:.2f} |"
            )

    budget = next((r for r in results if r["size"] == 10_000), None)
    if budget is not None:
        verdict = "met" if budget["analysis"] < 10 else "MISSED"
        out += ["", f"Budget: 10k rules in under 10 s on one core: {verdict} "
                f"({_seconds(budget['analysis'])})."]
    return "\n".join(out)


def _machine(args: argparse.Namespace) -> str:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    affinity = len(cpus) if cpus else None
    pinned = f"taskset -c {cpus[0]} " if affinity == 1 else ""
    services = (f"{args.services} services" if args.services
                else f"{args.rules_per_service} rules per service")
    return "\n".join([
        f"- machine: {platform.processor() or platform.machine()} "
        f"({platform.platform()}), {os.cpu_count()} CPUs, "
        f"{affinity if affinity is not None else '?'} usable by the benchmark",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- policy: seed {args.seed}, {services}; analysis repeated at least {args.repeat} "
        f"times and {args.min_time} s ({args.big_repeat} time(s) from "
        f"{_count(args.big_size)} rules), median reported",
        f"- run: `{pinned}.venv/bin/python "
        f"benchmarks/bench_analysis.py {' '.join(sys.argv[1:])}` on "
        f"{datetime.now(UTC):%Y-%m-%d}",
    ])


def profile(sizes: list[int], args: argparse.Namespace) -> None:
    for size in sizes:
        policy, load_seconds = _load(size, args)
        profiler = cProfile.Profile()
        gc.collect()
        profiler.enable()
        analysis = analyze(policy, AnalysisOptions(now=NOW))
        profiler.disable()
        print(f"## {_count(size)} rules (front end {_seconds(load_seconds)}; passes: "
              + ", ".join(f"{n} {_seconds(s)}" for n, s in analysis.timings) + ")\n")
        for key in ("cumulative", "tottime"):
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats(key).print_stats(args.profile_top)
            print(f"### by {key}\n```\n{stream.getvalue().strip()}\n```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-size", type=int, default=50_000,
                        help="from this many rules on, run at most --big-repeat times")
    parser.add_argument("--big-repeat", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="below --big-size, repeat until the runs add up to this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules-per-service", type=int, default=100)
    parser.add_argument("--services", type=int, default=None,
                        help="a fixed number of services instead of size / rules-per-service")
    parser.add_argument("--write", action="store_true",
                        help="also write the Markdown to benchmarks/results/analysis.md")
    parser.add_argument("--profile", action="store_true",
                        help="profile one analysis per size with cProfile instead")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(measure(args.child, args)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.profile:
        profile(sizes, args)
        return
    results = []
    for size in sizes:
        print(f"measuring {_count(size)} rules ...", file=sys.stderr, flush=True)
        results.append(run_child(size, args))
    table = report(results, args)
    print(table)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("# Analysis benchmark\n\n" + _machine(args) + "\n\n" + table + "\n",
                           encoding="utf-8")
        print(f"\nwrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
