"""How long ``dualgate`` takes to start, beside Python itself: what a pre-commit hook waits.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--runs 15] [--write]``

Each row runs a fresh process ``--runs`` times (after one unmeasured run, which also
fills Lark's parse-table cache and the bytecode cache) and reports the median wall-clock
time, and the median CPU time (user + system) of the child, which other work on a shared
machine inflates less. The children keep compiled bytecode as an installed Python does
(in a temporary ``PYTHONPYCACHEPREFIX``, even when ``PYTHONDONTWRITEBYTECODE`` is set
here), so that they measure what a hook waits, not the compiling of every module; one
row shows ``lint`` with ``PYTHONDONTWRITEBYTECODE=1`` (how earlier runs measured it).

- ``python -c pass``: the interpreter's own start-up (site and the editable-install
  hook included), the floor;
- ``python -c "import click"``: the floor of any click command;
- ``dualgate --version`` and ``dualgate --help``;
- ``dualgate lint policies/infra.policy``: the front end, the IR and the analysis of
  one small policy (``lint policies/payments.policy.yaml``: the same through the YAML
  front end, which alone imports PyYAML and the schema validators);
- ``dualgate eval BUNDLE --topic ... --env ...``: one decision from a compiled bundle.

``python -X importtime`` shows where a command's import time goes; the largest
imports of ``lint`` are listed under the table. Goal: ``--version`` and ``lint`` of one
small file in under 0.3 s (wall clock, which is what a hook waits).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from results_section import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cli.md"
PYTHON = sys.executable
DUALGATE = str(Path(PYTHON).with_name("dualgate"))
INFRA = str(ROOT / "policies" / "infra.policy")
PAYMENTS_YAML = str(ROOT / "policies" / "payments.policy.yaml")
GOAL = 0.3
GOAL_ROWS = ("`dualgate --version`", "`dualgate lint policies/infra.policy`")


def child_environment(pycache: str | None) -> dict[str, str]:
    """The environment of the measured processes: bytecode kept under ``pycache``, or
    (None) never written (the repository's modules are then compiled on every run)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def timed(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU seconds of ``argv`` over ``runs`` runs (one warm-up first)."""
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=ROOT, env=env)
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, check=False, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
    return statistics.median(wall), statistics.median(cpu)


def largest_imports(argv: list[str], count: int, env: dict[str, str]) -> list[
        tuple[str, float]]:
    """The ``count`` top-level packages whose imports (self time) cost ``argv`` most."""
    script = ("import sys; from dualgate.compiler.cli.main import main; "
              f"sys.argv = {argv!r}; main()")
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", script], check=False,
                          capture_output=True, text=True, cwd=ROOT, env=env)
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _, name = (part.strip() for part in line.replace("|", ":").split(":"))
        parts = name.split(".")
        package = ".".join(parts[:3]) if parts[0] == "dualgate" else parts[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per row")
    parser.add_argument("--write", action="store_true", help=f"write its section of {RESULTS}")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as directory:
        env = child_environment(str(Path(directory) / "pycache"))
        bundle = str(Path(directory) / "infra.bundle.json")
        subprocess.run([DUALGATE, "compile", INFRA, "-o", bundle], check=True,
                       capture_output=True)
        cases = [
            ("`python -c pass`", [PYTHON, "-c", "pass"]),
            ('`python -c "import click"`', [PYTHON, "-c", "import click"]),
            ("`dualgate --version`", [DUALGATE, "--version"]),
            ("`dualgate --help`", [DUALGATE, "--help"]),
            ("`dualgate lint policies/infra.policy`", [DUALGATE, "lint", INFRA]),
            ("`dualgate lint policies/payments.policy.yaml`", [DUALGATE, "lint", PAYMENTS_YAML]),
            ("`dualgate eval BUNDLE --topic infra.vm.read --env dev`",
             [DUALGATE, "eval", bundle, "--topic", "infra.vm.read", "--env", "dev"]),
        ]
        rows = [(name, *timed(command, args.runs, env)) for name, command in cases]
        rows.append(("`dualgate lint policies/infra.policy`, no bytecode written",
                     *timed([DUALGATE, "lint", INFRA], args.runs, child_environment(None))))
        imports = largest_imports(["dualgate", "lint", INFRA], 10, env)
    lines = [
        "## Start-up: what a pre-commit hook waits",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        "pinned to 1",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        "editable install",
        f"- load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} "
        "at the end (other work on the machine shows here)",
        f"- median of {args.runs} runs after one warm-up run; bytecode cached as an "
        "installed Python keeps it (`PYTHONPYCACHEPREFIX`), but in the last row",
        f"- run: `.venv/bin/python benchmarks/bench_startup.py --write` on "
        f"{datetime.now(UTC).date()}",
        "",
        "| command | wall clock | CPU (user + system) | CPU / `python -c pass` |",
        "|:---|---:|---:|---:|",
        *(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {cpu / rows[0][2]:.1f}x |"
          for name, wall, cpu in rows),
        "",
        "| goal | target | wall clock | CPU | verdict |",
        "|:---|:---|---:|---:|---|",
        *(f"| {name} | < {GOAL * 1000:.0f} ms | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms "
          f"| {'met' if wall < GOAL else '**not met**'}"
          f"{' (CPU alone under it)' if wall >= GOAL > cpu else ''} |"
          for name, wall, cpu in rows if name in GOAL_ROWS),
        "",
        "The largest imports of `dualgate lint policies/infra.policy` (self time summed per "
        "package, `python -X importtime`, one run): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports) + ".",
    ]
    print("\n".join(lines))
    if args.write:
        write_section(RESULTS, "bench_startup", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
