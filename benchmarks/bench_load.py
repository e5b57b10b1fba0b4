"""Loading a large bundle, step by step, beside the bare JSON parse of the same bytes.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_load.py [--size 100000] [--runs 7]
[--cache /tmp/bundle-100000.json] [--write]``

The policy is ``bench_analysis.generate(size, seed)`` compiled once by ``compile_policy``
(``--cache`` keeps the bundle file between runs: compiling 100,000 rules takes seconds,
loading a fraction of one). Every figure is the median CPU time (``time.process_time``)
of ``--runs`` runs, the cyclic collector run before each and paused during it, as
``load_bundle`` pauses it:

- ``load_bundle(bytes)``: the whole load (split, hash, parse, checks, evaluator);
- the same steps one by one, as ``load_bundle`` runs them: the content's bytes split off
  and hashed, parsed (``fastjson.read_fast_large`` without the digit-run guard: orjson), the
  checks (``validation.check_envelope`` / ``check_content``), the ``Evaluator`` built;
- the bare operations they wrap: ``orjson.loads`` of the whole file, ``json.loads`` of
  it, and ``hashlib.sha256`` of its bytes.

Goal (issue #13): a 100,000-rule bundle loads in 0.5 s or less on one core.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_analysis import generate

from dualgate.compiler.backend import compile_policy, compiler_version
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import BundleError, load_bundle
from dualgate.runtime.bundle_format import CONTENT_HASH_KEY, serialize, split_canonical
from dualgate.runtime.evaluator import Evaluator
from dualgate.runtime.fastjson import AVAILABLE, read_fast_large
from dualgate.runtime.validation import check_content, check_envelope

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "load.md"
GOAL = 0.5


def bundle_bytes(size: int, seed: int, cache: Path | None) -> bytes:
    """The bundle file of the generated policy, from ``cache`` when it holds one this
    runtime loads (a bundle of an older format version is compiled again)."""
    if cache is not None and cache.exists():
        data = cache.read_bytes()
        try:
            load_bundle(data)
        except BundleError:
            pass
        else:
            return data
    # `compile_policy`, not `compile_loaded`: the generated policies have shadowed rules,
    # which the checks refuse; the table is the same (only the analysis summary is empty).
    loaded = load_policy_text(generate(size, seed), "gen.policy")
    assert loaded.policy is not None
    data = serialize(compile_policy(loaded.policy, path="gen.policy"))
    if cache is not None:
        cache.write_bytes(data)
    return data


def median_time(step: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median CPU seconds of ``runs`` calls of ``step`` and the last result."""
    samples, result = [], None
    for _ in range(runs):
        result = None
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            mark = time.process_time()
            result = step()
            samples.append(time.process_time() - mark)
        finally:
            if enabled:
                gc.enable()
    return statistics.median(samples), result


def measure(data: bytes, runs: int) -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    whole, _ = median_time(lambda: load_bundle(data), runs)
    rows.append(("`load_bundle(bytes)`", whole))
    split, parts = median_time(lambda: split_canonical(data), runs)
    assert parts is not None, "the bundle file is not in the canonical layout"
    content_bytes = parts[0]
    hashed, digest = median_time(lambda: hashlib.sha256(content_bytes).hexdigest(), runs)
    rows.append(("split off the content and hash it", split + hashed))
    parsed, content = median_time(lambda: read_fast_large(content_bytes, guard=False), runs)
    rows.append(("parse the content (`read_fast_large`, unguarded)", parsed))
    document = {"content": content, CONTENT_HASH_KEY: digest}
    checked, networks = median_time(
        lambda: (check_envelope(document), check_content(content))[1], runs)
    rows.append(("checks (`check_envelope`, `check_content`)", checked))
    built, _ = median_time(lambda: Evaluator(content, digest, networks=networks), runs)
    rows.append(("build the `Evaluator`", built))
    if AVAILABLE:
        import orjson

        rows.append(("bare `orjson.loads` of the file", median_time(
            lambda: orjson.loads(data), runs)[0]))
    rows.append(("bare `json.loads` of the file", median_time(
        lambda: json.loads(data.decode("utf-8")), max(3, runs // 2))[0]))
    rows.append(("bare `hashlib.sha256` of the file", median_time(
        lambda: hashlib.sha256(data).digest(), runs)[0]))
    return rows


def _shown_arguments(arguments: list[str]) -> list[str]:
    """The arguments that change the figures (not ``--write``, nor where the cache is)."""
    shown: list[str] = []
    skip = False
    for argument in arguments:
        if skip or argument == "--write" or argument.startswith("--cache="):
            skip = False
            continue
        if argument == "--cache":
            skip = True
            continue
        shown.append(argument)
    return shown


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=None,
                        help="bundle file to reuse (written when missing)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    data = bundle_bytes(args.size, args.seed, args.cache)
    rows = measure(data, args.runs)
    whole = rows[0][1]
    bare = next((seconds for name, seconds in rows if "orjson" in name), None)
    cpus = sorted(os.sched_getaffinity(0))
    pinned = f"taskset -c {cpus[0]} " if len(cpus) == 1 else ""
    lines = [
        "# Load benchmark",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        f"{len(cpus)} usable by the benchmark",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"dualgate {compiler_version()}; orjson {'installed' if AVAILABLE else 'absent'}",
        f"- load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} "
        "at the end (other work on the machine shows here)",
        f"- bundle: `bench_analysis.generate({args.size}, seed={args.seed})` compiled, "
        f"{len(data):,} bytes; median CPU time of {args.runs} runs, the cyclic collector "
        "paused",
        f"- run: `{pinned}.venv/bin/python benchmarks/bench_load.py"
        f"{''.join(' ' + a for a in _shown_arguments(sys.argv[1:]))}` on "
        f"{datetime.now(UTC):%Y-%m-%d}",
        "",
        "| step | median | share of the load |",
        "|:---|---:|---:|",
        *(f"| {name} | {_ms(seconds)} | {seconds / whole:.0%} |" for name, seconds in rows),
        "",
        f"Goal: ≤ {GOAL:g} s at 100,000 rules; measured {_ms(whole)}"
        + (f" ({whole / bare:.2f}x the bare `orjson.loads` of the file)" if bare else "")
        + f": **{'met' if whole <= GOAL else 'not met'}**"
        + ("" if args.size == 100_000 else f" (at {args.size:,} rules)") + ".",
    ]
    print("\n".join(lines))
    if args.write:
        RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
