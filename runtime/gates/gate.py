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
from typing import ClassVar, NamedTuple, Protocol

from dualgate.runtime.bundle import Bundle
from dualgate.runtime.gates.approvals import ApprovalRequest, ApprovalToken
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.holder import ActiveBundle, BundleHolder, PolicyUnavailable
from dualgate.runtime.telemetry import DecisionLog, GateMetrics
from dualgate.runtime.telemetry.decision_log import SHARED_FIELDS
from dualgate.runtime.telemetry.metrics import CheckOutcome, Step
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


#: Builds a named tuple from a tuple of all its fields, without the named tuple's
#: Python-level ``__new__`` (a third of a check's cost on the hold path).
new_tuple = tuple.__new__


def new_result(fields: tuple[object, ...]) -> GateResult:
    """A ``GateResult`` of all its fields in order, built as ``new_tuple`` builds it."""
    return new_tuple(GateResult, fields)


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


#: What a hold's result is built from per job, per verdict: the template's fields
#: before ``approval_request`` and after it, and the verdict's bundle and rule (the
#: binding's snapshot). ``held_result`` builds the job's result from them.
HoldParts = tuple[tuple[object, ...], tuple[object, ...], str, "str | None"]


def held_result(hold: HoldParts, job_id: str, job_hash: str, topic: object,
                env: object) -> GateResult:
    """A hold's result for one job: its template with the approval request
    ``hold_request`` would make, built in two steps (never raises on request data)."""
    head, tail, bundle, rule = hold
    return new_tuple(GateResult, head + (new_tuple(ApprovalRequest, (  # noqa: RUF005
        job_id, job_hash, bundle, rule, topic if type(topic) is str else text(topic),
        env if type(env) is str else text(env))),) + tail)


class Answer(NamedTuple):
    """What a gate keeps per verdict (a shared object): the bundle that gave it, its
    result (None when it is built per job), the metrics' step counting it and the
    decision log's shared fields (each None when that telemetry is off), what a result
    built per job is built from (``hold`` for a hold, see ``HoldParts``; ``requeues``,
    by attempt and filled as attempts come, for a dispatch requeue) and the ``template``
    result, whose verdict is the one answered (kept alive with the answer). A result
    built per job with the template's action and reason is counted and logged as the
    template; any other on its own."""

    active: ActiveBundle
    result: GateResult | None
    step: Step | None
    shared: tuple[object, ...] | None
    hold: HoldParts | None
    requeues: dict[int, GateResult] | None
    template: GateResult


#: Answers (and shared log fields) kept per gate; past this many the cache starts over.
MAX_CACHED_ANSWERS = 4096
#: Where the approval sits in the decision log's shared fields.
_APPROVAL = SHARED_FIELDS.index("approval")
#: Where the approval request and the approval token sit in a result.
_REQUEST = GateResult._fields.index("approval_request")
_APPROVAL_TOKEN = GateResult._fields.index("approval")


class GateCore:
    """What both gates are built on: the fallback, counting and logging they share (see
    the module docstring); a gate class says what each decision means.

    A subclass gives ``GATE`` and the ``_invalid_job`` result, implements ``template``
    (the answer to a verdict) and ``fallback_result`` (the answer when the policy is
    unavailable), and its ``check`` runs the hot path, inlined (a call costs a tenth of
    a check): the verdict (from the ``direct`` holder's active bundle while no kill
    switch is set, else from ``decide``), the verdict's ``Answer`` (from ``answers``, else
    ``_answer``), the result, its step, and its decision-log entry (queued on the log's
    ``queue`` as ``DecisionLog.record_decision`` queues it, else by ``log_decision``).

    Safe to share between threads: its mutable state is the last bundle seen (one
    attribute, replaced whole) and caches that are replaced or filled one entry at a time.
    """

    GATE: ClassVar[str]
    _invalid_job: GateResult

    def __init__(self, holder: BundleHolder, *, decider: Decider | None,
                 fail_modes: FailModes | None, metrics: GateMetrics | None,
                 decision_log: DecisionLog | None) -> None:
        self.gate = self.GATE
        self.holder = holder
        self.decide: Decider = holder.decide if decider is None else decider
        #: The holder whose state ``check`` reads itself, as ``BundleHolder.decide``
        #: reads it (None when another decider answers, or a subclass's ``decide`` does).
        self.direct: BundleHolder | None = holder if decider is None and \
            getattr(type(holder), "decide", None) is BundleHolder.decide else None
        self.fail_modes = FailModes.from_environment() if fail_modes is None else fail_modes
        self.metrics = metrics
        self.decision_log = decision_log
        self._log = None if decision_log is None else decision_log.record_decision
        self.last_bundle: ActiveBundle | None = None
        self._env_labels: tuple[Bundle | None, frozenset[str]] = (None, frozenset())
        #: Answers by their verdict's id (cleared when full, never replaced).
        self.answers: dict[int, Answer] = {}
        self._interned: dict[tuple[object, ...], tuple[object, ...]] = {}
        self._unanswered: dict[tuple[object, ...], tuple[
            ActiveBundle | None, Step | None, tuple[object, ...] | None]] = {}

    # -- what a gate says ----------------------------------------------------------

    def template(self, verdict: Verdict) -> tuple[GateResult, bool]:
        """The gate's result on ``verdict`` (what is counted and logged), and whether
        the result is built per job instead."""
        raise NotImplementedError

    def fallback_result(self, fallback: Fallback, attempt: int) -> GateResult:
        """The result when the policy is unavailable and ``fallback`` applies."""
        raise NotImplementedError

    # -- the check's steps (each gate's ``check`` inlines the hot path) ---------------

    def _answer(self, verdict: Verdict, active: ActiveBundle) -> Answer:
        """The verdict's answer, built and kept (a kill switch's aside)."""
        template, per_job = self.template(verdict)
        step = None if self.metrics is None else self.step(template, None, active)
        shared = None if self._log is None else self.interned(self.shared(template, active))
        hold: HoldParts | None = None
        requeues: dict[int, GateResult] | None = None
        if per_job and template[0] is Action.HOLD:
            hold = (template[:_REQUEST], template[_REQUEST + 1:], verdict.bundle, verdict.rule)
        elif per_job:
            requeues = {}
        answer = new_tuple(Answer, (active, None if per_job else template, step, shared, hold,
                               requeues, template))
        # A kill switch's verdict is made per decision: kept, it would only crowd out
        # the verdicts that repeat.
        if verdict.reason != KILL_SWITCH:
            if len(self.answers) >= MAX_CACHED_ANSWERS:
                self.answers.clear()
            self.answers[id(verdict)] = answer
        return answer

    def log_decision(self, shared: tuple[object, ...], job_id: str, topic: object,
                     env: object, cidr: object) -> None:
        """Write the decision-log entry of a check whose answer has ``shared`` by the
        log's own ``record_decision`` (a full or closed queue, a bypass), with the
        request values as the log can encode them: ``check``'s path for anything but
        plain strings (or a None cidr) on a queue with room, which it queues itself."""
        log = self._log
        assert log is not None  # a shared tuple is built only with a log
        log(shared, job_id, _loggable(topic), _loggable(env), _loggable(cidr))

    def _unavailable(self, error: BaseException | None, attempt: int, *, job_id: object,
                     topic: object, env: object, cidr: object) -> GateResult:
        fallback = self.fallback(error, topic, env)
        result = self.fallback_result(fallback, attempt)
        self.record(result, fallback.bundle, job_id=job_id, topic=topic, env=env, cidr=cidr)
        return result

    def refuse(self, result: GateResult, *, job_id: object, topic: object, env: object,
               cidr: object) -> GateResult:
        """``result`` (a refusal before any decision), counted and logged."""
        self.record(result, None, job_id=job_id, topic=topic, env=env, cidr=cidr)
        return result

    # -- fallback, counting and logging --------------------------------------------

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
        return new_tuple(Fallback, (cause, tier, mode, overridden, active))

    def record(self, result: GateResult, active: ActiveBundle | None, *, job_id: object,
               topic: object, env: object, cidr: object) -> None:
        """Count ``result`` and write its decision-log entry (the path of results that
        are not reused). A result without a verdict or an approval (a fallback or a
        refusal: words only) has its step and shared log fields kept by what they are
        made of (``unanswered``), any other has them made anew."""
        if result[1] is None and result[_APPROVAL_TOKEN] is None:
            step, shared = self.unanswered(result, env, active)
        else:
            step = None if self.metrics is None else self.step(result, env, active)
            shared = None if self._log is None else self.interned(self.shared(result, active))
        if step is not None:
            step()
        if shared is not None:
            log = self._log
            assert log is not None  # a shared tuple is built only with a log
            log(shared, job_id if type(job_id) is str else _loggable(job_id),
                topic if type(topic) is str else _loggable(topic),
                env if type(env) is str else _loggable(env),
                cidr if cidr is None or type(cidr) is str else _loggable(cidr))

    def unanswered(self, result: GateResult, env: object, active: ActiveBundle | None,
                   ) -> tuple[Step | None, tuple[object, ...] | None]:
        """The step and the shared log fields of ``result``, a result without a verdict
        or an approval, as ``step`` and ``shared`` make them: kept by the fields they
        are made of (every field but the HTTP status and the waits, with the env's label
        for a bypass, and the bundle the result came with), as for a verdict."""
        (action, _verdict, bypass, reason, tier, mode, bundle, _status, _retry, _backoff,
         _request, _approval, cause, overridden) = result
        # Enum members by id (singletons): hashing one is a Python call.
        key = (id(action), reason, id(tier), id(mode), bypass, bundle, cause, overridden,
               self.env_label(env, active) if bypass else None, id(active))
        kept = self._unanswered.get(key)
        if kept is None or kept[0] is not active:
            step = None if self.metrics is None else self.step(result, env, active)
            shared = None if self._log is None else self.interned(self.shared(result, active))
            kept = (active, step, shared)
            if len(self._unanswered) >= MAX_CACHED_ANSWERS:
                self._unanswered.clear()
            self._unanswered[key] = kept
        return kept[1], kept[2]

    def interned(self, shared: tuple[object, ...]) -> tuple[object, ...]:
        """One tuple per distinct ``shared`` without an approval (words only), so that
        the decision log encodes each once; one with an approval as it is."""
        if shared[_APPROVAL] is not None:
            return shared
        interned = self._interned.get(shared)
        if interned is None:
            if len(self._interned) >= MAX_CACHED_ANSWERS:
                self._interned.clear()
            interned = self._interned[shared] = shared
        return interned

    def step(self, result: GateResult, env: object, active: ActiveBundle | None) -> Step:
        """The metrics' step counting one check that ended in ``result``: the job, its
        decision and, when it is one, the bypass (by ``env``'s bounded label), the
        override, the requeue or the kill switch."""
        assert self.metrics is not None
        (action, verdict, bypass, reason, tier, _mode, _bundle, _status, _retry, _backoff,
         _request, _approval, _cause, overridden) = result
        tier_label = _NO_TIER if tier is None else tier
        # The policy's decision, as the alert rules and dashboards read it; "none"
        # when no verdict was reached (the tier's fail mode decided the action).
        return self.metrics.checked(tuple.__new__(CheckOutcome, (
            self.gate, _NO_TIER if verdict is None else verdict.decision, tier_label, reason,
            self.env_label(env, active) if bypass else None, bypass and overridden,
            action is Action.REQUEUE, reason == KILL_SWITCH)))

    def shared(self, result: GateResult, active: ActiveBundle | None) -> tuple[object, ...]:
        """The decision log's ``SHARED_FIELDS`` of ``result``: every field of its entry
        but the request's. Words as plain strings, not enum members (the same JSON), so
        that the tuple, and each queued entry holding it, holds no object the garbage
        collector must track while it waits for the writer."""
        (action, verdict, bypass, reason, tier, mode, bundle, _status, _retry, _backoff,
         _request, approval, cause, _overridden) = result
        return (
            self.gate, None if verdict is None else _word(verdict.decision),
            None if verdict is None else verdict.rule, reason,
            None if tier is None else _word(tier), None if mode is None else _word(mode),
            bypass, bundle, None if active is None else active.policy,
            None if approval is None else {
                "token_id": approval.token_id, "approver": approval.approver},
            _word(action), cause,
        )

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
    return new_tuple(ApprovalRequest, (job_id, job_hash, verdict.bundle, verdict.rule,
                                  topic if type(topic) is str else text(topic),
                                  env if type(env) is str else text(env)))


def text(value: object) -> str:
    """A request value as a binding's string: a string's own text, anything else's
    ``str`` (never raises: what cannot be shown is named by its type)."""
    if isinstance(value, str):
        return str.__str__(value)  # not a subclass's __str__, which could raise
    try:
        return str(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


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


#: An enum word's plain string (``str.__str__``: a C call, where ``.value`` is Python).
_word = str.__str__


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

