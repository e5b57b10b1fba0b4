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

from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import (
    INVALID_JOB,
    POLICY_UNAVAILABLE,
    Action,
    Decider,
    GateCore,
    GateResult,
    hold_request,
    new_result,
)
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import EVALUATION_ERROR, Verdict
from dualgate.runtime.vocabulary import Decision, FailMode

GATE = "submit"
#: Results built per verdict object and reused; past this many the cache starts over.
_MAX_CACHED_RESULTS = 4096


class SubmitGate:
    """Gate A (see the module docstring). Safe to share between threads.

    ``decider`` replaces ``holder.decide`` (a remote decision client, say); the holder
    still gives the tiers when the decider fails. ``fail_modes`` defaults to
    ``FailModes.from_environment()``. ``retry_after`` is the seconds a throttled client
    waits, ``unavailable_retry_after`` those a client waits after a 503.
    """

    def __init__(self, holder: BundleHolder, *, decider: Decider | None = None,
                 fail_modes: FailModes | None = None, metrics: GateMetrics | None = None,
                 decision_log: DecisionLog | None = None, retry_after: float = 1.0,
                 unavailable_retry_after: float = 5.0) -> None:
        self.core = GateCore(GATE, holder, decider=decider, fail_modes=fail_modes,
                             metrics=metrics, decision_log=decision_log)
        self.retry_after = retry_after
        self.unavailable_retry_after = unavailable_retry_after
        self._invalid_job = GateResult(Action.REJECT, None, False, INVALID_JOB, None, None,
                                       None, http_status=400)
        self._results: dict[int, tuple[Verdict, GateResult]] = {}

    def check(self, topic: object, env: object, cidr: object = None, *, job_id: object,
              job_hash: object) -> GateResult:
        """The gate's answer on one job; never raises on request data."""
        core = self.core
        if core.metrics is not None:
            core.metrics.job_received(GATE)
        if type(job_id) is not str or type(job_hash) is not str or not job_id \
                or not job_hash:  # each a non-empty plain string
            core.record(self._invalid_job, None, job_id=job_id, topic=topic, env=env,
                        cidr=cidr)
            return self._invalid_job
        try:
            verdict, active = core.decide(topic, env, cidr)
        except Exception as error:
            return self._unavailable(error, job_id=job_id, topic=topic,
                                     env=env, cidr=cidr)
        if verdict.reason == EVALUATION_ERROR:
            return self._unavailable(None, job_id=job_id, topic=topic,
                                     env=env, cidr=cidr)
        core.last_bundle = active
        # Verdicts are shared objects, so the answer to one is built once; a hold names
        # its job and is built every time.
        cached = self._results.get(id(verdict))
        if cached is not None and cached[0] is verdict:
            result = cached[1]
        else:
            result = self._answer(verdict, job_id, job_hash, topic, env)
        if core.recording:
            core.record(result, active, job_id=job_id, topic=topic, env=env, cidr=cidr)
        return result

    def _answer(self, verdict: Verdict, job_id: object, job_hash: object, topic: object,
                env: object) -> GateResult:
        decision = verdict.decision
        common = (verdict, False, verdict.reason, verdict.tier, verdict.fail_mode,
                  verdict.bundle)
        if decision is Decision.REQUIRE_HUMAN:
            request = hold_request(verdict, str(job_id), str(job_hash), topic, env)
            return new_result((Action.HOLD, *common, 202, None, None, request, None, None,
                               False))
        if decision is Decision.ALLOW:
            result = GateResult(Action.ADMIT, *common, http_status=202)
        elif decision is Decision.THROTTLE:
            result = GateResult(Action.THROTTLE, *common, http_status=429,
                                retry_after=self.retry_after)
        else:
            result = GateResult(Action.REJECT, *common, http_status=403)
        if len(self._results) >= _MAX_CACHED_RESULTS:
            self._results.clear()
        self._results[id(verdict)] = (verdict, result)
        return result

    def _unavailable(self, error: BaseException | None, *, job_id: object, topic: object,
                     env: object, cidr: object) -> GateResult:
        core = self.core
        fallback = core.fallback(error, topic, env)
        active = fallback.bundle
        bundle = None if active is None else active.content_hash
        if fallback.fail_mode is FailMode.OPEN:
            result = GateResult(Action.ADMIT, None, True, POLICY_UNAVAILABLE, fallback.tier,
                                FailMode.OPEN, bundle, http_status=202,
                                cause=fallback.cause, overridden=fallback.overridden)
        else:
            result = GateResult(Action.REJECT, None, False, POLICY_UNAVAILABLE,
                                fallback.tier, FailMode.CLOSED, bundle, http_status=503,
                                retry_after=self.unavailable_retry_after,
                                cause=fallback.cause)
        core.record(result, active, job_id=job_id, topic=topic, env=env,
                    cidr=cidr)
        return result
