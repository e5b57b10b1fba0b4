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

from time import time_ns as _now

from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import (
    INVALID_JOB,
    POLICY_UNAVAILABLE,
    Action,
    Decider,
    Fallback,
    GateCore,
    GateResult,
    held_result,
    new_result,
)
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import EVALUATION_ERROR, Verdict
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
        """The gate's answer on one job; never raises on request data. Counted and
        logged once (see ``GateCore`` for the steps, inlined here)."""
        if type(job_id) is not str or type(job_hash) is not str or not job_id \
                or not job_hash:  # each a non-empty plain string
            return self.refuse(self._invalid_job, job_id=job_id, topic=topic, env=env,
                               cidr=cidr)
        try:
            holder = self.direct
            if holder is not None and (active := holder._active) is not None \
                    and holder._kills.current is None:  # BundleHolder.decide, inlined
                verdict = active.bundle.decide(topic, env, cidr)
            else:
                verdict, active = self.decide(topic, env, cidr)
                self.last_bundle = active
        except Exception as error:
            return self._unavailable(error, 1, job_id=job_id, topic=topic, env=env,
                                     cidr=cidr)
        # Keyed by the verdict's id: an answer keeps its verdict alive, so an answer
        # found is that verdict's (an id is reused only after its object is gone).
        try:
            answer = self.answers[id(verdict)]
        except KeyError:
            answer = None
        if answer is None or answer[0] is not active:
            if verdict.reason == EVALUATION_ERROR:
                return self._unavailable(None, 1, job_id=job_id, topic=topic, env=env,
                                         cidr=cidr)
            answer = self._answer(verdict, active)
        _active, result, step, shared, hold, _requeues, _template = answer
        if result is None:  # a hold names its job: counted and logged as its template
            assert hold is not None  # see HoldParts
            result = held_result(hold, job_id, job_hash, topic, env)
        if step is not None:
            step()
        if shared is not None:
            log = self.decision_log
            assert log is not None  # a shared tuple is built only with a log
            queue = log.queue
            if type(topic) is str and type(env) is str and (
                    cidr is None or type(cidr) is str) and len(queue) < log.limit:
                queue.append((_now(), shared, job_id, topic, env, cidr, None))
            else:
                self.log_decision(shared, job_id, topic, env, cidr)
        return result

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
