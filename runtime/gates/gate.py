"""What both gates share: asking the policy, knowing when it could not answer, applying
the tier's fail mode, and counting and logging every decision.

A gate asks a *decider* (``BundleHolder.decide`` by default; anything with its
signature, such as a remote decision client, plugs in) for a verdict. The policy is
**unavailable** when the decider raises ``PolicyUnavailable`` (its ``cause``, such as
``no-bundle`` or ``circuit-open``), raises ``TimeoutError`` (``timeout``) or anything
else (``decider-error``), or returns a verdict with reason ``evaluation-error``. The
job's tier is then taken from the active bundle (or the last one the decider used) and
its effective fail mode (``FailModes``) decides: closed holds the job back, open lets
it through with ``bypass=True``. With no bundle at all, every tier fails closed.

Every check counts one received job and one decision, and writes one decision-log
entry; a bypass is also counted under ``fail_open`` (and ``fail_mode_override`` when
the process-level override opened it), and is never dropped by the decision log. No
label value comes from the request: tiers, actions and reasons are fixed words, and an
env is a label only when the bundle declares it (else ``unknown``).

Nothing here raises on request data: a request the policy cannot read is denied by the
decider with its reason, a job id or hash that is no non-empty string is rejected with
``invalid-job``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple, Protocol

from dualgate.runtime.bundle import Bundle
from dualgate.runtime.gates.approvals import ApprovalRequest, ApprovalToken, Binding
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.holder import ActiveBundle, BundleHolder, PolicyUnavailable
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.verdict import EVALUATION_ERROR, Verdict
from dualgate.runtime.vocabulary import FailMode, TierName

#: The kill-switch reason the holder gives its verdicts.
KILL_SWITCH = "kill-switch"

# Reasons a gate gives beyond the verdict's own.
POLICY_UNAVAILABLE = "policy-unavailable"
RETRIES_EXHAUSTED = "retries-exhausted"
INVALID_JOB = "invalid-job"
INVALID_ATTEMPT = "invalid-attempt"
APPROVED = "approved"

# Causes of an unavailable policy (the ``cause`` label of ``policy_unavailable``).
NO_BUNDLE = "no-bundle"
TIMEOUT = "timeout"
DECIDER_ERROR = "decider-error"
#: A cause a decider may name in ``PolicyUnavailable``: a short lowercase word, so that
#: the metric's label set stays bounded; anything else counts as ``decider-error``.
_CAUSE = re.compile(r"[a-z][a-z0-9-]{0,31}")

#: The env label for an env the bundle does not declare (or when it declares none).
UNKNOWN_ENV_LABEL = "unknown"
_NO_TIER = "none"


class Action(StrEnum):
    """What the caller of a gate does with the job."""

    ADMIT = "admit"  # Gate A: persist and publish
    REJECT = "reject"  # refuse it for good
    THROTTLE = "throttle"  # Gate A: answer 429, the client retries after ``retry_after``
    HOLD = "hold"  # keep it for a person's approval, do not publish or dispatch
    REQUEUE = "requeue"  # Gate B: back to the queue, retry after ``backoff``
    DISPATCH = "dispatch"  # Gate B: hand it to a worker


class GateResult(NamedTuple):
    """A gate's answer on one job (immutable).

    ``verdict`` is the policy's verdict, None when the policy was unavailable (then
    ``cause`` says why, and ``tier`` and ``fail_mode`` are what was applied). ``reason``
    explains the action: the verdict's reason, or a gate reason (``policy-unavailable``,
    ``retries-exhausted``, ``approved``, an approval refusal, ...). ``bypass`` is True
    exactly when the job goes on without a policy decision. ``bundle`` is the content
    hash of the bundle that decided or gave the tier (None without one).
    """

    action: Action
    verdict: Verdict | None
    bypass: bool
    reason: str
    tier: TierName | None
    fail_mode: FailMode | None
    bundle: str | None
    http_status: int | None = None
    retry_after: float | None = None
    backoff: float | None = None
    approval_request: ApprovalRequest | None = None
    approval: ApprovalToken | None = None
    cause: str | None = None
    overridden: bool = False  # the process-level override opened the fail mode

    def to_json(self) -> dict[str, object]:
        """The result as JSON, for an HTTP answer or a job's record."""
        request = self.approval_request
        return {
            "action": self.action.value, "reason": self.reason, "bypass": self.bypass,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "tier": None if self.tier is None else self.tier.value,
            "fail_mode": None if self.fail_mode is None else self.fail_mode.value,
            "bundle": self.bundle, "http_status": self.http_status,
            "retry_after": self.retry_after, "backoff": self.backoff,
            "approval_request": None if request is None else request.to_json(),
            "approval": None if self.approval is None else self.approval.token_id,
            "cause": self.cause, "overridden": self.overridden,
        }


def new_result(fields: tuple[object, ...]) -> GateResult:
    """A ``GateResult`` of all its fields in order, built without the named tuple's
    Python-level ``__new__`` (a third of a check's cost on the hold path)."""
    return tuple.__new__(GateResult, fields)


class Decider(Protocol):
    """The signature of ``BundleHolder.decide``: a verdict and the bundle that gave it."""

    def __call__(self, topic: object, env: object,
                 cidr: object = None) -> tuple[Verdict, ActiveBundle]: ...


class Fallback(NamedTuple):
    """What a gate applies when the policy is unavailable."""

    cause: str
    tier: TierName | None
    fail_mode: FailMode
    overridden: bool
    bundle: ActiveBundle | None


class GateCore:
    """The machinery one gate instance uses; see the module docstring.

    Safe to share between threads: its only mutable state is the last bundle seen (one
    attribute, replaced whole) and the env-label cache (replaced whole).
    """

    def __init__(self, gate: str, holder: BundleHolder, *, decider: Decider | None,
                 fail_modes: FailModes | None, metrics: GateMetrics | None,
                 decision_log: DecisionLog | None) -> None:
        self.gate = gate
        self.holder = holder
        self.decide: Decider = holder.decide if decider is None else decider
        self.fail_modes = FailModes.from_environment() if fail_modes is None else fail_modes
        self.metrics = metrics
        self.decision_log = decision_log
        #: Whether ``record`` has anything to do (the hot path skips the call if not).
        self.recording = metrics is not None or decision_log is not None
        self.last_bundle: ActiveBundle | None = None
        self._env_labels: tuple[Bundle | None, frozenset[str]] = (None, frozenset())

    def fallback(self, error: BaseException | None, topic: object, env: object) -> Fallback:
        """The cause, tier and fail mode for a check the decider could not answer
        (``error`` is what it raised; None for an ``evaluation-error`` verdict).

        A tier opens only for a request the bundle can classify: a valid topic and an
        env it declares (any string when it declares none); anything else fails closed.
        """
        cause = _cause(error)
        try:
            active = self.holder.active or self.last_bundle
        except Exception:  # a holder that cannot say: the last bundle seen, or none
            active = self.last_bundle
        bundle = None if active is None else active.bundle
        tier = None if bundle is None else bundle.tier_of(topic)
        mode, overridden = self.fail_modes.resolve(tier, bundle)
        if mode is FailMode.OPEN and not self.env_declared(env, active):
            mode, overridden = FailMode.CLOSED, False
        if self.metrics is not None:
            self.metrics.policy_unavailable(self.gate, cause)
        return Fallback(cause, tier, mode, overridden, active)

    def record(self, result: GateResult, active: ActiveBundle | None, *, job_id: object,
               topic: object, env: object, cidr: object) -> None:
        """Count ``result`` and write its decision-log entry.

        On the hot path: the result is unpacked in one step, and enum members go to the
        metrics and the log as they are (they are strings; JSON writes their value).
        """
        (action, verdict, bypass, reason, tier, mode, bundle, _status, _retry, _backoff,
         _request, approval, cause, overridden) = result
        metrics = self.metrics
        if metrics is not None:
            tier_label = _NO_TIER if tier is None else tier
            # The policy's decision, as the alert rules and dashboards read it; "none"
            # when no verdict was reached (the tier's fail mode decided the action).
            metrics.decision(self.gate, _NO_TIER if verdict is None else verdict.decision,
                             tier_label, reason)
            if bypass:
                metrics.fail_open(self.gate, tier_label, self.env_label(env, active))
                if overridden:
                    metrics.fail_mode_override(tier_label)
            if action is Action.REQUEUE:
                metrics.requeued(self.gate)
            if reason == KILL_SWITCH:
                metrics.kill_switch()
        log = self.decision_log
        if log is not None:
            log.record_decision((
                self.gate, job_id if type(job_id) is str else _loggable(job_id),
                topic if type(topic) is str else _loggable(topic),
                env if type(env) is str else _loggable(env),
                cidr if cidr is None or type(cidr) is str else _loggable(cidr),
                None if verdict is None else verdict.decision,
                None if verdict is None else verdict.rule,
                reason, tier, mode, bypass, bundle,
                None if active is None else active.policy,
                None if approval is None else {
                    "token_id": approval.token_id, "approver": approval.approver},
                action, cause,
            ))

    def env_label(self, env: object, active: ActiveBundle | None) -> str:
        """``env`` when the bundle declares it, else ``unknown``: a bounded label."""
        if active is None or type(env) is not str:
            return UNKNOWN_ENV_LABEL
        return env if env in self._declared(active.bundle) else UNKNOWN_ENV_LABEL

    def env_declared(self, env: object, active: ActiveBundle | None) -> bool:
        """Whether the bundle accepts ``env``: one it declares, any string when it
        declares none."""
        if active is None or type(env) is not str:
            return False
        declared = self._declared(active.bundle)
        return not declared or env in declared

    def _declared(self, bundle: Bundle) -> frozenset[str]:
        cached, declared = self._env_labels
        if cached is not bundle:
            declared = frozenset(e["name"] for e in bundle.content["envs"])
            self._env_labels = (bundle, declared)
        return declared


def hold_request(verdict: Verdict, job_id: str, job_hash: str, topic: object,
                 env: object) -> ApprovalRequest:
    """What to approve for a hold: the job, the bundle that decided and its rule."""
    binding = (job_hash, verdict.bundle, verdict.rule, str(topic), str(env))
    return tuple.__new__(ApprovalRequest, (
        job_id, tuple.__new__(Binding, binding)))


def _cause(error: BaseException | None) -> str:
    if error is None:
        return EVALUATION_ERROR
    if isinstance(error, PolicyUnavailable):
        cause = getattr(error, "cause", None)
        if isinstance(cause, str) and _CAUSE.fullmatch(cause):
            return cause
        return DECIDER_ERROR
    if isinstance(error, TimeoutError):
        return TIMEOUT
    return DECIDER_ERROR


def _loggable(value: object) -> object:
    """A request value as the decision log can encode it: JSON scalars as they are,
    anything else as its ``repr`` (a malformed request is still logged)."""
    if value is None or type(value) is str:
        return value
    if type(value) in (int, bool):
        return value
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"

