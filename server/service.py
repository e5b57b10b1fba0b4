"""The decision service behind the HTTP layer: decide, count, log, answer in bytes.

``DecisionService`` wraps one ``BundleHolder`` (hot reload, persistence, kill switches)
with the gates' telemetry. Every decision it makes

- is made by exactly one verified bundle (the holder's guarantee), and named by that
  bundle's content hash in the answer;
- gets a ``decision_id``, the one its decision-log entry carries, so that a client's
  answer and the server's log line can be joined: ``decision_stamp()``'s id (unique in
  the process) for a single request, and for the items of a batch that id of the batch
  with ``.INDEX`` appended (``3545ce0a96bc-7.0``, ``3545ce0a96bc-7.1``, ...);
- counts one ``dualgate_jobs_received_total{gate}`` and one
  ``dualgate_decisions_total{gate,decision,tier,reason}``, ``gate`` being the word the
  request named (``server`` when it named none).

Answers are the verdict JSON of ``dualgate eval --format json`` (``Verdict.to_json``),
with ``decision_id`` added. Verdicts are shared objects, so each is encoded once and the
bytes reused; only the decision id is appended per answer.

Nothing here raises on request data; ``decide`` and ``decide_batch`` raise
``PolicyUnavailable`` only while no bundle was ever activated.
"""

from __future__ import annotations

import json
from typing import Any

from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates import ActiveBundle, BundleHolder, PolicyUnavailable
from dualgate.runtime.gates.killswitch import KILL_SWITCH
from dualgate.runtime.telemetry import DecisionLog, GateMetrics, decision_stamp
from dualgate.runtime.telemetry.metrics import CheckOutcome, Step
from dualgate.runtime.verdict import MALFORMED_REQUEST, Verdict
from dualgate.runtime.vocabulary import Decision
from dualgate.server.requests import DEFAULT_GATE, DecideRequest

#: Encoded verdicts kept; past this many the cache starts over (bounded memory).
_MAX_ENCODED = 4096
_NO_TIER = "none"
NO_BUNDLE = "no-bundle"
#: A verdict, its JSON without the closing brace, its decision, tier and reason words, and
#: the counter step of a decision by each gate that asked.
_Encoded = tuple[Verdict, bytes, str, str, str, dict[str, Step]]
_ENCODER = json.JSONEncoder(separators=(",", ":"))


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

    def decide(self, request: DecideRequest) -> bytes:
        """The answer to one request: its verdict JSON with ``decision_id``."""
        if self.holder.active is None:
            self._unavailable([request])
        return self._answers([request], batch=False)[0]

    def decide_batch(self, items: list[DecideRequest | str]) -> bytes:
        """The answers to a batch, in order, as ``{"results": [...]}``: an item that is
        no request (its fault, a ``str``) is denied as ``malformed-request`` with its
        ``error``."""
        if self.holder.active is None:
            self._unavailable(items)
        return b'{"results":[' + b",".join(self._answers(items, batch=True)) + b"]}"

    def _unavailable(self, items: list[DecideRequest | str] | list[DecideRequest]) -> None:
        for item in items:
            gate = item.gate if isinstance(item, DecideRequest) else DEFAULT_GATE
            self.metrics.job_received(gate)
            self.metrics.policy_unavailable(gate, NO_BUNDLE)
        raise PolicyUnavailable(NO_BUNDLE, "no bundle was ever activated")

    def _answers(self, items: list[DecideRequest | str] | list[DecideRequest], *,
                 batch: bool) -> list[bytes]:
        """Each item's answer, counted and logged; the loop every decision runs, so it
        keeps what it calls in locals and each verdict's encoding and label words in
        ``_encoded``."""
        decide = self.holder.decide
        log, encoded = self.decision_log, self._encoded
        answers: list[bytes] = []
        append = answers.append
        # One stamp for the whole batch: its items' ids are the batch's id and their index.
        stamp, batch_id = decision_stamp()
        for index, item in enumerate(items):
            decision_id = f"{batch_id}.{index}" if batch else batch_id
            if isinstance(item, str):
                append(self._malformed(item, self.holder.active, stamp, decision_id))
                continue
            topic, env, cidr, gate, job_id = item
            verdict, active = decide(topic, env, cidr)
            cached = encoded.get(id(verdict))
            if cached is None or cached[0] is not verdict:
                cached = self._encode(verdict)
            _, prefix, decision, tier, reason, steps = cached
            # One counter step counts the job received and its decision (``checked``).
            step = steps.get(gate)
            if step is None:
                step = steps[gate] = self._step(gate, decision, tier, reason)
            step()
            if log is not None:
                log.record({
                    "timestamp": stamp, "decision_id": decision_id, "gate": gate,
                    "job_id": job_id, "topic": topic, "env": env, "cidr": cidr,
                    "decision": decision, "rule": verdict.rule, "reason": reason,
                    "tier": verdict.tier, "fail_mode": verdict.fail_mode, "bypass": False,
                    "bundle": verdict.bundle, "policy": active.policy, "approval": None,
                })
            append(prefix + b',"decision_id":"' + decision_id.encode() + b'"}')
        return answers

    def _encode(self, verdict: Verdict) -> _Encoded:
        """A verdict's JSON without its closing brace (the decision id is appended to it)
        and its label words as plain strings (an enum member hashes in Python code)."""
        if len(self._encoded) >= _MAX_ENCODED:
            self._encoded.clear()
        tier = _NO_TIER if verdict.tier is None else verdict.tier.value
        entry: _Encoded = (verdict, _ENCODER.encode(verdict.to_json())[:-1].encode(),
                 verdict.decision.value, tier, verdict.reason, {})
        self._encoded[id(verdict)] = entry
        return entry

    def _step(self, gate: str, decision: str, tier: str, reason: str) -> Step:
        """The counter step of one decision by ``gate``: the job received and its decision
        in one call; the verdict's cache entry keeps it per gate (gate names are bounded
        words, and the entries are bounded too)."""
        return self.metrics.checked(CheckOutcome(gate, decision, tier, reason,
                                                 killed=reason == KILL_SWITCH))

    def _malformed(self, fault: str, active: ActiveBundle | None, stamp: float,
                   decision_id: str) -> bytes:
        """A batch item that is no request: denied, as ``eval --input`` denies a line."""
        if active is None:
            raise PolicyUnavailable(NO_BUNDLE, "no bundle was ever activated")
        self.metrics.job_received(DEFAULT_GATE)
        self.metrics.decision(DEFAULT_GATE, Decision.DENY, _NO_TIER, MALFORMED_REQUEST)
        answer = {"decision": Decision.DENY.value, "rule": None, "reason": MALFORMED_REQUEST,
                  "tier": None, "fail_mode": None, "bundle": active.content_hash,
                  "error": fault, "decision_id": decision_id}
        if self.decision_log is not None:
            self.decision_log.record({
                "timestamp": stamp, "decision_id": decision_id, "gate": DEFAULT_GATE,
                "job_id": None, "topic": None, "env": None, "cidr": None,
                "decision": Decision.DENY.value, "rule": None, "reason": MALFORMED_REQUEST,
                "tier": None, "fail_mode": None, "bypass": False,
                "bundle": active.content_hash, "policy": active.policy, "approval": None,
            })
        return _ENCODER.encode(answer).encode()

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
