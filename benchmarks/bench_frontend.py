"""Front-end cost: parse + lower time for generated policies, DSL and YAML side by side.

Run: ``.venv/bin/python benchmarks/bench_frontend.py [--sizes 100,1000,10000] [--repeat 5]``

For each size the same generated policy is written in both forms and loaded
``--repeat`` times; the table reports medians, the cost per rule (flat per-rule cost
means linear growth) and the YAML/DSL ratio. Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from dualgate.compiler.frontend.loader import load_policy_text

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
    yaml = ["version: v1", "policy: bench", f"envs: [{', '.join(ENVS)}]",
            "default_decision: deny", "rules:"]
    for rule_id, when, decision in rules:
        conditions = [f"topic {when['topic']}"]
        if "env" in when:
            conditions.append(f"env {when['env']}")
        if "cidr" in when:
            conditions.append(f"cidr in {when['cidr']}")
        dsl.append(f"rule {rule_id}\n  when " + "\n   and ".join(conditions)
                   + f"\n  then {decision}\n")
        yaml.append(f"  - id: {rule_id}")
        yaml.append("    when: {" + ", ".join(f"{k}: '{v}'" for k, v in when.items()) + "}")
        yaml.append(f"    decision: {decision}")
    return "\n".join(dsl), "\n".join(yaml) + "\n"


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("| rules | DSL median | DSL per rule | YAML median | YAML per rule | YAML/DSL |")
    print("|------:|-----------:|-------------:|------------:|--------------:|---------:|")
    for size in (int(s) for s in args.sizes.split(",")):
        dsl, yaml = generate(size)
        for text, path in ((dsl, "bench.policy"), (yaml, "bench.policy.yaml")):
            result = load_policy_text(text, path)
            assert result.policy is not None and len(result.policy.rules) == size, path
        dsl_s = median_seconds(partial(load_policy_text, dsl, "bench.policy"), args.repeat)
        yaml_s = median_seconds(partial(load_policy_text, yaml, "bench.policy.yaml"),
                                args.repeat)
        print(
            f"| {size:>5} | {dsl_s * 1e3:>8.1f} ms | {dsl_s / size * 1e6:>9.1f} µs "
            f"| {yaml_s * 1e3:>9.1f} ms | {yaml_s / size * 1e6:>10.1f} µs "
            f"| {yaml_s / dsl_s:>7.2f}x |"
        )


if __name__ == "__main__":
    main()
