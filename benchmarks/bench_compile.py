"""Compile cost by phase, beside the bare operations the phases wrap.

Run: ``.venv/bin/python benchmarks/bench_compile.py [--sizes 1000,10000,100000]
[--repeat 3] [--big-repeat 1] [--write]``

For each size, the policy ``bench_analysis.generate(size, seed=7)`` (the one
``bench_runtime.py`` compiles) goes through what ``dualgate compile`` does, each phase
timed on its own: parse to AST (``parse_policy``, which reads a well-formed policy
with ``direct_parser``), lowering to IR, the checks (``check_file``: the analysis and
suppressions that ``lint`` runs), the decision table, and the bundle (document and
bytes). Beside them, the bare operations: Lark's parse of the same text alone (the
parser the front end used for every file before ``direct_parser``, and still uses for
files with errors), ``json.dumps`` of the bundle document (the encoding ``serialize``
does canonically).

The generated policy has error findings (rules shadowed by earlier ones), which make
``dualgate compile`` refuse it after the checks; like ``bench_runtime.py``, the table
and the bundle are built anyway, so every phase of a compilation is timed. Every figure
is CPU time (``time.process_time``), the median of ``--repeat`` runs (``--big-repeat``
from ``--big-size`` rules on), in one process pinned to one core, the cyclic collector
paused as ``dualgate`` pauses it. Goal: the compile total of 100,000 rules ≤ 30 s.

``--write`` replaces this benchmark's section of ``benchmarks/results/compile.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_analysis import NOW, generate
from results_section import write_section

from dualgate.compiler.analysis import AnalysisOptions, check_file
from dualgate.compiler.backend import compiler_version
from dualgate.compiler.backend.bundle import build_bundle
from dualgate.compiler.backend.table import build_table
from dualgate.compiler.frontend.loader import LoadResult, cyclic_gc_paused
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import _parse_tree, parse_policy
from dualgate.compiler.frontend.source import SourceFile
from dualgate.runtime.bundle_format import serialize

RESULTS = Path(__file__).resolve().parent / "results" / "compile.md"
COMPILE_GOAL = 30.0
GOAL_SIZE = 100_000
PHASES = ("parse + AST", "lowering", "checks", "table", "bundle + bytes")


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    mark = time.process_time()
    value = action()
    return time.process_time() - mark, value


def compile_phases(text: str) -> tuple[dict[str, float], dict[str, Any]]:
    """One compilation of ``text`` as ``compile_loaded`` does it, timed by phase, and
    the bundle document."""
    parts: dict[str, float] = {}
    with cyclic_gc_paused():
        source = SourceFile("gen.policy", text)
        parts["parse + AST"], (syntax, problems) = _timed(lambda: parse_policy(source))
        assert syntax is not None and not problems
        parts["lowering"], (policy, lowered) = _timed(lambda: lower(syntax))
        assert policy is not None and not any(d.is_error for d in lowered)
        result = LoadResult("gen.policy", source, syntax, policy, lowered)
        parts["checks"], report = _timed(lambda: check_file(result, AnalysisOptions(now=NOW)))
        assert report.context is not None
        parts["table"], table = _timed(lambda: build_table(report.context.space))

        def bundle() -> tuple[dict[str, Any], bytes]:
            document = build_bundle(
                policy, table, source=text.encode("utf-8"), path="gen.policy",
                compiler_version=compiler_version(),
                passes=[name for name, _ in report.timings], findings=report.diagnostics,
                suppressed=[s.diagnostic for s in report.suppressed],
            )
            return document, serialize(document)

        parts["bundle + bytes"], (document, _) = _timed(bundle)
    return parts, document


def bare_operations(text: str, document: dict[str, Any]) -> dict[str, float]:
    """Lark's parse of ``text`` alone and ``json.dumps`` of the bundle document."""
    with cyclic_gc_paused():
        lark, _ = _timed(lambda: _parse_tree(text))
        dumps, _ = _timed(lambda: json.dumps(document))
    return {"Lark parse alone": lark, "json.dumps of the bundle": dumps}


def measure(size: int, runs: int, seed: int) -> dict[str, float]:
    """Medians over ``runs`` of every phase, the bare operations and the command."""
    text = generate(size, seed)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        parts, document = compile_phases(text)
        parts["compile total"] = sum(parts[name] for name in PHASES)
        parts |= bare_operations(text, document)
        del document
        for name, seconds in parts.items():
            samples.setdefault(name, []).append(seconds)
        print(f"{size:,} rules: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()),
              flush=True)
    return {name: statistics.median(values) for name, values in samples.items()}


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


COLUMNS = (*PHASES, "compile total", "Lark parse alone", "json.dumps of the bundle")


def table(results: dict[int, dict[str, float]]) -> list[str]:
    lines = ["| rules | " + " | ".join(COLUMNS) + " |",
             "|---:|" + "---:|" * len(COLUMNS)]
    for size, medians in results.items():
        cells = []
        for name in COLUMNS:
            cell = _duration(medians[name])
            cells.append(f"**{cell}**" if name == "compile total" else cell)
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    lines += ["", "Per rule:", "",
              "| rules | " + " | ".join(COLUMNS) + " |",
              "|---:|" + "---:|" * len(COLUMNS)]
    for size, medians in results.items():
        lines.append(f"| {size:,} | " + " | ".join(
            f"{medians[name] / size * 1e6:,.1f} µs" for name in COLUMNS) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-size", type=int, default=100_000)
    parser.add_argument("--big-repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true", help=f"write its section of {RESULTS}")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = os.getloadavg()[0]
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {
        size: measure(size, args.big_repeat if size >= args.big_size else args.repeat,
                      args.seed)
        for size in sizes
    }
    load_after = os.getloadavg()[0]
    repeats = (f"median of {args.repeat} runs per cell ({args.big_repeat} from "
               f"{args.big_size:,} rules on)")
    lines = [
        "## Compile by phase, beside the bare operations",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        "pinned to 1",
        f"- Python {platform.python_version()}; CPU time, {repeats}, the cyclic collector "
        "paused as in `dualgate`",
        f"- policy: `bench_analysis.generate(size, seed={args.seed})`",
        f"- run: `.venv/bin/python benchmarks/bench_compile.py --write` on "
        f"{datetime.now(UTC).date()}",
        f"- load average (1 min) {load_before:.2f} at the start, {load_after:.2f} at the end "
        "(other work on the machine shows here)",
        "",
        "Phases as `compile_loaded` runs them (parse + AST is `parse_policy`, which reads a "
        "well-formed policy with `direct_parser`); Lark's parse alone is the bare operation "
        "the front end used before, and still uses for files with errors:",
        "",
        *table(results),
    ]
    if GOAL_SIZE in results:
        measured = results[GOAL_SIZE]["compile total"]
        lines += [
            "",
            "| goal | target | measured | verdict |",
            "|:---|:---|:---|---|",
            f"| compile {GOAL_SIZE:,} rules (total of the phases) | ≤ {COMPILE_GOAL:.0f} s "
            f"| {measured:.2f} s | {'met' if measured <= COMPILE_GOAL else '**not met**'} |",
        ]
    print("\n".join(lines))
    if args.write:
        if not RESULTS.exists():
            RESULTS.write_text("# Compile benchmarks\n")
        write_section(RESULTS, "bench_compile", lines)


if __name__ == "__main__":
    main()
