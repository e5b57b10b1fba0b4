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

from time import time_ns as _now

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
    Answer,
    Decider,
    Fallback,
    GateCore,
    GateResult,
    held_result,
    hold_request,
    new_result,
)
from dualgate.runtime.gates.holder import BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import EVALUATION_ERROR, Verdict
from dualgate.runtime.vocabulary import Decision, FailMode

GATE = "dispatch"
#: 2 ** this is the largest backoff factor: beyond it ``backoff_max`` applies anyway.
_MAX_DOUBLINGS = 62
_APPROVAL_REQUIRED = Refusal.REQUIRED.value
#: The attempts whose requeue an answer keeps (later ones are built each time).
MAX_CACHED_ATTEMPTS = 64


class DispatchGate(GateCore):
    """Gate B (see the module docstring). Safe to share between threads.

    ``approvals`` verifies tokens (without it every token is refused as
    ``approval-unknown-key``); ``used_tokens`` records them (default: a bounded
    ``MemoryUsedTokens``; share one store between the gates that may see the same job).
    A requeue waits ``backoff_base * 2 ** (attempt - 1)`` seconds, at most
    ``backoff_max``. ``decider`` and ``fail_modes`` as for ``SubmitGate``.
    """

    GATE = GATE

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
        super().__init__(holder, decider=decider, fail_modes=fail_modes, metrics=metrics,
                         decision_log=decision_log)
        self.approvals = approvals
        self.used_tokens: UsedTokens = MemoryUsedTokens() if used_tokens is None \
            else used_tokens
        self.reapprove_on_bundle_change = reapprove_on_bundle_change
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._invalid_job = GateResult(Action.REJECT, None, False, INVALID_JOB, None, None,
                                       None)
        self._invalid_attempt = GateResult(Action.REJECT, None, False, INVALID_ATTEMPT, None,
                                           None, None)

    def check(self, topic: object, env: object, cidr: object = None, *, job_id: object,
              job_hash: object, attempt: object = 1,
              approval: ApprovalToken | str | None = None) -> GateResult:
        """The gate's answer on one job; never raises on request data. Counted and
        logged once (the steps of ``SubmitGate.check``, inlined here too)."""
        if type(job_id) is not str or type(job_hash) is not str or not job_id \
                or not job_hash:  # each a non-empty plain string
            return self.refuse(self._invalid_job, job_id=job_id, topic=topic, env=env,
                               cidr=cidr)
        if type(attempt) is not int or attempt < 1:
            return self.refuse(self._invalid_attempt, job_id=job_id, topic=topic, env=env,
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
            return self._unavailable(error, attempt, job_id=job_id, topic=topic, env=env,
                                     cidr=cidr)
        try:  # see SubmitGate.check
            answer = self.answers[id(verdict)]
        except KeyError:
            answer = None
        if answer is None or answer[0] is not active:
            if verdict.reason == EVALUATION_ERROR:
                return self._unavailable(None, attempt, job_id=job_id, topic=topic,
                                         env=env, cidr=cidr)
            answer = self._answer(verdict, active)
        _active, result, step, shared, hold, requeues, _template = answer
        if result is None:
            if requeues is not None:  # a requeue: its backoff grows with the attempts
                result = requeues.get(attempt) or self._requeue(answer, attempt)
            elif approval is None:  # the common hold: no token came with the job
                assert hold is not None  # see HoldParts
                result = held_result(hold, job_id, job_hash, topic, env)
            else:  # dispatched on a valid approval, else held saying why: its own count
                result = self._approval(verdict, job_id, job_hash, topic=topic, env=env,
                                        approval=approval)
                self.record(result, active, job_id=job_id, topic=topic, env=env, cidr=cidr)
                return result
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

    @property
    def max_attempts(self) -> int:
        """The attempt at which an unavailable policy rejects instead of requeueing."""
        return self._max_attempts

    @property
    def backoff_base(self) -> float:
        """The first requeue's wait, in seconds (fixed: requeues are reused)."""
        return self._backoff_base

    @property
    def backoff_max(self) -> float:
        """The longest requeue wait, in seconds."""
        return self._backoff_max

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before offering the job again after ``attempt``."""
        factor: int = 2 ** min(attempt - 1, _MAX_DOUBLINGS)
        return min(self._backoff_max, self._backoff_base * factor)

    def template(self, verdict: Verdict) -> tuple[GateResult, bool]:
        decision = verdict.decision
        common = (verdict, False, verdict.reason, verdict.tier, verdict.fail_mode,
                  verdict.bundle)
        if decision is Decision.REQUIRE_HUMAN:
            # Dispatched or held by the job's approval; mostly held for want of one.
            return GateResult(Action.HOLD, verdict, False, _APPROVAL_REQUIRED,
                              verdict.tier, verdict.fail_mode, verdict.bundle), True
        if decision is Decision.THROTTLE:
            # The backoff grows with the job's attempts.
            return GateResult(Action.REQUEUE, *common), True
        action = Action.DISPATCH if decision is Decision.ALLOW else Action.REJECT
        return GateResult(action, *common), False

    def _requeue(self, answer: Answer, attempt: int) -> GateResult:
        """The requeue of ``answer`` (a throttle) at ``attempt``, kept with the answer
        for the first ``MAX_CACHED_ATTEMPTS`` attempts (the attempt is request data)."""
        template = answer.template
        result = new_result((*template[:9], self.backoff(attempt), *template[10:]))
        if attempt <= MAX_CACHED_ATTEMPTS:
            assert answer.requeues is not None
            answer.requeues[attempt] = result
        return result

    def fallback_result(self, fallback: Fallback, attempt: int) -> GateResult:
        cause, tier, mode, overridden, active = fallback
        bundle = None if active is None else active.content_hash
        # All fields in order (new_result): the keyword constructor is Python code.
        if mode is FailMode.OPEN:
            return new_result((Action.DISPATCH, None, True, POLICY_UNAVAILABLE, tier,
                               FailMode.OPEN, bundle, None, None, None, None, None, cause,
                               overridden))
        if attempt < self._max_attempts:
            return new_result((Action.REQUEUE, None, False, POLICY_UNAVAILABLE, tier,
                               FailMode.CLOSED, bundle, None, None, self.backoff(attempt),
                               None, None, cause, False))
        return new_result((Action.REJECT, None, False, RETRIES_EXHAUSTED, tier,
                           FailMode.CLOSED, bundle, None, None, None, None, None, cause, False))

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
