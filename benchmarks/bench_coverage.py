"""Action-path map cost: ``dualgate coverage`` on a 10k-rule policy and a 100k-topic catalog.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_coverage.py [--rules 10000]
[--topics 100000] [--repeat 3] [--write]``

The policy is ``bench_analysis.generate``'s (realistic: exact topics, globs, envs, cidrs,
tiers by verb). The catalog holds ``--topics`` distinct topics: the policy's services and
resources with its verbs, plus resources, verbs and services the policy never names (so
some paths are unclassified or left to the default). Phases are timed on their own, each
the median of ``--repeat`` runs:

* reading the catalog file;
* building the region space (shared with lint and compile);
* mapping the paths (one automaton walk per topic, outcomes once per topic class and env);
* the JSON report (``render_path_map_json``, as the command writes it);
* and, side by side, the bare operations: the automaton walk alone over the catalog, and
  the reference interpreter (a scan of the rules in order) deciding one request per path
  on a sample, extrapolated to the catalog: what classifying by scanning rules would cost
  at the very least (one cidr per path, where the map covers every network).

Finally the whole command, ``dualgate coverage --format json -o FILE``, runs once in a
subprocess, front end included: the number the 10 s goal is about (wall clock and
CPU time, since the machine may be shared). ``--write`` stores the
Markdown in ``benchmarks/results/coverage.md``. Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_analysis import ENVS, RESOURCES, VERBS, generate

from dualgate.compiler.coverage import build_path_map, read_catalog
from dualgate.compiler.frontend.loader import cyclic_gc_paused, load_policy_text
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.regions import RegionSpace
from dualgate.compiler.reports.coverage_json import render_path_map_json

RESULTS = Path(__file__).resolve().parent / "results" / "coverage.md"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
#: Verbs the policy's tiers and rules never name.
EXTRA_VERBS = ("backup", "restore", "scale")
#: Paths the reference interpreter decides to estimate a rule scan.
REFERENCE_SAMPLE = 100


def catalog_topics(count: int, services: int, seed: int) -> list[str]:
    """``count`` distinct topics: mostly the policy's own services and resources."""
    rng = random.Random(seed)
    topics: dict[str, None] = {}
    while len(topics) < count:
        service = rng.randrange(int(services * 1.2) + 1)
        resource = rng.randrange(RESOURCES * 4)
        verb = rng.choice(VERBS + EXTRA_VERBS)
        topics.setdefault(f"svc{service}.res{resource}.{verb}")
    return list(topics)


def median_time(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median CPU time of ``repeat`` runs (the machine may be shared), and a result."""
    samples, result = [], None
    for _ in range(repeat):
        started = time.process_time()
        result = run()
        samples.append(time.process_time() - started)
    return statistics.median(samples), result


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    text = generate(args.rules, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        policy_file, catalog_file = Path(scratch, "bench.policy"), Path(scratch, "catalog.txt")
        policy_file.write_text(text, encoding="utf-8")
        topics = catalog_topics(args.topics, max(1, args.rules // 100), args.seed)
        catalog_file.write_text("\n".join(topics) + "\n", encoding="utf-8")

        with cyclic_gc_paused():
            started = time.process_time()
            loaded = load_policy_text(text, "bench.policy")
            front_end = time.process_time() - started
            policy = loaded.policy
            assert policy is not None and len(policy.rules) == args.rules
            read_time, catalog = median_time(lambda: read_catalog(catalog_file), args.repeat)
            space_time, space = median_time(lambda: RegionSpace(policy), args.repeat)
            assert isinstance(space, RegionSpace)
            map_time, path_map = median_time(
                lambda: build_path_map(policy, catalog, now=NOW, space=space),  # type: ignore[arg-type]
                args.repeat)
            json_time, _ = median_time(
                lambda: render_path_map_json(path_map), args.repeat)  # type: ignore[arg-type]
            walk = space.topics.atom_of
            walk_time, _ = median_time(lambda: [walk(t) for t in topics], args.repeat)
            sample = topics[:: max(1, len(topics) // REFERENCE_SAMPLE)][:REFERENCE_SAMPLE]
            started = time.process_time()
            for topic in sample:
                for env in ENVS:
                    evaluate(policy, Request(topic, env, None), NOW)
            per_path = (time.process_time() - started) / (len(sample) * len(ENVS))

        output = Path(scratch, "map.json")
        command = [str(Path(sys.executable).with_name("dualgate")), "coverage",
                   str(policy_file), "--catalog", str(catalog_file), "--format", "json",
                   "-o", str(output), "--now", "2026-11-01T00:00:00Z"]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        whole = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        whole_cpu = children.ru_utime + children.ru_stime
        summary = json.loads(output.read_text(encoding="utf-8"))["summary"]

    paths = summary["paths"]
    rows = [
        ("front end (parse and lower the policy)", front_end),
        ("read the catalog", read_time),
        ("region space", space_time),
        ("map the paths", map_time),
        ("JSON report", json_time),
        ("*bare: automaton walk over the catalog*", walk_time),
        ("*bare: reference interpreter, one request per path (extrapolated)*",
         per_path * paths),
        ("**whole command** (`dualgate coverage --format json -o FILE`), wall clock", whole),
        ("**whole command**, CPU time (user + system)", whole_cpu),
    ]
    lines = [
        "# Coverage benchmark",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- policy: `bench_analysis.generate({args.rules}, seed={args.seed})`; catalog: "
        f"{args.topics:,} distinct topics; {paths:,} paths (topic x env); "
        f"{len(space.topics.atoms):,} topic atoms, {len(space.classes):,} topic classes",
        f"- flags: {', '.join(f'{k} {v:,}' for k, v in summary['flags'].items())}; "
        f"classified share {summary['classified_share']:.1%}",
        f"- run: `taskset -c 0 .venv/bin/python benchmarks/bench_coverage.py` on "
        f"{datetime.now(UTC).date()}; phases are the median CPU time of {args.repeat} runs",
        "",
        "| phase | time |",
        "|:------|-----:|",
        *(f"| {name} | {_seconds(value)} |" for name, value in rows),
        "",
        f"The reference interpreter takes {per_path * 1e6:.0f} µs per request with "
        f"{args.rules:,} rules; the map spends {map_time / paths * 1e6:.2f} µs per path "
        "and covers every request network, not one.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
