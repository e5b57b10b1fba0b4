"""Runtime cost: dualgate's compiled bundle next to the reference scan, Cedar, Rego and Casbin.

Run: ``taskset -c 0 .venv/bin/python benchmarks/bench_runtime.py [--sizes 10,100,1000,10000,100000
| --quick] [--engines reference,cedar,rego,casbin] [--requests 2000] [--budget 10] [--write]``
(the foreign engines come with ``.venv/bin/pip install -e '.[bench]'``).

For each size, in this one process: ``bench_analysis.generate`` writes a first-match
policy of exactly that many rules, and ``--requests`` random requests are drawn from it
(fixed seed): topics made from the rules' own patterns (wildcards filled with segments
the policy uses), from the tiers' patterns and unknown ones; the declared envs and now
and then an undeclared one (``prod``); a third with a cidr: hosts, subnets, supernets
and the networks themselves of the policy's networks, public IPv4, IPv6 and
IPv4-mapped addresses. Every engine decides the same requests:

- **dualgate warm**: ``load_bundle(bytes).decide``, caches filled by a first pass;
- **dualgate cold**: a bundle loaded with ``topic_cache_size=1, cidr_cache_size=1``, on
  the requests less the few that would find their topic or cidr in a cache: every
  decision misses both caches and pays the topic automaton walk and the cidr parse, as
  a gate does for a topic it has not seen lately (checked: no cache hit; the policy's
  literal topics and bare IPv4 addresses are looked up and parsed without a cache). What
  a first pass costs on a fresh bundle is reported as "first pass after load". Both dualgate
  figures are timed in rounds, one before the other engines and one after each, so that
  their medians span the size's whole run rather than one moment of it;
- **reference**: ``dualgate.compiler.reference.evaluate``, the plain first-match scan
  over the IR (it also classifies the topic's tier, as the runtime does);
- **cedarpy**, **regopy**, **casbin**: the policy translated into each engine's
  language (``benchmarks/engines/``, whose docstrings say how, and what each engine
  could not express and is done in Python inside the timed call instead).

Before any timing, an engine decides every request it will be timed on and must agree
with dualgate on each (decision and rule id); an engine that disagrees is reported as a
failed translation, not timed, and the run exits 1. The reference is checked the same
way, so it also checks dualgate. Slow engines are timed on a sample: the check pass
stops once it has used a quarter of ``--budget`` seconds (after at least
``MIN_SAMPLE`` requests), and the requests it got through, a random sample since the
requests are in random order, are the ones timed. A batch is one pass over an engine's
requests; batches repeat until ``--repeat`` batches and ``--min-time`` seconds, or until
the budget is spent (at least one); the figure is the median over batches of the time
per decision. It includes the loop and the call itself, which the run measures with a
function that does nothing, and reports. An engine is skipped at a size, with a note,
when its growth over the previous sizes predicts that its setup would take longer than
``--setup-limit`` or ``2 * MIN_SAMPLE`` decisions longer than three budgets.

Per size also: the compile time as ``dualgate compile`` spends it (front end, the
checks ``compile_loaded`` runs, the decision table, the bundle document and its bytes;
``compile_loaded`` itself refuses these policies, which have shadowed rules), the bundle
size, ``load_bundle`` time on the bytes (median), and the Python memory the loaded
bundle holds (tracemalloc), after loading and after deciding every request.

Times are CPU seconds of this process (``time.process_time``), so that other work that
takes the core away does not count as ours (it can still slow us through shared caches);
the share of wall time the process got at each size is reported, and the load average.
The goals are printed next to the measurements; ``--write`` also stores the Markdown in
``benchmarks/results/runtime.md`` and a plot of decisions per second against rules in
``benchmarks/results/runtime.png``. ``--sizes '' --engines '' --write-cold`` runs the cold
traffic alone and replaces only its paragraph, table and goal rows in runtime.md, keeping
every other figure (and the warm column of its table) from the last full run: what a
machine without the foreign engines can re-record. Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import math
import multiprocessing
import os
import platform
import random
import shlex
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench_analysis import NOW, generate
from engines import ENGINES, Outcome, UntranslatableError, builder

from dualgate.compiler.analysis import AnalysisOptions, check_file
from dualgate.compiler.backend import build_table, compiler_version
from dualgate.compiler.backend.bundle import build_bundle
from dualgate.compiler.frontend.loader import cyclic_gc_paused, load_policy_text
from dualgate.compiler.ir import CidrCondition, Policy, TopicCondition, TopicPattern
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.topics import ANY, SINGLE
from dualgate.runtime import Bundle, load_bundle
from dualgate.runtime.bundle_format import serialize

RESULTS = Path(__file__).resolve().parent / "results"
MARKDOWN = RESULTS / "runtime.md"
PLOT = RESULTS / "runtime.png"

DEFAULT_SIZES = "10,100,1000,10000,100000"
QUICK_SIZES = "10,100,1000"
FOREIGN = ("reference", *ENGINES)
LABELS = {
    "warm": "dualgate warm", "cold": "dualgate cold", "reference": "reference (linear scan)",
    "cedar": "cedarpy (Cedar)", "rego": "regopy (Rego)", "casbin": "casbin (PyCasbin)",
}
#: A slow engine is timed on at least this many requests (if it is timed at all).
MIN_SAMPLE = 10
#: Goals the runtime is held to (docs/design.md: evaluation cost must not grow with the rules).
WARM_GOAL = 1e-6
COLD_GOAL = 3e-6
#: "Flat": the slowest size at most this many times the fastest.
FLAT_FACTOR = 1.5
COMPILE_GOAL = 30.0
LOAD_GOAL = 0.5
GOAL_SIZE = 100_000
ANCHORS = "cedarpy ~840 µs/decision, regopy ~820 µs, linear Python scan ~55 µs"

RequestTuple = tuple[str, str, str | None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- requests ---------------------------------------------------------------------------


def _topic_patterns(policy: Policy) -> list[TopicPattern]:
    return [p for rule in policy.rules for c in rule.conditions
            if isinstance(c, TopicCondition) for p in c.patterns]


def _networks(policy: Policy) -> list[Network]:
    found = {n for rule in policy.rules for c in rule.conditions
             if isinstance(c, CidrCondition) for n in c.networks}
    return sorted(found, key=lambda n: (n.version, n)) or [ipaddress.IPv4Network("10.0.0.0/8")]


class RequestMaker:
    """Random requests drawn from one policy (see the module docstring)."""

    def __init__(self, policy: Policy, rng: random.Random) -> None:
        self.rng = rng
        self.patterns = _topic_patterns(policy)
        self.tier_patterns = [p for tier in policy.tiers for p in tier.patterns]
        literal = sorted({s for p in self.patterns for s in p.segments if s not in (SINGLE, ANY)})
        self.vocabulary = literal or ["job"]
        #: Literal segments by position, to fill a `*` with what stands there elsewhere.
        self.at: dict[int, list[str]] = {}
        for pattern in self.patterns:
            for i, segment in enumerate(pattern.segments):
                if segment not in (SINGLE, ANY):
                    self.at.setdefault(i, []).append(segment)
        self.envs = list(policy.env_names) or ["production"]
        self.networks = _networks(policy)

    def _fill(self, pattern: TopicPattern) -> str:
        rng, parts = self.rng, []
        for i, segment in enumerate(pattern.segments):
            if segment == SINGLE:
                parts.append(rng.choice(self.at.get(i, self.vocabulary)))
            elif segment == ANY:
                parts += rng.choices(self.vocabulary, k=rng.choice((0, 0, 1, 2)))
            else:
                parts.append(segment)
        return ".".join(parts) or rng.choice(self.vocabulary)

    def topic(self) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.7 and self.patterns:
            return self._fill(rng.choice(self.patterns))
        if roll < 0.8 and self.tier_patterns:
            return self._fill(rng.choice(self.tier_patterns))
        if roll < 0.9:
            return ".".join(rng.choices(self.vocabulary, k=3))
        return f"unknown{rng.randrange(1000)}.job.run"

    def cidr(self) -> str:
        rng, roll = self.rng, self.rng.random()
        network = rng.choice(self.networks)
        host = network.network_address + rng.randrange(network.num_addresses)
        if roll < 0.45:
            return str(host)
        if roll < 0.60:
            return str(network)
        if roll < 0.70:
            prefix = min(network.max_prefixlen, network.prefixlen + 4)
            return str(ipaddress.ip_network((host, prefix), strict=False))
        if roll < 0.80:
            return str(network.supernet(prefixlen_diff=min(8, network.prefixlen)))
        if roll < 0.90:
            base = rng.choice(("203.0.113.0", "198.51.100.0", "8.8.8.0"))
            return str(ipaddress.IPv4Address(base) + rng.randrange(256))
        if roll < 0.95 or network.version == 6:
            return str(ipaddress.IPv6Address("2001:db8::") + rng.getrandbits(64))
        return f"::ffff:{host}"

    def request(self) -> RequestTuple:
        env = "prod" if self.rng.random() < 0.03 else self.rng.choice(self.envs)
        return self.topic(), env, self.cidr() if self.rng.random() < 1 / 3 else None


def make_requests(policy: Policy, count: int, seed: int) -> list[RequestTuple]:
    maker = RequestMaker(policy, random.Random(seed))
    return [maker.request() for _ in range(count)]


def cold_stream(bundle: Bundle, requests: Sequence[RequestTuple]) -> list[RequestTuple]:
    """The requests minus those that would hit ``bundle``'s caches of one entry, found by
    deciding them: the stream is decided twice in a row (as batches repeat), every request
    that hits a cache the second time is dropped, and so on until none does. (What a
    cache sees depends on the request: literal topics, bare IPv4 addresses and anything
    refused never enter one, and a cidr is parsed only for a declared env.)"""
    def hits() -> int:
        info = bundle.evaluator.cache_info()
        return int(info["topics"].hits + info["cidrs"].hits)

    stream = list(requests)
    while stream:
        for request in stream:
            bundle.decide(*request)
        dropped = set()
        for i, request in enumerate(stream):
            before = hits()
            bundle.decide(*request)
            if hits() != before:
                dropped.add(i)
        if not dropped:
            break
        stream = [r for i, r in enumerate(stream) if i not in dropped]
    return stream


# -- measuring --------------------------------------------------------------------------


Decide = Callable[[str, str, str | None], Any]


@dataclass
class Timing:
    """One engine at one size: seconds per decision (median over batches) and how."""

    per_decision: float
    requests: int
    batches: int
    setup: float | None = None


@dataclass
class SizeResult:
    """Everything measured at one size (times in seconds, sizes in bytes)."""

    size: int
    requests: int
    compile_parts: dict[str, float]
    bundle_bytes: int
    load: float
    loads: int
    memory_loaded: int
    memory_used: int
    first_pass: float
    cpu_share: float = 1.0
    timings: dict[str, Timing] = field(default_factory=dict)
    #: Why an engine has no timing at this size, in a word for the table.
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def compile_total(self) -> float:
        return sum(self.compile_parts.values())


def _batch(decide: Decide, requests: Sequence[RequestTuple]) -> float:
    started = time.process_time()
    for topic, env, cidr in requests:
        decide(topic, env, cidr)
    return time.process_time() - started


def check(decide: Decide, outcome: Callable[[Any], Outcome], requests: Sequence[RequestTuple],
          expected: Sequence[Outcome], seconds: float = math.inf,
          ) -> tuple[int, float, list[str]]:
    """Decide the requests in order and compare with ``expected``, stopping after
    ``seconds`` (and at least ``MIN_SAMPLE`` requests): how many were decided, the seconds
    per decision, and the disagreements."""
    disagreements: list[str] = []
    started = time.process_time()
    count = 0
    for request, want in zip(requests, expected, strict=True):
        got = outcome(decide(*request))
        if got != want:
            disagreements.append(f"topic={request[0]!r} env={request[1]!r} "
                                 f"cidr={request[2]!r}: {got} instead of {want}")
        count += 1
        if count >= MIN_SAMPLE and time.process_time() - started > seconds:
            break
    return count, (time.process_time() - started) / count, disagreements


def time_batches(decide: Decide, requests: Sequence[RequestTuple], args: argparse.Namespace,
                 budget: float = math.inf) -> list[float]:
    """Seconds per decision of each batch: at least ``--repeat`` batches and ``--min-time``
    seconds, unless ``budget`` seconds run out first (one batch at least)."""
    gc.collect()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < args.repeat or spent < args.min_time:
        seconds = _batch(decide, requests)
        samples.append(seconds / len(requests))
        spent += seconds
        if spent >= budget:
            break
    return samples


def _nothing(topic: str, env: str, cidr: str | None) -> None:
    """What the batch loop and one call cost without any decision."""


def loop_overhead(args: argparse.Namespace) -> float:
    """Seconds per call of ``_nothing`` in the batch loop (median over batches)."""
    return statistics.median(time_batches(_nothing, [("job.run", "dev", None)] * args.requests,
                                          args))


def _verdict_outcome(verdict: Any) -> Outcome:
    return str(verdict.decision), verdict.rule


def _identity(outcome: Outcome) -> Outcome:
    return outcome


def compile_size(size: int, args: argparse.Namespace) -> tuple[Policy, bytes, dict[str, float]]:
    """The policy, its bundle file and the compile time by step (medians of the runs made
    within ~2 s, at most 3)."""
    text = generate(size, args.seed)
    runs: list[dict[str, float]] = []
    started = time.process_time()
    while not runs or (len(runs) < 3 and time.process_time() - started < 2):
        # With the cyclic collector paused, as `dualgate compile` runs: the CLI disables it
        # (a short process of acyclic graphs), and `compile_loaded` pauses it.
        with cyclic_gc_paused():
            parts, policy, data = _compile_once(text)
        runs.append(parts)
        gc.collect()
    assert len(policy.rules) == size
    medians = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    return policy, data, medians


def _compile_once(text: str) -> tuple[dict[str, float], Policy, bytes]:
    """One compilation of ``text`` as ``compile_loaded`` does it, timed by step."""
    parts: dict[str, float] = {}
    mark = time.process_time()
    result = load_policy_text(text, "gen.policy")
    parts["front end"] = time.process_time() - mark
    assert result.policy is not None and result.source is not None
    mark = time.process_time()
    report = check_file(result, AnalysisOptions(now=NOW))
    parts["checks"] = time.process_time() - mark
    assert report.context is not None
    mark = time.process_time()
    table = build_table(report.context.space)
    parts["table"] = time.process_time() - mark
    mark = time.process_time()
    document = build_bundle(
        result.policy, table, source=result.source.text.encode("utf-8"),
        path=result.path, compiler_version=compiler_version(),
        passes=[name for name, _ in report.timings], findings=report.diagnostics,
        suppressed=[s.diagnostic for s in report.suppressed],
    )
    data = serialize(document)
    parts["bundle"] = time.process_time() - mark
    return parts, result.policy, data


def load_size(data: bytes) -> tuple[float, int, Bundle]:
    """The median ``load_bundle`` time of the runs made within ~2 s (3 to 7), the number
    of runs, and the last bundle loaded (untouched)."""
    samples: list[float] = []
    started = time.process_time()
    while len(samples) < 3 or (len(samples) < 7 and time.process_time() - started < 2):
        gc.collect()
        mark = time.process_time()
        bundle = load_bundle(data)
        samples.append(time.process_time() - mark)
    return statistics.median(samples), len(samples), bundle


def bundle_memory(data: bytes, requests: Sequence[RequestTuple]) -> tuple[int, int]:
    """Bytes of Python memory a loaded bundle holds (tracemalloc): after loading, and after
    deciding every request (topic classes built, caches filled)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bundle = load_bundle(data)
        loaded = tracemalloc.get_traced_memory()[0] - before
        _batch(bundle.decide, requests)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del bundle
    return loaded, used


class Predictor:
    """What an engine cost at the sizes measured so far, to foresee the next size."""

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float, float]]] = {}

    def record(self, name: str, size: int, setup: float, per_decision: float) -> None:
        self.history.setdefault(name, []).append((size, setup, per_decision))

    def predict(self, name: str, size: int) -> tuple[float, float] | None:
        """(setup seconds, seconds per decision) at ``size``: growth at least linear."""
        points = self.history.get(name, [])
        if not points:
            return None
        last = points[-1]
        exponents = [1.0, 1.0]
        if len(points) > 1:
            prev = points[-2]
            for k in (1, 2):
                if prev[k] > 0 and last[k] > 0 and last[0] > prev[0]:
                    exponents[k - 1] = max(1.0, math.log(last[k] / prev[k])
                                           / math.log(last[0] / prev[0]))
        ratio = size / last[0]
        return last[1] * ratio ** exponents[0], last[2] * ratio ** exponents[1]


@dataclass(frozen=True)
class Workload:
    """One size's policy, its requests and dualgate's outcome for each."""

    policy: Policy
    requests: list[RequestTuple]
    expected: list[Outcome]


def _engine(name: str, policy: Policy) -> tuple[Decide, Callable[[Any], Outcome], float | None]:
    """The engine's decide function, how to read its answers, and the seconds its setup
    took (None for the reference, which has none). Raises ``ImportError`` when the engine
    is not installed, ``UntranslatableError`` when the policy cannot be translated."""
    if name == "reference":
        def decide(topic: str, env: str, cidr: str | None) -> Any:
            return evaluate(policy, Request(topic, env, cidr))
        return decide, _verdict_outcome, None
    started = time.process_time()
    engine = builder(name)(policy)
    return engine.decide, _identity, time.process_time() - started


def _too_slow(predicted: tuple[float, float], args: argparse.Namespace) -> list[str]:
    setup, per_decision = predicted
    reasons = []
    if setup > args.setup_limit:
        reasons.append(f"its setup would take ~{_duration(setup)} (--setup-limit "
                       f"{_duration(args.setup_limit)})")
    if 2 * MIN_SAMPLE * per_decision > 3 * args.budget:
        reasons.append(f"{2 * MIN_SAMPLE} decisions would take "
                       f"~{_duration(2 * MIN_SAMPLE * per_decision)} (3 x --budget)")
    return reasons


def measure_engine(name: str, work: Workload, result: SizeResult, predictor: Predictor,
                   args: argparse.Namespace) -> None:
    """Set up one engine other than dualgate, check it, time it (see the module docstring)."""
    label, requests = LABELS[name], work.requests
    predicted = predictor.predict(name, result.size)
    reasons = [] if predicted is None else _too_slow(predicted, args)
    if reasons:
        result.missing[name] = "skipped"
        result.notes.append(f"{label} skipped at {result.size:,} rules: from its growth over "
                            f"the smaller sizes, {' and '.join(reasons)}")
        return
    try:
        decide, outcome, setup = _engine(name, work.policy)
    except ImportError as error:
        result.missing[name] = "not installed"
        result.notes.append(f"{label} not measured: {error} "
                            "(`.venv/bin/pip install -e '.[bench]'`)")
        return
    except UntranslatableError as error:
        result.missing[name] = "untranslatable"
        result.notes.append(f"{label} not measured at {result.size:,} rules: the policy "
                            f"cannot be translated: {error}")
        return
    count, estimate, disagreements = check(decide, outcome, requests, work.expected,
                                           args.budget / 4)
    if disagreements:
        what = ("dualgate disagrees with the reference semantics" if name == "reference"
                else f"the {label} translation disagrees with dualgate")
        result.missing[name] = "DISAGREES"
        result.failures.append(f"{what} at {result.size:,} rules on {len(disagreements)} of "
                               f"{count} requests, e.g. {disagreements[0]}; not timed")
        return
    sample = requests[:count]
    samples = time_batches(decide, sample, args, args.budget * 3 / 4)
    per_decision = statistics.median(samples)
    result.timings[name] = Timing(per_decision, count, len(samples), setup)
    predictor.record(name, result.size, setup or 0.0, max(per_decision, estimate))


def measure_size(size: int, predictor: Predictor, args: argparse.Namespace) -> SizeResult:
    """Compile, load and time every engine at one size (see the module docstring)."""
    wall, cpu = time.perf_counter(), time.process_time()
    policy, data, parts = compile_size(size, args)
    requests = make_requests(policy, args.requests, args.seed)
    load, loads, fresh = load_size(data)
    first_pass = _batch(fresh.decide, requests) / len(requests)
    del fresh
    memory_loaded, memory_used = bundle_memory(data, requests)
    result = SizeResult(size, len(requests), parts, len(data), load, loads, memory_loaded,
                        memory_used, first_pass)

    warm = load_bundle(data)
    expected = [_verdict_outcome(warm.decide(*r)) for r in requests]
    cold = load_bundle(data, topic_cache_size=1, cidr_cache_size=1)
    stream = cold_stream(cold, requests)
    by_request = dict(zip(requests, expected, strict=True))
    _, _, disagreements = check(cold.decide, _verdict_outcome, stream,
                                [by_request[r] for r in stream])
    if disagreements:
        result.failures.append(f"dualgate with caches of one entry decides otherwise: "
                               f"{disagreements[0]}")
    before = cold.evaluator.cache_info()
    warm_samples: list[float] = []
    cold_samples: list[float] = []

    def dualgate_round() -> None:
        warm_samples.extend(time_batches(warm.decide, requests, args))
        cold_samples.extend(time_batches(cold.decide, stream, args))

    dualgate_round()
    work = Workload(policy, requests, expected)
    for name in args.engines:
        print(f"  {LABELS[name]} ...", file=sys.stderr, flush=True)
        measure_engine(name, work, result, predictor, args)
        gc.collect()
        dualgate_round()
    after = cold.evaluator.cache_info()
    hits = sum(after[k].hits - before[k].hits for k in ("topics", "cidrs"))
    if hits:
        result.failures.append(f"the cold measurement hit the caches {hits} times")
    result.timings["warm"] = Timing(statistics.median(warm_samples), len(requests),
                                    len(warm_samples))
    result.timings["cold"] = Timing(statistics.median(cold_samples), len(stream),
                                    len(cold_samples))
    result.cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return result


# -- cold, realistic traffic (issue #13) ------------------------------------------------

COLD_SIZES = "10,1000,10000,100000"
#: The cold-traffic goals: per decision, median and 99th percentile, at every size.
COLD_MEDIAN_GOAL = 1.5e-6
COLD_P99_GOAL = 10e-6
COLD_VERBS = ("read", "list", "create", "update", "delete")
#: First octets of the policy's networks: private and public space, so /8s differ too.
COLD_FIRST_OCTETS = (10, 100, 172, 192, 52)
COLD_ENV_SETS = ("env production, staging", "env dev", "env not production",
                 "env staging, dev", "env production")


def cold_policy(size: int, seed: int) -> str:
    """A first-match policy of ``size`` rules as DSL text: exact topics
    (``ns3.res7.read``) and ``ns3.*.**`` globs over 50-rule namespaces, env sets on two
    rules in five, a cidr condition (/8 to /24 networks, now and then negated) on two in
    five, tiers by verb."""
    rng = random.Random(seed)
    namespaces = max(1, size // 50)
    pool = []
    for _ in range(max(4, size // 10)):
        prefix = rng.randint(8, 24)
        value = rng.choice(COLD_FIRST_OCTETS) << 24 | rng.getrandbits(24)
        pool.append(ipaddress.IPv4Network((value >> (32 - prefix) << (32 - prefix), prefix)))
    lines = ["policy cold", "envs production (protected), staging, dev",
             "default_decision deny", "default_tier high", "",
             "tier high topics **.delete fail_mode closed",
             "tier medium topics **.create, **.update fail_mode closed",
             "tier low topics **.read, **.list fail_mode open", ""]
    for i in range(size):
        ns = f"ns{rng.randrange(namespaces)}"
        topic = (f"{ns}.*.**" if rng.random() < 0.2
                 else f"{ns}.res{rng.randrange(30)}.{rng.choice(COLD_VERBS)}")
        conditions = [f"topic {topic}"]
        if rng.random() < 0.4:
            conditions.append(rng.choice(COLD_ENV_SETS))
        if rng.random() < 0.4:
            networks = ", ".join(str(n) for n in rng.sample(pool, rng.choice((1, 1, 1, 2))))
            conditions.append(f"cidr {'not in' if rng.random() < 0.1 else 'in'} {networks}")
        decision = rng.choice(("allow", "allow", "throttle", "require_human", "deny"))
        lines.append(f"rule r{i}\n  when " + "\n   and ".join(conditions)
                     + f"\n  then {decision}\n")
    return "\n".join(lines)


def cold_requests(policy: Policy, count: int, seed: int) -> list[RequestTuple]:
    """``count`` requests on ``policy``: half with a topic no earlier request had (one
    of the policy's exact topics, a new topic under a namespace's glob, or one in no
    namespace), the other half an earlier request's topic; a declared env (1%
    undeclared); 98% with a cidr, every one a distinct address: a host in one of the
    policy's networks (80%), a public IPv4 address, an IPv6 or an IPv4-mapped one."""
    rng = random.Random(seed)
    exact = sorted({p.text for p in _topic_patterns(policy) if ANY not in p.segments
                    and SINGLE not in p.segments})
    rng.shuffle(exact)
    namespaces = sorted({p.segments[0] for p in _topic_patterns(policy)})
    networks = _networks(policy)
    envs = list(policy.env_names)
    seen: list[str] = []
    used: set[str] = set()
    requests: list[RequestTuple] = []
    for n in range(count):
        if rng.random() < 0.5 or not seen:
            roll = rng.random()
            if roll < 0.5 and exact:
                topic = exact.pop()
            else:
                ns = rng.choice(namespaces) if roll < 0.95 else f"other{n}"
                topic = f"{ns}." + rng.choice((f"new{n}", f"new{n}.{rng.choice(COLD_VERBS)}",
                                               f"x{n}.y.{rng.choice(COLD_VERBS)}"))
            seen.append(topic)
        else:
            topic = rng.choice(seen)
        env = "prod" if rng.random() < 0.01 else rng.choice(envs)
        cidr = None
        while rng.random() < 0.98 and (cidr is None or cidr in used):
            roll = rng.random()
            if roll < 0.8:
                network = rng.choice(networks)
                cidr = str(network.network_address + rng.randrange(network.num_addresses))
            elif roll < 0.95:
                cidr = str(ipaddress.IPv4Address(rng.getrandbits(32)))
            elif roll < 0.98:
                cidr = str(ipaddress.IPv6Address("2001:db8::") + rng.getrandbits(64))
            else:
                cidr = f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}"
        if cidr is not None:
            used.add(cidr)
        requests.append((topic, env, cidr))
    return requests


def time_each(decide: Decide, requests: Sequence[RequestTuple]) -> list[int]:
    """Nanoseconds of each decision, one clock reading before and after each call."""
    clock = time.perf_counter_ns
    times = []
    for topic, env, cidr in requests:
        started = clock()
        decide(topic, env, cidr)
        times.append(clock() - started)
    return times


@dataclass
class Spread:
    """Median and 99th percentile of one pass's decision times (seconds), each the
    median over the passes made."""

    median: float
    p99: float

    @classmethod
    def of(cls, passes: Sequence[Sequence[int]]) -> Spread:
        medians, p99s = [], []
        for times in passes:
            ordered = sorted(times)
            medians.append(ordered[len(ordered) // 2] / 1e9)
            p99s.append(ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] / 1e9)
        return cls(statistics.median(medians), statistics.median(p99s))


@dataclass
class ColdResult:
    """The cold workload at one size."""

    size: int
    requests: int
    distinct_cidrs: int
    first_seen_topics: int
    fresh: Spread
    again: Spread
    indexed: Spread
    existing_cold: float
    passes: int
    checked_reference: int
    failures: list[str] = field(default_factory=list)


def measure_cold(size: int, args: argparse.Namespace) -> ColdResult:
    """Time dualgate on a freshly loaded bundle (every topic class, cache and address
    new to it), the same requests again on that bundle, and the hand-written index, in
    alternating passes; check the index and dualgate against the reference first."""
    from engines.indexed import build as build_indexed

    from dualgate.compiler.backend import compile_policy
    from dualgate.compiler.frontend.loader import load_policy_text as load_text

    with cyclic_gc_paused():
        loaded = load_text(cold_policy(size, args.seed), "cold.policy")
        assert loaded.policy is not None, [d.message for d in loaded.diagnostics[:3]]
        policy = loaded.policy
        data = serialize(compile_policy(policy))
    requests = cold_requests(policy, args.cold_requests, args.seed)
    indexed = build_indexed(policy)
    failures = []
    bundle = load_bundle(data)
    got = [_verdict_outcome(bundle.decide(*r)) for r in requests]
    mine = [indexed.decide(*r) for r in requests]
    wrong = [(r, a, b) for r, a, b in zip(requests, got, mine, strict=True) if a != b]
    if wrong:
        failures.append(f"the hand-written index disagrees with dualgate on {len(wrong)} "
                        f"requests, e.g. {wrong[0]}")

    def reference(topic: str, env: str, cidr: str | None) -> Any:
        return evaluate(policy, Request(topic, env, cidr))

    count, _, disagreements = check(reference, _verdict_outcome, requests, got,
                                    args.budget / 2)
    if disagreements:
        failures.append(f"dualgate (and so the index) disagrees with the reference at "
                        f"{size:,} rules: {disagreements[0]}")
    fresh: list[list[int]] = []
    again: list[list[int]] = []
    hand: list[list[int]] = []
    for _ in range(args.cold_passes):
        del bundle
        gc.collect()
        bundle = load_bundle(data)
        fresh.append(time_each(bundle.decide, requests))
        again.append(time_each(bundle.decide, requests))
        gc.collect()
        hand.append(time_each(indexed.decide, requests))
    cold = load_bundle(data, topic_cache_size=1, cidr_cache_size=1)
    stream = cold_stream(cold, requests)
    _batch(cold.decide, stream)
    existing = statistics.median(time_batches(cold.decide, stream, args))
    topics: set[str] = set()
    first = 0
    for topic, _, _ in requests:
        first += topic not in topics
        topics.add(topic)
    return ColdResult(size, len(requests), len({c for _, _, c in requests if c}), first,
                      Spread.of(fresh), Spread.of(again), Spread.of(hand), existing,
                      args.cold_passes, count, failures)


def measure_cold_alone(size: int, args: argparse.Namespace) -> ColdResult:
    """``measure_cold`` in a fresh process of its own, as a gateway loads its one bundle:
    not in a heap that the other sizes' policies, compilations and engines have grown
    and scattered (which made the 100,000-rule p99 some 1.7x what it is alone)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as alone:
        return alone.submit(measure_cold, size, args).result()


def cold_report(results: Sequence[ColdResult], warm: Mapping[int, str],
                note: str = "") -> list[str]:
    """The cold-traffic paragraph and table; ``warm`` holds the warm figure of each size
    as printed, ``note`` ends the paragraph."""
    def pair(spread: Spread) -> str:
        return f"{_duration(spread.median)} ({_duration(spread.p99)})"

    rows = []
    for r in results:
        rows.append([
            f"{r.size:,}", pair(r.fresh), pair(r.indexed),
            f"{r.fresh.median / r.indexed.median:.2f}x ({r.fresh.p99 / r.indexed.p99:.2f}x)",
            pair(r.again), _duration(r.existing_cold),
            warm.get(r.size, "-"),
        ])
    first = results[0]
    out = [
        f"Cold, realistic traffic (`cold_policy`, `cold_requests`): {first.requests:,} "
        f"requests per size, {first.distinct_cidrs:,} distinct addresses and "
        f"{first.first_seen_topics:,} topics seen for the first time at {first.size:,} "
        "rules; µs per decision, median (p99), each the median over "
        f"{first.passes} passes, one clock reading around each call, each size in a "
        "fresh process of its own. dualgate decides on a bundle loaded just before the "
        "pass (its caches empty, every address new to it); "
        "\"again\" is a second pass of the same requests on it; the hand-written index "
        "is `benchmarks/engines/indexed.py`, checked against dualgate on every request "
        "and dualgate against the reference on a sample first." + note, "",
    ]
    out += _table(["rules", "dualgate, fresh bundle", "hand-written index",
                   "dualgate / index", "dualgate again", "dualgate cold (one-entry caches)",
                   "dualgate warm (above)"], "r" * 7, rows)
    return out


def cold_goals(results: Sequence[ColdResult]) -> list[list[str]]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    span = f"{results[0].size:,} to {results[-1].size:,} rules"
    medians = [r.fresh.median for r in results]
    p99s = [r.fresh.p99 for r in results]
    ahead = [r.size for r in results if r.fresh.median >= r.indexed.median
             or r.fresh.p99 >= r.indexed.p99]
    rows = [
        ["cold traffic: median per decision", f"≤ {_duration(COLD_MEDIAN_GOAL)} at every "
         "size", f"at most {_duration(max(medians))} ({span})",
         verdict(max(medians) <= COLD_MEDIAN_GOAL)],
        ["cold traffic: p99 per decision", f"≤ {_duration(COLD_P99_GOAL)} at every size",
         f"at most {_duration(max(p99s))} ({span})", verdict(max(p99s) <= COLD_P99_GOAL)],
        ["cold traffic: ahead of the hand-written index", "median and p99, every size",
         "ahead at every size" if not ahead else
         "behind at " + ", ".join(f"{s:,}" for s in ahead) + " rules", verdict(not ahead)],
        ["cold traffic: flat", f"slowest median ≤ {FLAT_FACTOR}x the fastest",
         f"{_flat(medians):.2f}x ({span})", verdict(_flat(medians) <= FLAT_FACTOR)],
    ]
    big = next((r for r in results if r.size == GOAL_SIZE), None)
    if big is not None:
        rows.append([f"cold (one-entry caches) at {GOAL_SIZE:,} rules",
                     f"≤ {_duration(COLD_GOAL)}", _duration(big.existing_cold),
                     verdict(big.existing_cold <= COLD_GOAL)])
    return rows


# -- the report -------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if seconds < 1e-5:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def _bytes(count: int) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def _columns(args: argparse.Namespace) -> list[str]:
    return ["warm", "cold", *args.engines]


def _table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join((":" if a == "l" else "") + "---" + (":" if a == "r" else "")
                            for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def decisions_table(results: Sequence[SizeResult], args: argparse.Namespace) -> list[str]:
    columns = _columns(args)
    rows = []
    for r in results:
        warm = r.timings["warm"].per_decision
        cells = [f"{r.size:,}"]
        for name in columns:
            timing = r.timings.get(name)
            if timing is None:
                cells.append(r.missing.get(name, "-"))
            elif name == "warm":
                cells.append(_duration(timing.per_decision))
            else:
                cells.append(f"{_duration(timing.per_decision)} "
                             f"({_ratio(timing.per_decision / warm)})")
        rows.append(cells)
    return _table(["rules", *(LABELS[c] for c in columns)], "r" * (len(columns) + 1), rows)


def details_table(results: Sequence[SizeResult], args: argparse.Namespace) -> list[str]:
    rows = []
    for r in results:
        for name in _columns(args):
            timing = r.timings.get(name)
            if timing is None:
                continue
            rows.append([
                f"{r.size:,}", LABELS[name], f"{1 / timing.per_decision:,.0f}",
                _duration(timing.per_decision), f"{timing.requests:,}", f"{timing.batches:,}",
                "-" if timing.setup is None else _duration(timing.setup),
            ])
    return _table(["rules", "engine", "decisions/s", "per decision (median)",
                   "requests timed", "batches", "setup (translate + load)"], "rlrrrrr", rows)


def build_table_rows(results: Sequence[SizeResult]) -> list[str]:
    rows = []
    for r in results:
        p = r.compile_parts
        rows.append([
            f"{r.size:,}", _duration(p["front end"]), _duration(p["checks"]),
            _duration(p["table"]), _duration(p["bundle"]), _duration(r.compile_total),
            f"{r.bundle_bytes:,}", f"{_duration(r.load)} ({r.loads})",
            _bytes(r.memory_loaded), _bytes(r.memory_used), _duration(r.first_pass),
        ])
    return _table(["rules", "front end", "checks", "table", "bundle + bytes",
                   "compile total", "bundle bytes", "load (median of n)",
                   "memory after load", "after deciding", "first pass after load"],
                  "r" * 11, rows)


def _flat(values: Sequence[float]) -> float:
    return max(values) / min(values)


def goals(results: Sequence[SizeResult], traffic: Sequence[ColdResult]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    if not results:
        return _table(["goal", "target", "measured", "verdict"], "lllc", cold_goals(traffic))
    span = f"{results[0].size:,} to {results[-1].size:,} rules"
    warm = [r.timings["warm"].per_decision for r in results]
    cold = [r.timings["cold"].per_decision for r in results]
    rows = [
        ["warm median per decision", f"≤ {_duration(WARM_GOAL)} at every size",
         f"at most {_duration(max(warm))} ({span})", verdict(max(warm) <= WARM_GOAL)],
        ["cold median per decision", f"≤ {_duration(COLD_GOAL)} at every size",
         f"at most {_duration(max(cold))} ({span})", verdict(max(cold) <= COLD_GOAL)],
        ["flat from 10 to 100k rules", f"slowest size ≤ {FLAT_FACTOR}x the fastest",
         f"warm {_flat(warm):.2f}x, cold {_flat(cold):.2f}x ({span})",
         verdict(max(_flat(warm), _flat(cold)) <= FLAT_FACTOR)],
    ]
    big = next((r for r in results if r.size == GOAL_SIZE), None)
    if big is None:
        rows.append([f"compile, load {GOAL_SIZE:,} rules",
                     f"≤ {COMPILE_GOAL:g} s, ≤ {LOAD_GOAL:g} s", "not measured (size not run)",
                     "-"])
    else:
        rows += [
            [f"compile {GOAL_SIZE:,} rules", f"≤ {COMPILE_GOAL:g} s",
             _duration(big.compile_total), verdict(big.compile_total <= COMPILE_GOAL)],
            [f"load a {GOAL_SIZE:,}-rule bundle", f"≤ {LOAD_GOAL:g} s", _duration(big.load),
             verdict(big.load <= LOAD_GOAL)],
        ]
    if results[0].size > 10 or results[-1].size < GOAL_SIZE:
        rows[2][3] += " (sizes run only)"
    if traffic:
        rows += cold_goals(traffic)
    return _table(["goal", "target", "measured", "verdict"], "lllc", rows)


def anchors(results: Sequence[SizeResult]) -> str:
    here = next((r for r in results if r.size == 1000), None)
    if here is None:
        return f"Anchors from a 2-core machine at 1,000 rules: {ANCHORS} (1,000 rules not run)."
    measured = ", ".join(f"{LABELS[n]} {_duration(t.per_decision)}"
                         for n, t in here.timings.items() if n not in ("warm", "cold"))
    return (f"Anchors from a 2-core machine at 1,000 rules: {ANCHORS}; here: "
            f"{measured or 'no foreign engine run'}.")


def report(results: Sequence[SizeResult], cold: Sequence[ColdResult],
           args: argparse.Namespace) -> str:
    out: list[str] = []
    if results:
        out += ["Per decision (median over batches; in brackets: times dualgate warm):", ""]
        out += decisions_table(results, args)
        out += ["", "Compile (as `dualgate compile` spends it), bundle, load and memory:",
                ""]
        out += build_table_rows(results)
        out += [""]
    if cold:
        warm = {r.size: _duration(r.timings["warm"].per_decision) for r in results}
        out += [*cold_report(cold, warm), ""]
    out += ["Goals:", ""]
    out += goals(results, cold)
    if results:
        out += ["", anchors(results), "",
                f"How each engine was timed (fewer requests than {results[0].requests:,}: "
                "a random sample, all of it checked against dualgate first; for dualgate "
                "cold, the requests less those a one-entry cache would hit):", ""]
        out += details_table(results, args)
        out += ["", "Share of wall time this process got (below 100%: other work ran on "
                "its core): " + ", ".join(f"{r.size:,} rules {r.cpu_share:.0%}"
                                          for r in results) + "."]
    notes = [n for r in results for n in r.notes]
    failures = [f for r in (*results, *cold) for f in r.failures]
    if notes:
        out += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    if failures:
        out += ["", "FAILURES:", "", *(f"- {f}" for f in failures)]
    return "\n".join(out)


COLD_PARAGRAPH = "Cold, realistic traffic ("


def splice_cold(markdown: str, cold: Sequence[ColdResult], note: str) -> str:
    """``markdown`` (a runtime.md) with its cold-traffic paragraph, table and goal rows
    replaced by ``cold``'s, every other figure kept: the warm column is the file's own
    (no warm size was run). Raises ValueError if the file has no cold-traffic table."""
    lines = markdown.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(COLD_PARAGRAPH)]
    if not starts:
        raise ValueError("no cold-traffic table to replace")
    start = starts[0]
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    warm = {}
    for row in lines[start + 4:end]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        warm[int(cells[0].replace(",", ""))] = cells[-1]
    lines[start:end] = cold_report(cold, warm, note)
    goal_rows = _table(["goal", "target", "measured", "verdict"], "lllc", cold_goals(cold))[2:]
    for row in goal_rows:
        name = row.split(" | ")[0] + " |"
        found = [i for i, line in enumerate(lines) if line.startswith(name)]
        if found:
            lines[found[0]] = row
        else:  # after the goals table's last row
            last = max(i for i, line in enumerate(lines) if line.startswith("| cold"))
            lines.insert(last + 1, row)
    return "\n".join(lines) + "\n"


def write_cold(cold: Sequence[ColdResult], load_before: tuple[float, ...]) -> None:
    """Replace the cold-traffic section of ``MARKDOWN`` (``splice_cold``), unless the
    run failed."""
    if any(r.failures for r in cold):
        print("not written: the cold run has failures", file=sys.stderr)
        return
    note = (f" Re-recorded alone on {datetime.now(UTC):%Y-%m-%d} (`taskset -c 0 "
            f".venv/bin/python benchmarks/bench_runtime.py {shlex.join(sys.argv[1:])}`, "
            f"load average {load_before[0]:.2f} at its start and "
            f"{os.getloadavg()[0]:.2f} at its end); the other tables are from the run above.")
    MARKDOWN.write_text(splice_cold(MARKDOWN.read_text(encoding="utf-8"), cold, note),
                        encoding="utf-8")
    print(f"\nwrote the cold-traffic section of {MARKDOWN}", file=sys.stderr)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine(args: argparse.Namespace, load_before: tuple[float, ...], overhead: float,
            clock_overhead: float) -> str:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pinned = f"taskset -c {cpus[0]} " if len(cpus) == 1 else ""
    engines = ", ".join(f"{d} {_version(d)}" for _, d in ENGINES.values())
    load_after = os.getloadavg()
    return "\n".join([
        f"- machine: {platform.processor() or platform.machine()} ({platform.platform()}), "
        f"{os.cpu_count()} CPUs, {len(cpus) if cpus else '?'} usable by the benchmark",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"dualgate {compiler_version()}; {engines}",
        f"- load average (1 min) {load_before[0]:.2f} at the start, {load_after[0]:.2f} "
        "at the end (other work on the machine shows here)",
        f"- policies: `bench_analysis.generate(size, seed={args.seed})`; {args.requests:,} "
        f"requests per size (seed {args.seed}); at least {args.repeat} batches and "
        f"{args.min_time:g} s per engine, budget {args.budget:g} s per slow engine and size; "
        f"the batch loop and call alone cost {overhead * 1e9:.0f} ns per decision (included "
        f"in every figure); on the cold traffic, two clock readings and the call alone "
        f"cost {clock_overhead * 1e9:.0f} ns (median; included)",
        f"- run: `{pinned}.venv/bin/python benchmarks/bench_runtime.py "
        f"{' '.join(sys.argv[1:])}` on {datetime.now(UTC):%Y-%m-%d}",
    ])


def plot(results: Sequence[SizeResult], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for name in _columns(args):
        points = [(r.size, 1 / r.timings[name].per_decision) for r in results
                  if name in r.timings]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o", label=LABELS[name])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rules in the policy")
    axes.set_ylabel("decisions per second (one core)")
    axes.set_title("First-match policy decisions per second")
    axes.grid(True, which="both", linewidth=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--quick", action="store_true", help=f"--sizes {QUICK_SIZES}")
    parser.add_argument("--engines", default=",".join(FOREIGN),
                        help="engines beside dualgate (always measured), comma-separated: "
                             + ", ".join(FOREIGN))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="batches at least")
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of batches at least, per engine and size")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds per slow engine and size (check pass + batches)")
    parser.add_argument("--setup-limit", type=float, default=120.0,
                        help="skip an engine whose setup is predicted to take longer")
    parser.add_argument("--cold-sizes", default=COLD_SIZES,
                        help="sizes of the cold-traffic workload (empty: none)")
    parser.add_argument("--cold-requests", type=int, default=20_000)
    parser.add_argument("--cold-passes", type=int, default=5,
                        help="passes per engine on the cold-traffic workload")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true",
                        help=f"also write {MARKDOWN.name} and {PLOT.name} under "
                             "benchmarks/results/")
    parser.add_argument("--write-cold", action="store_true",
                        help=f"with --sizes '': replace only the cold-traffic table and "
                             f"goals of {MARKDOWN.name}, keeping every other figure (a "
                             "machine without the foreign engines cannot rerun those)")
    args = parser.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    if args.write_cold and (args.write or args.sizes or args.quick or not args.cold_sizes):
        parser.error("--write-cold re-records the cold traffic alone: give --sizes '' "
                     "and no --write")
    unknown = set(args.engines) - set(FOREIGN)
    if unknown:
        parser.error(f"unknown engines {', '.join(sorted(unknown))}; known: {', '.join(FOREIGN)}")
    sizes = sorted(int(s) for s in (QUICK_SIZES if args.quick else args.sizes).split(",") if s)
    cold_sizes = sorted(int(s) for s in args.cold_sizes.split(",") if s)

    load_before = os.getloadavg()
    overhead = loop_overhead(args)
    clock_overhead = Spread.of([time_each(_nothing, [("job.run", "dev", None)] * 20_000)]).median
    predictor = Predictor()
    results = []
    for size in sizes:
        print(f"measuring {size:,} rules ...", file=sys.stderr, flush=True)
        results.append(measure_size(size, predictor, args))
    cold = []
    for size in cold_sizes:
        print(f"cold traffic at {size:,} rules ...", file=sys.stderr, flush=True)
        cold.append(measure_cold_alone(size, args))
    text = report(results, cold, args)
    print(text)
    print()
    info = machine(args, load_before, overhead, clock_overhead)
    print(info)
    if args.write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        MARKDOWN.write_text("# Runtime benchmark\n\n" + info + "\n\n" + text + "\n",
                            encoding="utf-8")
        if results:
            plot(results, args, PLOT)
        print(f"\nwrote {MARKDOWN} and {PLOT}", file=sys.stderr)
    if args.write_cold:
        write_cold(cold, load_before)
    if any(r.failures for r in (*results, *cold)):
        sys.exit(1)


if __name__ == "__main__":
    main()
