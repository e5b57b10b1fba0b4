"""Gate A, the submit gate: what an API gateway asks before a job is persisted or published.

- allow: ``admit`` (202), persist and publish the job;
- deny: ``reject`` (403), refuse it, naming ``reason`` (and ``verdict.rule``);
- throttle: ``throttle`` (429), answer with ``Retry-After: retry_after``;
- require_human: ``hold`` (202), store it in an approval state, unpublished, with its
  ``approval_request``;
- unavailable, tier closed: ``reject`` (503) with ``Retry-After: retry_after``; tier
  open: ``admit`` (202) with ``bypass`` True, counted and logged.

A job id or hash that is no non-empty string is rejected with 400 (``invalid-job``).
"""

from __future__ import annotations

from dualgate.runtime.gates.approvals import ApprovalToken
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import (
    INVALID_JOB,
    POLICY_UNAVAILABLE,
    Action,
    Answer,
    Decider,
    Fallback,
    GateCore,
    GateResult,
    held,
    new_result,
)
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import Verdict
from dualgate.runtime.vocabulary import Decision, FailMode

GATE = "submit"


class SubmitGate(GateCore):
    """Gate A (see the module docstring). Safe to share between threads.

    ``decider`` replaces ``holder.decide`` (a remote decision client, say); the holder
    still gives the tiers when the decider fails. ``fail_modes`` defaults to
    ``FailModes.from_environment()``. ``retry_after`` is the seconds a throttled client
    waits, ``unavailable_retry_after`` those a client waits after a 503.
    """

    GATE = GATE

    def __init__(self, holder: BundleHolder, *, decider: Decider | None = None,
                 fail_modes: FailModes | None = None, metrics: GateMetrics | None = None,
                 decision_log: DecisionLog | None = None, retry_after: float = 1.0,
                 unavailable_retry_after: float = 5.0) -> None:
        super().__init__(holder, decider=decider, fail_modes=fail_modes, metrics=metrics,
                         decision_log=decision_log)
        self.retry_after = retry_after
        self.unavailable_retry_after = unavailable_retry_after
        self._invalid_job = GateResult(Action.REJECT, None, False, INVALID_JOB, None, None,
                                       None, http_status=400)

    def check(self, topic: object, env: object, cidr: object = None, *, job_id: object,
              job_hash: object) -> GateResult:
        """The gate's answer on one job; never raises on request data."""
        return self._check(topic, env, cidr, job_id, job_hash, 1, None)

    def template(self, verdict: Verdict) -> tuple[GateResult, bool]:
        decision = verdict.decision
        common = (verdict, False, verdict.reason, verdict.tier, verdict.fail_mode,
                  verdict.bundle)
        if decision is Decision.REQUIRE_HUMAN:
            # A hold names its job: built per job, counted and logged as this one.
            return GateResult(Action.HOLD, *common, http_status=202), True
        if decision is Decision.ALLOW:
            return GateResult(Action.ADMIT, *common, http_status=202), False
        if decision is Decision.THROTTLE:
            return GateResult(Action.THROTTLE, *common, http_status=429,
                              retry_after=self.retry_after), False
        return GateResult(Action.REJECT, *common, http_status=403), False

    def job_result(self, answer: Answer, job_id: str,  # noqa: PLR0917 (as ``_check``)
                   job_hash: str, topic: object, env: object, attempt: int,
                   approval: ApprovalToken | str | None) -> GateResult:
        return held(answer.template, job_id, job_hash, topic, env)

    def fallback_result(self, fallback: Fallback, attempt: int) -> GateResult:
        cause, tier, mode, overridden, active = fallback
        bundle = None if active is None else active.content_hash
        # All fields in order (new_result): the keyword constructor is Python code.
        if mode is FailMode.OPEN:
            return new_result((Action.ADMIT, None, True, POLICY_UNAVAILABLE, tier,
                               FailMode.OPEN, bundle, 202, None, None, None, None, cause,
                               overridden))
        return new_result((Action.REJECT, None, False, POLICY_UNAVAILABLE, tier,
                           FailMode.CLOSED, bundle, 503, self.unavailable_retry_after, None,
                           None, None, cause, False))
