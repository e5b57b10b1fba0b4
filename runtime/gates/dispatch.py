"""Gate B, the dispatch gate: what a scheduler asks right before it picks a worker.

It asks the policy again, to catch what changed since submit time (a new bundle, a
kill switch, an approval gone stale):

- allow: ``dispatch``, hand the job to a worker;
- deny: ``reject``, drop it, naming ``reason``;
- throttle: ``requeue``, put it back, to offer again after ``backoff`` seconds;
- require_human with a valid approval: ``dispatch``, ``reason`` is ``approved`` and
  ``approval`` the token; without one: ``hold``, keep it for approval, ``reason`` says
  what was wrong and ``approval_request`` what to sign now;
- unavailable, tier closed: ``requeue`` (reason ``policy-unavailable``) until
  ``attempt`` reaches ``max_attempts``, then ``reject`` (``retries-exhausted``), so no
  job loops for ever; tier open: ``dispatch`` with ``bypass`` True, counted and logged.

An approval is valid when ``ApprovalVerifier`` accepts its signature and expiry, it
names this job id, topic and env, its job hash is the job's, the current bundle still
asks for approval by the rule it names, and (unless ``reapprove_on_bundle_change`` is
False) that bundle is the one it was given under; then it is claimed in the
``UsedTokens`` store, once. A hold always carries a fresh ``approval_request`` bound to
the current bundle, so the scheduler can ask again.

``attempt`` counts from 1: the caller passes how many times it has offered this job.
A job id or hash that is no non-empty string is rejected (``invalid-job``), and so is
an attempt that is no positive integer (``invalid-attempt``).
"""

from __future__ import annotations

from dualgate.runtime.gates.approvals import (
    ApprovalToken,
    ApprovalVerifier,
    Claim,
    MemoryUsedTokens,
    Refusal,
    UsedTokens,
)
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import (
    APPROVED,
    INVALID_ATTEMPT,
    INVALID_JOB,
    POLICY_UNAVAILABLE,
    RETRIES_EXHAUSTED,
    Action,
    Decider,
    GateCore,
    GateResult,
    hold_request,
    new_result,
)
from dualgate.runtime.gates.holder import ActiveBundle, BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import EVALUATION_ERROR, Verdict
from dualgate.runtime.vocabulary import Decision, FailMode

GATE = "dispatch"
_MAX_CACHED_RESULTS = 4096
#: 2 ** this is the largest backoff factor: beyond it ``backoff_max`` applies anyway.
_MAX_DOUBLINGS = 62


class DispatchGate:
    """Gate B (see the module docstring). Safe to share between threads.

    ``approvals`` verifies tokens (without it every token is refused as
    ``approval-unknown-key``); ``used_tokens`` records them (default: a bounded
    ``MemoryUsedTokens``; share one store between the gates that may see the same job).
    A requeue waits ``backoff_base * 2 ** (attempt - 1)`` seconds, at most
    ``backoff_max``. ``decider`` and ``fail_modes`` as for ``SubmitGate``.
    """

    def __init__(self, holder: BundleHolder, *, decider: Decider | None = None,
                 fail_modes: FailModes | None = None,
                 approvals: ApprovalVerifier | None = None,
                 used_tokens: UsedTokens | None = None,
                 reapprove_on_bundle_change: bool = True, max_attempts: int = 5,
                 backoff_base: float = 1.0, backoff_max: float = 60.0,
                 metrics: GateMetrics | None = None,
                 decision_log: DecisionLog | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts is at least 1")
        self.core = GateCore(GATE, holder, decider=decider, fail_modes=fail_modes,
                             metrics=metrics, decision_log=decision_log)
        self.approvals = approvals
        self.used_tokens: UsedTokens = MemoryUsedTokens() if used_tokens is None \
            else used_tokens
        self.reapprove_on_bundle_change = reapprove_on_bundle_change
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._invalid_job = GateResult(Action.REJECT, None, False, INVALID_JOB, None, None,
                                       None)
        self._invalid_attempt = GateResult(Action.REJECT, None, False, INVALID_ATTEMPT, None,
                                           None, None)
        self._results: dict[int, tuple[Verdict, GateResult]] = {}

    def check(self, topic: object, env: object, cidr: object = None, *, job_id: object,
              job_hash: object, attempt: object = 1,
              approval: ApprovalToken | str | None = None) -> GateResult:
        """The gate's answer on one job; never raises on request data."""
        core = self.core
        if core.metrics is not None:
            core.metrics.job_received(GATE)
        if type(job_id) is not str or type(job_hash) is not str or not job_id \
                or not job_hash:  # each a non-empty plain string
            core.record(self._invalid_job, None, job_id=job_id, topic=topic, env=env,
                        cidr=cidr)
            return self._invalid_job
        if type(attempt) is not int or attempt < 1:
            core.record(self._invalid_attempt, None, job_id=job_id, topic=topic, env=env,
                        cidr=cidr)
            return self._invalid_attempt
        try:
            verdict, active = core.decide(topic, env, cidr)
        except Exception as error:
            return self._unavailable(error, attempt, job_id=job_id, topic=topic,
                                     env=env, cidr=cidr)
        if verdict.reason == EVALUATION_ERROR:
            return self._unavailable(None, attempt, job_id=job_id, topic=topic,
                                     env=env, cidr=cidr)
        core.last_bundle = active
        decision = verdict.decision
        if decision is Decision.REQUIRE_HUMAN:
            result = self._approval(verdict, str(job_id), str(job_hash), topic=topic,
                                    env=env, approval=approval)
        elif decision is Decision.THROTTLE:
            result = new_result((Action.REQUEUE, verdict, False, verdict.reason,
                                 verdict.tier, verdict.fail_mode, verdict.bundle, None, None,
                                 self.backoff(attempt), None, None, None, False))
        else:
            # allow and deny depend on the verdict alone, a shared object: built once.
            cached = self._results.get(id(verdict))
            if cached is not None and cached[0] is verdict:
                result = cached[1]
            else:
                result = self._final(verdict)
        if core.recording:
            core.record(result, active, job_id=job_id, topic=topic, env=env, cidr=cidr)
        return result

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before offering the job again after ``attempt``."""
        factor: int = 2 ** min(attempt - 1, _MAX_DOUBLINGS)
        return min(self.backoff_max, self.backoff_base * factor)

    def _final(self, verdict: Verdict) -> GateResult:
        action = Action.DISPATCH if verdict.decision is Decision.ALLOW else Action.REJECT
        result = GateResult(action, verdict, False, verdict.reason, verdict.tier,
                            verdict.fail_mode, verdict.bundle)
        if len(self._results) >= _MAX_CACHED_RESULTS:
            self._results.clear()
        self._results[id(verdict)] = (verdict, result)
        return result

    def _approval(self, verdict: Verdict, job_id: str, job_hash: str, *, topic: object,
                  env: object, approval: ApprovalToken | str | None) -> GateResult:
        """Dispatch on a valid approval of this job under this verdict, else hold."""
        token: ApprovalToken | None = None
        try:
            token, refusal = self._refusal(verdict, job_id, job_hash, topic=topic, env=env,
                                           approval=approval)
        except Exception:  # request values whose comparison raises: not this job's token
            refusal = Refusal.MALFORMED
        if refusal is None:
            return GateResult(Action.DISPATCH, verdict, False, APPROVED, verdict.tier,
                              verdict.fail_mode, verdict.bundle, approval=token)
        request = hold_request(verdict, job_id, job_hash, topic, env)
        return new_result((Action.HOLD, verdict, False, refusal.value, verdict.tier,
                           verdict.fail_mode, verdict.bundle, None, None, None, request, None,
                           None, False))

    def _refusal(self, verdict: Verdict, job_id: str, job_hash: str, *, topic: object,
                 env: object, approval: ApprovalToken | str | None,
                 ) -> tuple[ApprovalToken | None, Refusal | None]:
        if approval is None:
            return None, Refusal.REQUIRED
        if self.approvals is None:
            return None, Refusal.UNKNOWN_KEY
        token, refusal = self.approvals.verify(approval)
        if token is None or refusal is not None:
            return token, refusal
        binding = token.binding
        if token.job_id != job_id or binding.topic != topic or binding.env != env:
            return token, Refusal.OTHER_JOB
        if binding.job_hash != job_hash:
            return token, Refusal.JOB_CHANGED
        if binding.rule != verdict.rule:
            return token, Refusal.RULE_CHANGED
        if binding.bundle != verdict.bundle and self.reapprove_on_bundle_change:
            return token, Refusal.STALE
        try:
            claim = self.used_tokens.claim(job_id, token.token_id, token.expires_at)
        except Exception:  # a shared store that is down: the token cannot be claimed
            return token, Refusal.STORE_ERROR
        if claim is Claim.CLAIMED:
            return token, None
        return token, Refusal.REUSED if claim is Claim.REUSED else Refusal.STORE_FULL

    def _unavailable(self, error: BaseException | None, attempt: int, *, job_id: object,
                     topic: object, env: object, cidr: object) -> GateResult:
        core = self.core
        fallback = core.fallback(error, topic, env)
        active: ActiveBundle | None = fallback.bundle
        bundle = None if active is None else active.content_hash
        if fallback.fail_mode is FailMode.OPEN:
            result = GateResult(Action.DISPATCH, None, True, POLICY_UNAVAILABLE, fallback.tier,
                                FailMode.OPEN, bundle, cause=fallback.cause,
                                overridden=fallback.overridden)
        elif attempt < self.max_attempts:
            result = GateResult(Action.REQUEUE, None, False, POLICY_UNAVAILABLE, fallback.tier,
                                FailMode.CLOSED, bundle, backoff=self.backoff(attempt),
                                cause=fallback.cause)
        else:
            result = GateResult(Action.REJECT, None, False, RETRIES_EXHAUSTED, fallback.tier,
                                FailMode.CLOSED, bundle, cause=fallback.cause)
        core.record(result, active, job_id=job_id, topic=topic, env=env,
                    cidr=cidr)
        return result
