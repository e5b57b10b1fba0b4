"""The submit and dispatch gates: what each does with every decision, when the policy is
unavailable, with malformed requests, and what they count and log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dualgate.runtime import Decision, FailMode, TierName, Verdict
from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import OVERRIDE_VARIABLE, FailModes
from dualgate.runtime.gates.gate import Action, GateResult
from dualgate.runtime.gates.holder import PolicyUnavailable
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.runtime.telemetry.metrics import (
    DECISIONS,
    FAIL_MODE_OVERRIDES,
    FAIL_OPEN,
    JOBS_RECEIVED,
    KILL_SWITCH,
    POLICY_UNAVAILABLE,
    REQUEUED,
)
from tests.gates_support import (
    NOON,
    Clock,
    FailingDecider,
    bundle_bytes,
    empty_holder,
    make_holder,
)

JOB = {"job_id": "job-1", "job_hash": "sha256:abc"}


@pytest.fixture
def holder(tmp_path: Path) -> Any:
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return make_holder(path)


class Telemetry:
    """Plain metrics and a decision log whose lines land in a list."""

    def __init__(self) -> None:
        self.metrics = GateMetrics(use_prometheus=False)
        self.lines: list[str] = []
        self.log = DecisionLog(CallableSink(self.lines.append), metrics=self.metrics)

    def entries(self) -> list[dict[str, Any]]:
        assert self.log.flush(5)
        return [json.loads(line) for line in self.lines]

    def counts(self, name: str) -> dict[tuple[str, ...], float]:
        return self.metrics.snapshot()[name]

    def options(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "decision_log": self.log}


@pytest.fixture
def telemetry() -> Any:
    recorded = Telemetry()
    yield recorded
    recorded.log.close()


def closed_modes() -> FailModes:
    return FailModes(clock=Clock())


# -- Gate A ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", [
    ("infra.vm.create", "staging", Action.ADMIT, 202, "rule", "allow-infra"),
    ("payments.refund", "staging", Action.REJECT, 403, "rule", "deny-staging-refunds"),
    ("infra.cluster.scale", "production", Action.THROTTLE, 429, "rule", "throttle-scaling"),
    ("payments.refund", "production", Action.HOLD, 202, "rule",
     "approve-production-payments"),
    ("payments.charge", "staging", Action.REJECT, 403, "default", None),
    ("bad topic", "staging", Action.REJECT, 403, "invalid-topic", None),
    ("infra.vm.create", "prod", Action.REJECT, 403, "unknown-env", None),
    ("infra.vm.create", 7, Action.REJECT, 403, "invalid-env", None),
])
def test_submit_maps_each_decision_to_an_action(holder: Any, case: tuple[Any, ...]) -> None:
    topic, env, action, status, reason, rule = case
    gate = SubmitGate(holder, fail_modes=closed_modes(), retry_after=2.5)
    result = gate.check(topic, env, **JOB)
    assert (result.action, result.http_status, result.reason, result.bypass) == (
        action, status, reason, False)
    assert result.verdict is not None and result.verdict.rule == rule
    assert result.bundle == holder.active.content_hash
    assert result.retry_after == (2.5 if action is Action.THROTTLE else None)
    assert (result.approval_request is not None) is (action is Action.HOLD)


def test_a_hold_carries_the_binding_to_approve(holder: Any) -> None:
    result = SubmitGate(holder, fail_modes=closed_modes()).check(
        "payments.refund", "production", "10.0.0.1", **JOB)
    request = result.approval_request
    assert request is not None and request.job_id == "job-1"
    assert request.binding.to_json() == {
        "job_hash": "sha256:abc", "bundle": holder.active.content_hash,
        "rule": "approve-production-payments", "topic": "payments.refund",
        "env": "production"}
    assert result.to_json()["approval_request"] == request.to_json()


def test_results_are_immutable(holder: Any) -> None:
    result = SubmitGate(holder, fail_modes=closed_modes()).check(
        "infra.vm.create", "staging", **JOB)
    with pytest.raises(AttributeError):
        result.action = Action.REJECT  # type: ignore[misc]


@pytest.mark.parametrize("job", [
    {"job_id": None, "job_hash": "h"}, {"job_id": "j", "job_hash": ""},
    {"job_id": 3, "job_hash": "h"}, {"job_id": "j", "job_hash": ["h"]},
])
def test_an_unusable_job_id_or_hash_is_rejected(holder: Any, job: dict[str, Any]) -> None:
    result = SubmitGate(holder, fail_modes=closed_modes()).check("infra.vm.create",
                                                                 "staging", **job)
    assert (result.action, result.http_status, result.reason) == (Action.REJECT, 400,
                                                                  "invalid-job")
    result = DispatchGate(holder, fail_modes=closed_modes()).check("infra.vm.create",
                                                                   "staging", **job)
    assert (result.action, result.reason) == (Action.REJECT, "invalid-job")


# -- the policy unavailable ------------------------------------------------------------

@pytest.mark.parametrize(("error", "cause"), [
    (TimeoutError("slow"), "timeout"),
    (RuntimeError("boom"), "decider-error"),
    (PolicyUnavailable("circuit-open"), "circuit-open"),
    (PolicyUnavailable("Not A Word!"), "decider-error"),
])
@pytest.mark.parametrize("tiered", [
    ("payments.refund", TierName.HIGH, False),
    ("infra.vm.create", TierName.MEDIUM, False),
    ("repo.file.read", TierName.LOW, True),
])
def test_a_failing_decider_applies_the_tier_fail_mode(
    holder: Any, telemetry: Telemetry, error: Exception, cause: str,
    tiered: tuple[str, TierName, bool],
) -> None:
    topic, tier, opens = tiered
    decider = FailingDecider(holder.decide, error)
    submit = SubmitGate(holder, decider=decider, fail_modes=closed_modes(),
                        **telemetry.options())
    dispatch = DispatchGate(holder, decider=decider, fail_modes=closed_modes(),
                            **telemetry.options())
    a = submit.check(topic, "production", **JOB)
    b = dispatch.check(topic, "production", **JOB)
    assert (a.tier, a.cause, a.verdict, a.reason) == (tier, cause, None, "policy-unavailable")
    assert (b.tier, b.cause, b.verdict) == (tier, cause, None)
    if opens:
        assert (a.action, a.http_status, a.bypass, a.fail_mode) == (
            Action.ADMIT, 202, True, FailMode.OPEN)
        assert (b.action, b.bypass) == (Action.DISPATCH, True)
    else:
        assert (a.action, a.http_status, a.bypass, a.retry_after) == (
            Action.REJECT, 503, False, 5.0)
        assert (b.action, b.bypass, b.backoff) == (Action.REQUEUE, False, 1.0)
    # Each bypass counted and logged exactly once, with bounded labels.
    bypasses = {("submit", tier.value, "production"): 1.0,
                ("dispatch", tier.value, "production"): 1.0} if opens else {}
    assert telemetry.counts(FAIL_OPEN) == bypasses
    assert telemetry.counts(POLICY_UNAVAILABLE) == {("submit", cause): 1.0,
                                                    ("dispatch", cause): 1.0}
    entries = telemetry.entries()
    assert [(e["gate"], e["bypass"], e["cause"], e["decision"]) for e in entries] == [
        ("submit", opens, cause, None), ("dispatch", opens, cause, None)]
    assert {e["bundle"] for e in entries} == {holder.active.content_hash}


def test_an_evaluation_error_is_an_unavailable_policy(holder: Any) -> None:
    def erring(topic: object, env: object, cidr: object = None) -> Any:
        verdict, active = holder.decide(topic, env, cidr)
        return Verdict(Decision.DENY, None, "evaluation-error", None, None,
                       verdict.bundle), active

    gate = SubmitGate(holder, decider=erring, fail_modes=closed_modes())
    read = gate.check("repo.file.read", "staging", **JOB)
    assert (read.action, read.bypass, read.cause, read.tier) == (
        Action.ADMIT, True, "evaluation-error", TierName.LOW)
    write = gate.check("infra.vm.create", "staging", **JOB)
    assert (write.action, write.http_status, write.cause) == (Action.REJECT, 503,
                                                              "evaluation-error")


def test_a_hostile_topic_fails_closed_even_in_an_open_tier(holder: Any) -> None:
    class Hostile(str):
        def __hash__(self) -> int:
            raise RuntimeError("no")

    result = SubmitGate(holder, fail_modes=closed_modes()).check(
        Hostile("repo.file.read"), "staging", **JOB)
    # The runtime answers evaluation-error; the tier cannot be read either: closed.
    assert (result.action, result.http_status, result.cause, result.tier) == (
        Action.REJECT, 503, "evaluation-error", None)


def test_a_hold_on_a_topic_that_cannot_be_shown_is_held_not_raised(
        holder: Any, telemetry: Telemetry) -> None:
    class Unprintable(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    topic = Unprintable("payments.refund")
    for gate in (SubmitGate(holder, fail_modes=closed_modes(), **telemetry.options()),
                 DispatchGate(holder, fail_modes=closed_modes(), **telemetry.options())):
        result = gate.check(topic, "production", "10.0.0.1", **JOB)
        assert result.action is Action.HOLD and result.approval_request is not None
        # The binding holds the topic's own text, a plain string.
        assert type(result.approval_request.binding.topic) is str
        assert result.approval_request.binding.topic == "payments.refund"
    assert [e["topic"] for e in telemetry.entries()] == [repr("payments.refund")] * 2


def test_without_any_bundle_everything_fails_closed(tmp_path: Path,
                                                    telemetry: Telemetry) -> None:
    holder = empty_holder(tmp_path)
    modes = FailModes.from_environment({OVERRIDE_VARIABLE: "low:open,medium:open"},
                                       clock=Clock())
    submit = SubmitGate(holder, fail_modes=modes, **telemetry.options())
    dispatch = DispatchGate(holder, fail_modes=modes, max_attempts=2, **telemetry.options())
    for topic in ("repo.file.read", "infra.vm.create", "payments.refund"):
        a = submit.check(topic, "staging", **JOB)
        assert (a.action, a.http_status, a.cause, a.tier, a.fail_mode, a.bundle) == (
            Action.REJECT, 503, "no-bundle", None, FailMode.CLOSED, None)
        first = dispatch.check(topic, "staging", attempt=1, **JOB)
        last = dispatch.check(topic, "staging", attempt=2, **JOB)
        assert (first.action, first.reason) == (Action.REQUEUE, "policy-unavailable")
        assert (last.action, last.reason, last.cause) == (Action.REJECT, "retries-exhausted",
                                                          "no-bundle")
    assert telemetry.counts(FAIL_OPEN) == {}
    assert telemetry.counts(POLICY_UNAVAILABLE) == {("submit", "no-bundle"): 3.0,
                                                    ("dispatch", "no-bundle"): 6.0}
    assert telemetry.counts(REQUEUED) == {("dispatch",): 3.0}


def test_the_override_opens_medium_on_time_and_is_counted(holder: Any,
                                                          telemetry: Telemetry) -> None:
    clock = Clock()
    modes = FailModes.from_environment({OVERRIDE_VARIABLE: "medium:open@30m"}, clock=clock)
    decider = FailingDecider(holder.decide, TimeoutError())
    gate = SubmitGate(holder, decider=decider, fail_modes=modes, **telemetry.options())
    opened = gate.check("infra.vm.create", "staging", **JOB)
    assert (opened.action, opened.bypass, opened.overridden) == (Action.ADMIT, True, True)
    high = gate.check("payments.refund", "staging", **JOB)
    assert (high.action, high.http_status) == (Action.REJECT, 503)
    clock.now = NOON + 1800  # the override expired: closed again, with no reload
    closed = gate.check("infra.vm.create", "staging", **JOB)
    assert (closed.action, closed.bypass, closed.overridden) == (Action.REJECT, False, False)
    assert telemetry.counts(FAIL_MODE_OVERRIDES) == {("medium",): 1.0}
    assert telemetry.counts(FAIL_OPEN) == {("submit", "medium", "staging"): 1.0}


def test_a_bypass_needs_an_env_the_bundle_declares(holder: Any,
                                                   telemetry: Telemetry) -> None:
    decider = FailingDecider(holder.decide, TimeoutError())
    gate = SubmitGate(holder, decider=decider, fail_modes=closed_modes(),
                      **telemetry.options())
    for env in ("prod", 3, None):
        result = gate.check("repo.file.read", env, **JOB)
        assert (result.action, result.bypass, result.fail_mode) == (
            Action.REJECT, False, FailMode.CLOSED)
    assert telemetry.counts(FAIL_OPEN) == {}


def test_the_tier_comes_from_the_last_bundle_the_decider_used(tmp_path: Path,
                                                              holder: Any) -> None:
    """A remote decider with a holder that never loaded: after one good answer the
    gate knows the tiers from that answer's bundle."""
    decider = FailingDecider(holder.decide)
    gate = SubmitGate(empty_holder(tmp_path), decider=decider, fail_modes=closed_modes())
    assert gate.check("repo.file.read", "staging", **JOB).action is Action.ADMIT
    decider.error = TimeoutError()
    result = gate.check("repo.file.read", "staging", **JOB)
    assert (result.action, result.bypass, result.tier) == (Action.ADMIT, True, TierName.LOW)


# -- Gate B ----------------------------------------------------------------------------

@pytest.mark.parametrize(("topic", "env", "action", "reason"), [
    ("infra.vm.create", "staging", Action.DISPATCH, "rule"),
    ("payments.refund", "staging", Action.REJECT, "rule"),
    ("infra.cluster.scale", "production", Action.REQUEUE, "rule"),
    ("payments.refund", "production", Action.HOLD, "approval-required"),
    ("x", "production", Action.REJECT, "default"),
    ("x", "nowhere", Action.REJECT, "unknown-env"),
])
def test_dispatch_maps_each_decision_to_an_action(
    holder: Any, topic: str, env: str, action: Action, reason: str,
) -> None:
    result = DispatchGate(holder, fail_modes=closed_modes()).check(topic, env, **JOB)
    assert (result.action, result.reason, result.bypass, result.http_status) == (
        action, reason, False, None)


def test_throttled_jobs_back_off_exponentially_up_to_a_bound(holder: Any) -> None:
    gate = DispatchGate(holder, fail_modes=closed_modes(), backoff_base=0.5,
                        backoff_max=10.0)
    backoffs = [gate.check("infra.db.scale", "staging", attempt=n, **JOB).backoff
                for n in (1, 2, 3, 4, 5, 6, 10**6)]
    assert backoffs == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    # Asked again, the same answers (reused per attempt), and the settings stay fixed.
    again = [gate.check("infra.db.scale", "staging", attempt=n, **JOB).backoff
             for n in (3, 1, 10**6, 2)]
    assert again == [2.0, 0.5, 10.0, 1.0]
    with pytest.raises(AttributeError):
        gate.backoff_base = 2.0  # type: ignore[misc]


def test_an_unavailable_policy_requeues_then_rejects(holder: Any) -> None:
    decider = FailingDecider(holder.decide, TimeoutError())
    gate = DispatchGate(holder, decider=decider, fail_modes=closed_modes(), max_attempts=3)
    results = [gate.check("infra.vm.create", "staging", attempt=n, **JOB) for n in (1, 2, 3, 4)]
    assert [(r.action, r.reason, r.backoff) for r in results] == [
        (Action.REQUEUE, "policy-unavailable", 1.0), (Action.REQUEUE, "policy-unavailable", 2.0),
        (Action.REJECT, "retries-exhausted", None), (Action.REJECT, "retries-exhausted", None)]
    with pytest.raises(ValueError, match="at least 1"):
        DispatchGate(holder, max_attempts=0)


@pytest.mark.parametrize("attempt", [0, -1, 1.5, "2", None, True])
def test_an_attempt_that_is_no_positive_integer_is_rejected(holder: Any,
                                                            attempt: Any) -> None:
    result = DispatchGate(holder, fail_modes=closed_modes()).check(
        "infra.vm.create", "staging", attempt=attempt, **JOB)
    assert (result.action, result.reason) == (Action.REJECT, "invalid-attempt")


# -- telemetry -------------------------------------------------------------------------

def test_every_check_is_counted_and_logged_once(holder: Any, telemetry: Telemetry) -> None:
    submit = SubmitGate(holder, fail_modes=closed_modes(), **telemetry.options())
    dispatch = DispatchGate(holder, fail_modes=closed_modes(), **telemetry.options())
    requests: list[tuple[Any, Any, Any]] = [
        ("infra.vm.create", "staging", None), ("payments.refund", "production", "10.0.0.0/8"),
        ("infra.cluster.scale", "production", None), (3, "staging", None),
        ("repo.file.read", "staging", "not-a-network"), ("x", object(), None),
    ]
    results: list[GateResult] = []
    for topic, env, cidr in requests:
        results.append(submit.check(topic, env, cidr, **JOB))
        results.append(dispatch.check(topic, env, cidr, **JOB))
    assert telemetry.counts(JOBS_RECEIVED) == {("submit",): 6.0, ("dispatch",): 6.0}
    decisions = telemetry.counts(DECISIONS)
    assert sum(decisions.values()) == 12
    assert decisions[("submit", "allow", "medium", "rule")] == 1
    assert decisions[("dispatch", "require_human", "high", "approval-required")] == 1
    assert decisions[("submit", "deny", "none", "invalid-topic")] == 1
    assert telemetry.counts(REQUEUED) == {("dispatch",): 1.0}
    entries = telemetry.entries()
    assert len(entries) == 12 and len({e["decision_id"] for e in entries}) == 12
    first = entries[0]
    assert {k: first[k] for k in ("gate", "job_id", "topic", "env", "cidr", "decision",
                                  "rule", "reason", "tier", "fail_mode", "bypass",
                                  "policy", "action", "approval")} == {
        "gate": "submit", "job_id": "job-1", "topic": "infra.vm.create", "env": "staging",
        "cidr": None, "decision": "allow", "rule": "allow-infra", "reason": "rule",
        "tier": "medium", "fail_mode": "closed", "bypass": False, "policy": "shop",
        "action": "admit", "approval": None}
    assert first["timestamp"].endswith("Z") and first["bundle"] == holder.active.content_hash
    # Malformed request values are still logged, readable: numbers as they are,
    # anything else as its repr.
    assert entries[6]["topic"] == 3
    assert entries[10]["env"].startswith("<object object at")


def test_a_kill_switch_denial_is_counted(holder: Any, telemetry: Telemetry) -> None:
    holder.kill("payments.**", "INC-9: refunds paused")
    gate = SubmitGate(holder, fail_modes=closed_modes(), **telemetry.options())
    result = gate.check("payments.refund", "production", **JOB)
    assert (result.action, result.http_status, result.reason) == (Action.REJECT, 403,
                                                                  "kill-switch")
    assert telemetry.counts(KILL_SWITCH) == {(): 1.0}
