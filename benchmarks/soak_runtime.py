"""Soak test: compiled runtime against the reference interpreter, for as long as asked.

Run: ``.venv/bin/python benchmarks/soak_runtime.py [--minutes 10] [--seed N]``

The same comparison as ``tests/test_runtime_differential.py`` (random colliding and
shared policies, compiled, written to bytes and loaded; random well-formed and
malformed requests; decision, rule, reason, tier and fail mode must be equal), run in
a loop until the time is up. It prints a line per minute and, on the first
disagreement, the policy as DSL text and the request, then exits 1. ``--seed`` fixes
the requests; the policies come from the hypothesis strategies' own randomness.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis.errors import NonInteractiveExampleWarning

from dualgate.compiler.formatter import format_policy
from dualgate.compiler.raising import raise_policy
from dualgate.compiler.reference import Request
from tests.strategies import colliding_policies, policies
from tests.test_runtime_differential import Pools, compare, compiled, opens_high

REQUESTS_PER_POLICY = 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(f"soak: seed {seed}, {args.minutes:g} minutes")
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    strategies = (colliding_policies(max_rules=10), policies(max_rules=12, max_overrides=2))
    deadline = time.monotonic() + args.minutes * 60
    next_report = time.monotonic() + 60
    checked = compared = 0
    while time.monotonic() < deadline:
        policy = rng.choice(strategies).example()
        if opens_high(policy):
            continue
        bundle = compiled(policy)
        pools = Pools(policy)
        for _ in range(REQUESTS_PER_POLICY):
            request = Request(pools.topic(rng), pools.env(rng), pools.cidr(rng))
            try:
                compare(policy, bundle, request)
            except AssertionError:
                print("DISAGREEMENT on", request)
                print(format_policy(raise_policy(policy)))
                return 1
            compared += 1
        checked += 1
        if time.monotonic() >= next_report:
            print(f"  {checked:,} policies, {compared:,} requests, all agree")
            next_report += 60
    print(f"done: {checked:,} policies, {compared:,} requests, all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
