"""Replaying a decision log with ``dualgate eval --input``, beside the bare operations.

Run: ``.venv/bin/python benchmarks/bench_eval_input.py [--lines 200000] [--repeat 5] [--write]``

The log is generated (fixed seed) as the gates' decision log would hold it for
``policies/infra.policy``, one request per line in the log's compact JSON
(``{"topic":...,"env":...,"cidr":...}``, the request keys of each entry, ``cidr`` null
when the job named no network): topics drawn from the policy's kinds and verbs with a
skewed (Zipf-like) popularity, mostly production, some requests naming a network from a
small set of private and public ones. Three logs:

- **repeating**: 90% of the lines drawn from ~2,000 distinct requests, 10% carrying a
  first-seen address each (a distinct line);
- **all distinct**: every line carries a first-seen address, so no line repeats;
- **a gate's decision log**: the repeating requests checked by a submit gate over the
  bundle, its decision log's lines as the writer (``runtime/telemetry/decision_log.py``)
  writes them: every key of an entry (timestamp, decision id, job id, verdict, ...), so
  no two lines repeat and each line is about six times longer: what ``eval --input``
  reads from a real log.

Rows, per log, in lines per second of CPU time on one core (median of ``--repeat``):

- ``json.loads`` and ``orjson.loads`` per line: the floor of a reader that parses
  every line (``eval`` parses with orjson, and with the standard library what orjson
  refuses, only the lines not in the compact layout);
- bare ``decide()`` over the requests already parsed;
- ``eval``'s line reader alone (``_Requests.request``: the memory of lines seen, the
  one-match reading of the compact layout the writer and compact requests use, then
  orjson and the standard library for any other line);
- ``json.loads`` then ``decide()`` per line: the naive loop;
- the ``eval --input`` loop in process (reading, parsing, deciding, encoding, writing
  to ``/dev/null``);
- ``dualgate eval BUNDLE --input LOG > /dev/null`` end to end in a subprocess, start-up
  and bundle loading included (CPU time of the child, and lines per wall-clock second).

The cyclic garbage collector is off, as in the ``dualgate`` command. CPU time rather
than wall time for the in-process rows: on a shared machine the wall
clock also counts the time other processes hold the core.
"""

from __future__ import annotations

import argparse
import gc
import io
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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
from results_section import write_section

from dualgate.compiler.backend import compile_loaded
from dualgate.compiler.cli import evaluate
from dualgate.compiler.frontend.loader import load_policy
from dualgate.runtime import Bundle, load_bundle
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cli.md"
DUALGATE = Path(sys.executable).with_name("dualgate")

KINDS = ("vm", "bucket", "database", "cluster", "instance", "security_group", "iam.role",
         "iam.policy", "network", "disk")
VERBS = ("read", "list", "update", "create", "delete", "scale", "recreate", "restore")
ENVS = ("production",) * 6 + ("staging",) * 2 + ("dev",) * 2 + ("prod",)
NETWORKS = ("10.12.0.0/16", "10.1.2.3", "172.16.4.0/24", "192.168.1.10", "203.0.113.7",
            "8.8.8.8", "fd00::1", "::ffff:10.1.2.3")


def fresh_address(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"


def request(rng: random.Random, address: str | None) -> dict[str, object]:
    topic = f"infra.{rng.choice(KINDS)}.{rng.choice(VERBS)}"
    cidr = address if address is not None else (
        rng.choice(NETWORKS) if rng.random() < 0.3 else None)
    return {"topic": topic, "env": rng.choice(ENVS), "cidr": cidr}


def decision_log(lines: int, distinct: float, seed: int = 13) -> bytes:
    """``lines`` request lines; ``distinct`` of them carry a first-seen address."""
    rng = random.Random(seed)
    pool = [request(rng, None) for _ in range(2000)]
    weights = [1 / (rank + 1) for rank in range(len(pool))]
    out = []
    for _ in range(lines):
        if rng.random() < distinct:
            entry = request(rng, fresh_address(rng))
        else:
            entry = rng.choices(pool, weights)[0]
        out.append(json.dumps(entry, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def gate_log(requests: bytes, bundle_path: Path) -> bytes:
    """The same requests checked by a submit gate over the bundle at ``bundle_path``: the
    lines its decision log writes, in order (distinct timestamps, decision ids and job
    ids, so no two lines repeat)."""
    requests_list = [json.loads(line) for line in requests.splitlines()]
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append), max_queue=len(requests_list) + 1,
                      metrics=GateMetrics(use_prometheus=False))
    gate = SubmitGate(BundleHolder(bundle_path), decision_log=log,
                      metrics=GateMetrics(use_prometheus=False))
    for number, request in enumerate(requests_list):
        gate.check(request["topic"], request["env"], request["cidr"],
                   job_id=f"job-{number:08d}", job_hash=f"sha256:{number:064x}")
    assert log.flush(60)
    log.close()
    assert len(lines) == len(requests_list)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).encode()


def cpu_seconds(run: Callable[[], None], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def replay_in_process(bundle: Bundle, log: bytes) -> Callable[[], None]:
    """The ``eval --input`` loop, its output written to /dev/null."""
    def run() -> None:
        saved = sys.stdout
        with open(os.devnull, "wb") as null:
            sys.stdout = io.TextIOWrapper(null, encoding="utf-8")
            try:
                faults = evaluate._write_json_lines(bundle, io.BytesIO(log), {})
            finally:
                sys.stdout.flush()
                sys.stdout = saved
        assert not faults
    return run


def end_to_end(bundle_path: Path, log_path: Path, repeat: int) -> tuple[float, float]:
    """Median CPU seconds (user + system) and wall seconds of the whole command."""
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with open(log_path, "rb") as source:
            subprocess.run([str(DUALGATE), "eval", str(bundle_path), "--input", "-"],
                           stdin=source, stdout=subprocess.DEVNULL, check=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


Row = tuple[str, float, str]


def measure(log: bytes, bundle: Bundle, bundle_path: Path, directory: Path,
            repeat: int) -> list[Row]:
    lines = log.splitlines()
    count = len(lines)
    requests = [(r["topic"], r["env"], r["cidr"]) for r in map(json.loads, lines)]
    decide, loads = bundle.decide, json.loads

    def floor() -> None:
        for line in lines:
            loads(line)

    def bare() -> None:
        for topic, env, cidr in requests:
            decide(topic, env, cidr)

    def naive() -> None:
        for line in lines:
            value = loads(line)
            decide(value.get("topic"), value.get("env"), value.get("cidr"))

    def fast_floor() -> None:
        for line in lines:
            orjson.loads(line)

    def reader() -> None:
        request = evaluate._Requests().request
        for line in lines:
            request(line, True)

    rows: list[Row] = []
    for name, run in (("`json.loads` per line", floor),
                      ("`orjson.loads` per line (`eval` reads with it a line not compact)",
                       fast_floor),
                      ("bare `decide()`, requests parsed already", bare),
                      ("`eval`'s line reader alone (memory, compact match, orjson)", reader),
                      ("`json.loads` + `decide()` per line", naive),
                      ("`eval --input` loop, in process", replay_in_process(bundle, log))):
        bundle.evaluator.clear_caches()
        rows.append((name, count / cpu_seconds(run, repeat), "CPU"))
    log_path = directory / "decisions.jsonl"
    log_path.write_bytes(log)
    cpu, wall = end_to_end(bundle_path, log_path, repeat)
    rows.append(("`dualgate eval BUNDLE --input LOG`, subprocess", count / cpu, "CPU"))
    rows.append(("`dualgate eval BUNDLE --input LOG`, subprocess", count / wall, "wall"))
    return rows


def report(results: dict[str, list[Row]], lines: int, repeat: int,
           load: tuple[float, float]) -> list[str]:
    out = [
        "## `dualgate eval --input`: replaying a decision log",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        "pinned to 1",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- load average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end "
        "(other work on the machine shows here)",
        f"- {lines:,} lines per log against `policies/infra.policy` (see the benchmark's "
        f"docstring for the logs), median of {repeat} runs",
        f"- run: `.venv/bin/python benchmarks/bench_eval_input.py --write` on "
        f"{datetime.now(UTC).date()}",
        "",
        "| lines per second | " + " | ".join(results) + " |",
        "|:---|" + "---:|" * len(results),
    ]
    names = [(name, clock) for name, _, clock in next(iter(results.values()))]
    for index, (name, clock) in enumerate(names):
        cells = [f"{rows[index][1]:,.0f}" for rows in results.values()]
        out.append(f"| {name} ({clock}) | " + " | ".join(cells) + " |")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per log")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row")
    parser.add_argument("--write", action="store_true", help=f"write its section of {RESULTS}")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # As `dualgate` itself runs (compiler/cli/main.py): cyclic collections would only
    # rescan the logs and requests held here, a cost the command does not pay.
    gc.disable()
    load_before = os.getloadavg()[0]
    compiled = compile_loaded(load_policy(ROOT / "policies" / "infra.policy"))
    assert compiled.bundle is not None
    data = serialize(compiled.bundle)
    bundle = load_bundle(data)
    results: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        bundle_path = directory / "infra.bundle.json"
        bundle_path.write_bytes(data)
        for title, distinct, whole in (("repeating requests (10% distinct)", 0.1, False),
                                       ("all distinct requests", 1.0, False),
                                       ("a gate's decision log (whole entries)", 0.1, True)):
            log = decision_log(args.lines, distinct)
            if whole:
                log = gate_log(log, bundle_path)
            results[title] = measure(log, bundle, bundle_path, directory, args.repeat)
    lines = report(results, args.lines, args.repeat, (load_before, os.getloadavg()[0]))
    print("\n".join(lines))
    if args.write:
        write_section(RESULTS, "bench_eval_input", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
