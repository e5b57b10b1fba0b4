"""Front-end cost: the YAML and DSL front ends beside the bare operations they wrap.

Run: ``.venv/bin/python benchmarks/bench_frontend.py [--sizes 100,1000,10000]
[--repeat 5] [--write]``

Every figure is CPU time (``time.process_time``, which other work on a shared machine
inflates less than the wall clock), the median of ``--repeat`` runs, with the cyclic
garbage collector paused as the front end runs.

- YAML, per size: the same generated policy composed by bare ``yaml.compose`` with
  libyaml's C loader and with PyYAML's pure-Python one, then the whole YAML front end
  (compose, AST read straight from the nodes, comments, lowering to IR) on each loader,
  the reference path it leaves broken files to (plain data, the JSON schema, then the
  AST: ``parse_yaml_policy(direct=False)``) on libyaml, and the DSL front end on the same
  policy written as ``.policy``. Goal: ≤ 80 µs per rule.

Compile at 100,000 rules is ``bench_compile.py``'s (``benchmarks/results/compile.md``).

``--write`` replaces this benchmark's section of ``benchmarks/results/frontend.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from results_section import write_section

from dualgate.compiler.frontend.loader import cyclic_gc_paused, load_policy_text
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.yaml_front import parse_yaml_policy

RESULTS = Path(__file__).resolve().parent / "results" / "frontend.md"
YAML_GOAL = 80e-6

ENVS = ("production", "staging", "dev")
VERBS = ("read", "list", "create", "update", "delete")
DECISIONS = ("allow", "deny", "require_human", "throttle")


def _rule(i: int, rng: random.Random) -> tuple[str, dict[str, str], str]:
    """One realistic rule: mostly exact topics, some globs, a third with env, a third with cidr."""
    topic = f"svc{i % 97}.res{i}.{rng.choice(VERBS)}"
    if i % 10 == 0:
        topic = f"svc{i % 97}.*.{rng.choice(VERBS)}"
    elif i % 25 == 0:
        topic = f"svc{i % 97}.**"
    when = {"topic": topic}
    if i % 3 == 0:
        when["env"] = rng.choice(ENVS)
    if i % 3 == 1:
        when["cidr"] = f"10.{i % 256}.{(i // 256) % 256}.0/24"
    return f"rule-{i}", when, rng.choice(DECISIONS)


def generate(size: int, seed: int = 7) -> tuple[str, str]:
    """The same policy of ``size`` rules as DSL text and as YAML text."""
    rng = random.Random(seed)
    rules = [_rule(i, rng) for i in range(size)]
    dsl = ["policy bench", "envs " + ", ".join(ENVS), "default_decision deny", ""]
    yaml_lines = ["version: v1", "policy: bench", f"envs: [{', '.join(ENVS)}]",
                  "default_decision: deny", "rules:"]
    for rule_id, when, decision in rules:
        conditions = [f"topic {when['topic']}"]
        if "env" in when:
            conditions.append(f"env {when['env']}")
        if "cidr" in when:
            conditions.append(f"cidr in {when['cidr']}")
        dsl.append(f"rule {rule_id}\n  when " + "\n   and ".join(conditions)
                   + f"\n  then {decision}\n")
        yaml_lines.append(f"  - id: {rule_id}")
        yaml_lines.append("    when: {" + ", ".join(f"{k}: '{v}'" for k, v in when.items())
                          + "}")
        yaml_lines.append(f"    decision: {decision}")
    return "\n".join(dsl), "\n".join(yaml_lines) + "\n"


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median CPU seconds of ``action`` over ``repeat`` runs, the collector paused."""
    samples = []
    for _ in range(repeat):
        with cyclic_gc_paused():
            start = time.process_time()
            action()
            samples.append(time.process_time() - start)
    return statistics.median(samples)


def yaml_front_end(text: str, libyaml: bool, direct: bool = True) -> None:
    """What ``load_policy_text`` does for a YAML file, on the loader named (``direct``
    False: through the reference path)."""
    syntax, diagnostics = parse_yaml_policy(SourceFile("bench.policy.yaml", text),
                                            libyaml=libyaml, direct=direct)
    assert syntax is not None and not diagnostics
    policy, _ = lower(syntax, yaml=True)
    assert policy is not None


def _us(seconds: float, size: int) -> str:
    return f"{seconds / size * 1e6:,.1f} µs"


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


def yaml_rows(sizes: list[int], repeat: int) -> tuple[list[str], float]:
    """The YAML table, and the libyaml front end's cost per rule at the largest size."""
    lines = [
        "| rules | `yaml.compose` (libyaml) | `yaml.compose` (pure) | YAML front end (libyaml) "
        "| YAML front end (pure) | reference path (libyaml) | libyaml speed-up "
        "| front end / bare compose (libyaml) | DSL front end |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    per_rule = 0.0
    for size in sizes:
        dsl, text = generate(size)
        result = load_policy_text(dsl, "bench.policy")
        assert result.policy is not None and len(result.policy.rules) == size
        bare_c = median_seconds(lambda t=text: yaml.compose(t, Loader=yaml.CSafeLoader), repeat)
        bare_pure = median_seconds(lambda t=text: yaml.compose(t, Loader=yaml.SafeLoader),
                                   repeat)
        fast = median_seconds(lambda t=text: yaml_front_end(t, libyaml=True), repeat)
        pure = median_seconds(lambda t=text: yaml_front_end(t, libyaml=False), repeat)
        reference = median_seconds(
            lambda t=text: yaml_front_end(t, libyaml=True, direct=False), repeat)
        dsl_s = median_seconds(lambda t=dsl: load_policy_text(t, "bench.policy"), repeat)
        per_rule = fast / size
        lines.append(
            f"| {size:,} | {_us(bare_c, size)} | {_us(bare_pure, size)} | **{_us(fast, size)}** "
            f"| {_us(pure, size)} | {_us(reference, size)} | {pure / fast:.1f}x "
            f"| {fast / bare_c:.1f}x "
            f"| {_us(dsl_s, size)} |"
        )
        print(lines[-1], flush=True)
    return lines, per_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help=f"write its section of {RESULTS}")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = os.getloadavg()[0]
    sizes = [int(s) for s in args.sizes.split(",")]
    yaml_table, yaml_per_rule = yaml_rows(sizes, args.repeat)
    lines = [
        "## Front end: YAML and DSL beside the bare operations",
        "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs, "
        "pinned to 1",
        f"- Python {platform.python_version()}, PyYAML {yaml.__version__} "
        f"(libyaml {'present' if yaml.__with_libyaml__ else 'absent'})",
        f"- CPU time, median of {args.repeat} runs per cell, the cyclic collector paused as "
        "in `dualgate`",
        f"- run: `.venv/bin/python benchmarks/bench_frontend.py --write` on "
        f"{datetime.now(UTC).date()}",
        "",
        "Per rule, the policy of `bench_frontend.generate` (mostly exact topics, some globs, "
        "a third of the rules with an env, a third with a network):",
        "",
        *yaml_table,
    ]
    goals = [
        "| goal | target | measured | verdict |",
        "|:---|:---|:---|---|",
        f"| YAML front end, {sizes[-1]:,} rules | ≤ {YAML_GOAL * 1e6:.0f} µs per rule "
        f"| {yaml_per_rule * 1e6:,.1f} µs "
        f"| {'met' if yaml_per_rule <= YAML_GOAL else '**not met**'} |",
    ]
    lines += [
        "",
        f"- load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at "
        "the end (other work on the machine shows here)",
        "",
        *goals,
        "",
        "Compile at 100,000 rules: see [compile.md](compile.md) (`bench_compile.py`).",
    ]
    print("\n".join(lines))
    if args.write:
        if not RESULTS.exists():
            RESULTS.write_text("# Front-end benchmarks\n")
        write_section(RESULTS, "bench_frontend", lines)


if __name__ == "__main__":
    main()
