"""The decision service behind the HTTP layer: decide, count, log, answer in bytes.

``DecisionService`` wraps one ``BundleHolder`` (hot reload, persistence, kill switches)
with the gates' telemetry. Every decision it makes

- is made by exactly one verified bundle (the holder's guarantee), and named by that
  bundle's content hash in the answer; a batch, while no kill switch is in effect, by
  the bundle active when it began (a kill switch set meanwhile applies from the next
  request); with one in effect, item by item through the holder, which applies it;
- gets a ``decision_id``, the one its decision-log entry carries, so that a client's
  answer and the server's log line can be joined: ``decision_stamp()``'s id (unique in
  the process) for a single request, and for the items of a batch that id of the batch
  with ``.INDEX`` appended (``3545ce0a96bc-7.0``, ``3545ce0a96bc-7.1``, ...);
- counts one ``dualgate_jobs_received_total{gate}`` and one
  ``dualgate_decisions_total{gate,decision,tier,reason}``, ``gate`` being the word the
  request named (``server`` when it named none);
- is logged (with a decision log) through ``DecisionLog.record_decision``, with the
  fields its verdict shares with every request it answers built once per (verdict,
  gate): the line ``record`` would write for the entry (``action`` and ``cause`` null,
  ``bypass`` false). A batch item that is no request is logged as the entry of a
  malformed request: ``reason`` ``malformed-request`` and null request fields, which the
  log's readers pass over (``decision_log.malformed_entry``).

Answers are the verdict JSON of ``dualgate eval --format json`` (``Verdict.to_json``),
with ``decision_id`` added. Verdicts are shared objects, so each is encoded once and the
bytes reused; only the decision id is appended per answer.

Nothing here raises on request data; ``decide`` and ``decide_batch`` raise
``PolicyUnavailable`` only while no bundle was ever activated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates import ActiveBundle, BundleHolder, PolicyUnavailable
from dualgate.runtime.gates.killswitch import KILL_SWITCH
from dualgate.runtime.telemetry import DecisionLog, GateMetrics, decision_stamp
from dualgate.runtime.telemetry.decision_log import SHARED_FIELDS
from dualgate.runtime.telemetry.metrics import CheckOutcome, Step
from dualgate.runtime.verdict import MALFORMED_REQUEST, Verdict
from dualgate.runtime.vocabulary import Decision
from dualgate.server.requests import DEFAULT_GATE, RequestValues

#: Encoded verdicts kept; past this many the cache starts over (bounded memory).
_MAX_ENCODED = 4096
_NO_TIER = "none"
NO_BUNDLE = "no-bundle"
#: A (verdict, gate)'s counter step and decision-log fields (``SHARED_FIELDS``).
_PerGate = tuple[Step, tuple[object, ...]]
#: A verdict, its JSON without the closing brace, and what each gate that asked keeps.
_Encoded = tuple[Verdict, bytes, dict[str, _PerGate]]
#: A batch's id tails by index: to close an answer with, and to log with.
_Indexes = tuple[list[bytes], list[str]]
#: The id tails of a single request: its id is the decision stamp's, without an index.
_SINGLE: _Indexes = ([b'"},'], [""])
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _shared(gate: str, decision: str, rule: str | None, reason: str,  # noqa: PLR0917
            tier: object, fail_mode: object, bundle: str, policy: str) -> tuple[object, ...]:
    """The decision log's ``SHARED_FIELDS`` of a server decision: the fields ``record``
    wrote for it, with ``bypass`` false and no approval, action or cause."""
    fields = {"gate": gate, "decision": decision, "rule": rule, "reason": reason,
              "tier": tier, "fail_mode": fail_mode, "bypass": False, "bundle": bundle,
              "policy": policy, "approval": None, "action": None, "cause": None}
    return tuple(fields[key] for key in SHARED_FIELDS)


class DecisionService:
    """Decisions, health, status and the active bundle for the HTTP layer (see the module
    docstring). ``watch_interval`` (seconds) starts the holder's watcher on ``start()``;
    None leaves reloading to the caller. ``close()`` stops the watcher and writes every
    queued decision-log entry. Meant to be driven from one event-loop thread; the holder
    it reads is safe to reload from any thread meanwhile."""

    def __init__(self, holder: BundleHolder, *, metrics: GateMetrics,
                 decision_log: DecisionLog | None = None,
                 watch_interval: float | None = None, jitter: float = 0.1) -> None:
        self.holder = holder
        self.metrics = metrics
        self.decision_log = decision_log
        self.watch_interval = watch_interval
        self.jitter = jitter
        self._encoded: dict[int, _Encoded] = {}
        self._batch_indexes: _Indexes = ([], [])
        self._document: tuple[str, bytes] | None = None

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start watching the bundle source (when ``watch_interval`` is set)."""
        if self.watch_interval is not None and not self.holder.watching:
            self.holder.start(self.watch_interval, self.jitter)

    def close(self) -> None:
        """Stop the watcher and flush the decision log (everything answered is written)."""
        self.holder.stop(timeout=15.0)
        if self.decision_log is not None:
            self.decision_log.close()

    # -- deciding ------------------------------------------------------------------

    def decide(self, request: RequestValues) -> bytes:
        """The answer to one request: its verdict JSON with ``decision_id``."""
        if self.holder.active is None:
            self._unavailable([request])
        answer = self._answers([request], decision_stamp()[1], _SINGLE)
        return answer[:-1]  # without the separator after it

    def decide_batch(self, items: list[RequestValues | str]) -> bytes:
        """The answers to a batch, in order, as ``{"results": [...]}``: an item that is
        no request (its fault, a ``str``) is denied as ``malformed-request`` with its
        ``error``."""
        if self.holder.active is None:
            self._unavailable(items)
        if not items:
            return b'{"results":[]}'
        # One id for the whole batch: its items' ids are the batch's id and their index.
        answers = self._answers(items, decision_stamp()[1], self._indexes(len(items)))
        return b'{"results":[' + answers[:-1] + b"]}"

    def _unavailable(self, items: Sequence[RequestValues | str]) -> None:
        for item in items:
            gate = DEFAULT_GATE if type(item) is str else item[3]
            self.metrics.job_received(gate)
            self.metrics.policy_unavailable(gate, NO_BUNDLE)
        raise PolicyUnavailable(NO_BUNDLE, "no bundle was ever activated")

    def _answers(self, items: Sequence[RequestValues | str], base_id: str,
                 indexes: _Indexes) -> bytes:
        """Each item's answer followed by a comma, counted and logged; the loop every
        decision runs, so it keeps what it calls in locals, each verdict's encoding in
        ``_encoded`` and each (verdict, gate)'s counter step and log fields with it.
        Item ``index`` is answered and logged with the id ``base_id`` followed by
        ``indexes``' text of ``index`` (the same string in both)."""
        holder, encoded = self.holder, self._encoded
        log = self.decision_log
        record = None if log is None else log.record_decision
        active = holder.active
        if active is None:
            raise PolicyUnavailable(NO_BUNDLE, "no bundle was ever activated")
        # Without a kill switch in effect, the batch is decided by the bundle active at
        # its start, without asking the holder item by item; with one, each item goes
        # through the holder, which denies the topics the switches kill. (A holder's
        # bundles are all of one policy, the one ``active`` names.)
        decide = self._through_holder if holder.kill_switches() else active.bundle.decide
        head = b',"decision_id":"' + base_id.encode()
        tails, texts = indexes
        parts: list[bytes] = []
        extend = parts.extend
        # The tails are as many as the items or more (``_indexes``).
        for item, tail, text in zip(items, tails, texts, strict=False):
            if isinstance(item, str):
                extend(self._malformed(item, active, base_id + text))
                continue
            topic, env, cidr, gate, job_id = item
            verdict = decide(topic, env, cidr)
            cached = encoded.get(id(verdict))
            if cached is None or cached[0] is not verdict:
                cached = self._encode(verdict)
            per_gate = cached[2].get(gate)
            if per_gate is None:
                per_gate = self._per_gate(cached, gate, active)
            # One counter step counts the job received and its decision (``checked``).
            per_gate[0]()
            if record is not None:
                record(per_gate[1], job_id, topic, env, cidr, decision_id=base_id + text)
            extend((cached[1], head, tail))
        return b"".join(parts)

    def _through_holder(self, topic: object, env: object, cidr: object) -> Verdict:
        """The holder's verdict, kill switches applied."""
        return self.holder.decide(topic, env, cidr)[0]

    def _indexes(self, count: int) -> _Indexes:
        """The id tails of a batch of ``count`` items: ``.INDEX"},`` to close each
        answer, and ``.INDEX`` to log with (built once, for the largest batch yet)."""
        indexes = self._batch_indexes
        if len(indexes[0]) < count:
            size = max(count, 128)
            indexes = self._batch_indexes = (
                [b'.%d"},' % index for index in range(size)],
                [f".{index}" for index in range(size)])
        return indexes

    def _encode(self, verdict: Verdict) -> _Encoded:
        """A verdict's JSON without its closing brace (the decision id is appended to
        it), cached by the verdict's identity (a kill switch's verdict, made per
        decision, is not kept: it would only crowd out the verdicts that repeat)."""
        entry: _Encoded = (verdict, _ENCODER.encode(verdict.to_json())[:-1].encode(), {})
        if verdict.reason != KILL_SWITCH:
            if len(self._encoded) >= _MAX_ENCODED:
                self._encoded.clear()
            self._encoded[id(verdict)] = entry
        return entry

    def _per_gate(self, cached: _Encoded, gate: str, active: ActiveBundle) -> _PerGate:
        """The counter step of a decision of ``cached``'s verdict by ``gate`` (the job
        received and its decision in one call) and its decision-log fields (those
        ``record`` wrote, in ``SHARED_FIELDS`` order), kept in the verdict's entry
        (gate names are bounded words, and the entries are bounded too)."""
        verdict = cached[0]
        tier = _NO_TIER if verdict.tier is None else verdict.tier.value
        step = self.metrics.checked(CheckOutcome(
            gate, verdict.decision.value, tier, verdict.reason,
            killed=verdict.reason == KILL_SWITCH))
        shared = _shared(gate, verdict.decision.value, verdict.rule, verdict.reason,
                         verdict.tier, verdict.fail_mode, verdict.bundle, active.policy)
        per_gate = cached[2][gate] = (step, shared)
        return per_gate

    def _malformed(self, fault: str, active: ActiveBundle, decision_id: str
                   ) -> tuple[bytes, bytes]:
        """A batch item that is no request: denied, as ``eval --input`` denies a line;
        its answer and the separator after it."""
        self.metrics.job_received(DEFAULT_GATE)
        self.metrics.decision(DEFAULT_GATE, Decision.DENY, _NO_TIER, MALFORMED_REQUEST)
        answer = {"decision": Decision.DENY.value, "rule": None, "reason": MALFORMED_REQUEST,
                  "tier": None, "fail_mode": None, "bundle": active.content_hash,
                  "error": fault, "decision_id": decision_id}
        if self.decision_log is not None:
            shared = _shared(DEFAULT_GATE, Decision.DENY.value, None, MALFORMED_REQUEST,
                             None, None, active.content_hash, active.policy)
            self.decision_log.record_decision(shared, None, None, None, None,
                                              decision_id=decision_id)
        return _ENCODER.encode(answer).encode(), b","

    # -- what the other endpoints read -----------------------------------------------

    def bundle(self) -> tuple[str, bytes] | None:
        """The active bundle's content hash and file bytes (as ``dualgate compile``
        writes them, signature included), or None while there is none."""
        active = self.holder.active
        if active is None:
            return None
        cached = self._document
        if cached is None or cached[0] != active.content_hash:
            cached = self._document = (active.content_hash, serialize(active.bundle.document))
        return cached

    def health(self) -> tuple[int, dict[str, Any]]:
        """200 while a verified bundle is active (``stale`` says whether the source was
        checked within ``max_age``), 503 while there is none."""
        status = self.holder.status()
        active = status["active"]
        if active is None:
            return 503, {"status": "unavailable", "reason": "no bundle is active",
                         "stale": True}
        return 200, {"status": "stale" if status["stale"] else "ok",
                     "policy": active["policy"], "bundle": active["content_hash"],
                     "stale": status["stale"],
                     "seconds_since_check": status["seconds_since_check"],
                     "last_failed_load": status["last_failed_load"]}

    def status(self) -> dict[str, Any]:
        """The holder's ``status()`` and the decision log's counts."""
        log = self.decision_log
        return {**self.holder.status(),
                "decision_log": None if log is None else log.stats()}
