"""The front end of this checkout against an earlier commit's, alternated in one window.

Run: ``.venv/bin/python benchmarks/bench_frontend_ab.py --base COMMIT [--rounds 3]
[--rules 10000] [--write]``

On a shared or virtual machine the speed of the CPU itself drifts by half or more
between runs minutes apart, so a figure from another day says little about a change.
Here both versions run in fresh processes, one after the other, ``--rounds`` times; each
process times the DSL front end (Lark's parse, the AST, lowering) on
``bench_analysis.generate(--rules)`` and the YAML front end on ``bench_frontend``'s
policy of a quarter as many rules, and keeps its fastest of three runs. The table gives
the fastest process of each version and their ratio. ``--base`` is exported with
``git archive`` into a temporary directory and imported from there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from results_section import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "frontend.md"

#: Run in each process: ``sys.argv[1]`` is the directory holding the ``dualgate`` package
#: to time (empty: the installed one), ``sys.argv[2]`` the number of rules.
PROBE = r"""
import gc, json, sys, time
if sys.argv[1]:
    sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[3])
from bench_analysis import generate
from bench_frontend import generate as generate_yaml
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import _parser, parse_policy
from dualgate.compiler.frontend.source import SourceFile
rules = int(sys.argv[2])
text = generate(rules, 7)
_, yaml_text = generate_yaml(rules // 4)
_parser()
gc.disable()
best = {}
for _ in range(3):
    start = time.process_time(); _parser().parse(text); parsed = time.process_time()
    syntax, _ = parse_policy(SourceFile("gen.policy", text)); built = time.process_time()
    lower(syntax); lowered = time.process_time()
    load_policy_text(yaml_text, "gen.policy.yaml"); loaded = time.process_time()
    for name, seconds in (("lark", parsed - start), ("ast", built - parsed),
                          ("lower", lowered - built), ("yaml", loaded - lowered)):
        best[name] = min(best.get(name, float("inf")), seconds)
print(json.dumps({"lark": best["lark"] / rules, "ast": best["ast"] / rules,
                  "lower": best["lower"] / rules, "yaml": best["yaml"] / (rules // 4)}))
"""


def probe(package_dir: str, rules: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, package_dir, str(rules), str(ROOT / "benchmarks")],
        check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def export(commit: str, into: Path) -> str:
    """``commit``'s sources under ``into``, importable as ``dualgate``; the directory."""
    source = into / "source"
    source.mkdir()
    archive = subprocess.run(["git", "archive", commit], check=True, capture_output=True,
                             cwd=ROOT).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    package = into / "package" / "dualgate"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for part in ("compiler", "runtime", "schemas"):
        (package / part).symlink_to(source / part)
    return str(into / "package")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--write", action="store_true", help=f"write its section of {RESULTS}")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True, cwd=ROOT).stdout.strip()
    with tempfile.TemporaryDirectory() as directory:
        base_dir = export(args.base, Path(directory))
        runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for _ in range(args.rounds):
            runs["base"].append(probe(base_dir, args.rules))
            runs["head"].append(probe("", args.rules))
    best = {version: {name: min(run[name] for run in found) for name in found[0]}
            for version, found in runs.items()}
    labels = {"lark": "Lark parse alone (the bare operation)",
              "ast": "parse + AST (`parse_policy`)", "lower": "lowering to IR",
              "yaml": "YAML front end, whole"}
    lines = [
        f"## This checkout ({head}) against `{args.base}`, alternated",
        "",
        f"- DSL: `bench_analysis.generate({args.rules:,})`; YAML: "
        f"`bench_frontend.generate({args.rules // 4:,})`; CPU time per rule, the fastest of "
        f"{args.rounds} alternated processes (each the fastest of 3 runs)",
        f"- run: `.venv/bin/python benchmarks/bench_frontend_ab.py --base {args.base} "
        f"--write` on {datetime.now(UTC).date()}",
        "",
        f"| step | `{args.base}` | this checkout | ratio |",
        "|:---|---:|---:|---:|",
    ]
    for name, label in labels.items():
        old, new = best["base"][name] * 1e6, best["head"][name] * 1e6
        lines.append(f"| {label} | {old:,.1f} µs | {new:,.1f} µs | {old / new:.2f}x |")
    dsl_old = (best["base"]["ast"] + best["base"]["lower"]) * 1e6
    dsl_new = (best["head"]["ast"] + best["head"]["lower"]) * 1e6
    lines.append(f"| DSL front end, whole (parse + AST + lowering) | {dsl_old:,.1f} µs "
                 f"| {dsl_new:,.1f} µs | {dsl_old / dsl_new:.2f}x |")
    print("\n".join(lines))
    if args.write:
        write_section(RESULTS, "bench_frontend_ab", lines)


if __name__ == "__main__":
    main()
