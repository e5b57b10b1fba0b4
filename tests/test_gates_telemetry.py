"""What a check counts and logs is a function of its result alone: the same entry and
the same counts as recording each result field by field, whatever the gate reuses per
verdict (results, metric steps, log fields) and whatever happens between checks (a
kill switch, a reload, a failing decider)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import Action, GateResult
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.runtime.telemetry import metrics as names
from tests.gates_support import POLICY, POLICY_REWORDED, Clock, bundle_bytes, make_holder
from tests.profiles import examples

TOPICS = ["payments.refund", "payments.charge", "infra.vm.create", "infra.db.scale",
          "repo.file.read", "bad topic", 7]
ENVS = ["production", "staging", "prod", None]
CIDRS = [None, "10.0.0.1", "nope", "fail"]  # "fail": the decider times out
DECLARED = {"production", "staging"}

Step = tuple[str, Any, Any, Any, int, str]
STEPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["submit", "dispatch"]), st.sampled_from(TOPICS),
              st.sampled_from(ENVS), st.sampled_from(CIDRS), st.integers(0, 6),
              st.sampled_from(["job-1", "job-2", ""])),
    st.sampled_from([("kill",), ("revive",), ("reload",)]),
), max_size=40)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: Any) -> tuple[Path, bytes, bytes]:
    root = tmp_path_factory.mktemp("telemetry-bundles")
    return root / "shop.bundle.json", bundle_bytes(POLICY), bundle_bytes(POLICY_REWORDED)


def expected_entry(gate: str, result: GateResult, policy: str | None,
                   request: tuple[Any, ...]) -> dict[str, Any]:
    job_id, topic, env, cidr = request
    verdict = result.verdict

    def shown(value: Any) -> Any:
        return value if value is None or isinstance(value, str | int) else repr(value)

    return {
        "gate": gate, "job_id": job_id, "topic": shown(topic), "env": shown(env),
        "cidr": shown(cidr), "decision": None if verdict is None else verdict.decision.value,
        "rule": None if verdict is None else verdict.rule, "reason": result.reason,
        "tier": None if result.tier is None else result.tier.value,
        "fail_mode": None if result.fail_mode is None else result.fail_mode.value,
        "bypass": result.bypass, "bundle": result.bundle, "policy": policy,
        "approval": None, "action": result.action.value, "cause": result.cause,
    }


def expected_counts(gate: str, result: GateResult, env: Any,
                    counts: dict[str, Counter[tuple[str, ...]]]) -> None:
    verdict = result.verdict
    tier = "none" if result.tier is None else result.tier.value
    counts[names.JOBS_RECEIVED][(gate,)] += 1
    counts[names.DECISIONS][(gate, "none" if verdict is None else verdict.decision.value,
                             tier, result.reason)] += 1
    if result.bypass:
        counts[names.FAIL_OPEN][(gate, tier, env if env in DECLARED else "unknown")] += 1
        if result.overridden:
            counts[names.FAIL_MODE_OVERRIDES][(tier,)] += 1
    if result.cause is not None:
        counts[names.POLICY_UNAVAILABLE][(gate, result.cause)] += 1
    if result.action is Action.REQUEUE:
        counts[names.REQUEUED][(gate,)] += 1
    if result.reason == "kill-switch":
        counts[names.KILL_SWITCH][()] += 1


@settings(max_examples=examples(60), deadline=None)
@given(steps=STEPS, direct=st.booleans())
def test_each_check_is_counted_and_logged_from_its_result(
    sources: tuple[Path, bytes, bytes], steps: list[Step], direct: bool,
) -> None:
    """With the holder deciding (``direct``: the gates read it themselves) or a decider
    around it; each result is also the one a new gate (nothing kept yet) gives."""
    path, first, second = sources
    path.write_bytes(first)
    holder = make_holder(path)
    metrics = GateMetrics(use_prometheus=False)
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append), metrics=metrics)

    def decide(topic: object, env: object, cidr: object = None) -> Any:
        if cidr == "fail":
            raise TimeoutError
        return holder.decide(topic, env, cidr)

    decider = None if direct else decide
    modes = FailModes(clock=Clock())

    def new_gates(**telemetry: Any) -> dict[str, Any]:
        return {"submit": SubmitGate(holder, decider=decider, fail_modes=modes, **telemetry),
                "dispatch": DispatchGate(holder, decider=decider, fail_modes=modes,
                                         max_attempts=3, **telemetry)}

    gates = new_gates(metrics=metrics, decision_log=log)
    assert all((gate.direct is holder) is direct for gate in gates.values())
    expected: list[dict[str, Any]] = []
    counts: dict[str, Counter[tuple[str, ...]]] = {name: Counter() for name in names.COUNTERS}
    counts[names.KILL_SWITCH][()] += 0
    versions = iter([second, first] * len(steps))
    for step in steps:
        if step == ("kill",):
            holder.kill("payments.**", "incident")
            continue
        if step == ("revive",):
            holder.revive("payments.**")
            continue
        if step == ("reload",):
            path.write_bytes(next(versions))
            holder.reload()
            continue
        gate, topic, env, cidr, attempt, job_id = step
        options = {"attempt": attempt} if gate == "dispatch" else {}
        result = gates[gate].check(topic, env, cidr, job_id=job_id, job_hash="h", **options)
        assert result == new_gates()[gate].check(topic, env, cidr, job_id=job_id,
                                                 job_hash="h", **options)
        valid = bool(job_id) and (gate == "submit" or attempt >= 1)
        policy = "shop" if valid and result.bundle is not None else None
        expected.append(expected_entry(gate, result, policy, (job_id, topic, env, cidr)))
        expected_counts(gate, result, env, counts)
    log.close()
    written = [json.loads(line) for line in lines]
    assert [{k: v for k, v in e.items() if k not in ("timestamp", "decision_id")}
            for e in written] == expected
    assert len({e["decision_id"] for e in written}) == len(written)
    snapshot = metrics.snapshot()
    for name, expected_series in counts.items():
        assert snapshot[name] == {k: float(v) for k, v in expected_series.items() if v
                                  or name == names.KILL_SWITCH}, name
