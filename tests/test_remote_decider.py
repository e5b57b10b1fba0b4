"""RemoteDecider against a scripted transport: answers become shared verdicts, every
failure is a ``PolicyUnavailable`` with a bounded cause, the breaker opens after three
failures, refuses calls unsent while open, and closes after three half-open probes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dualgate.runtime import load_bundle
from dualgate.runtime.gates import Action, BundleHolder, PolicyUnavailable, SubmitGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.remote import RemoteDecider
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from tests.gates_support import POLICY_REWORDED, bundle_bytes
from tests.imports import imported_after

Handler = Callable[[Any], Any]


class Script:
    """A transport whose answer the test sets: the real bundle's verdicts by default."""

    def __init__(self, bundle_path: Path) -> None:
        self.bundle = load_bundle(bundle_path)
        self.behaviour: Handler | None = None
        self.requests: list[Any] = []
        self.lock = threading.Lock()

    def answer(self, request: Any) -> Any:
        body = json.loads(request.content)
        verdict = self.bundle.decide(body["topic"], body["env"], body.get("cidr"))
        return httpx.Response(200, json={**verdict.to_json(), "decision_id": "x-1"})

    def __call__(self, request: Any) -> Any:
        with self.lock:
            self.requests.append(request)
        behaviour = self.behaviour
        return self.answer(request) if behaviour is None else behaviour(request)


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return path


@pytest.fixture
def script(bundle_path: Path) -> Script:
    return Script(bundle_path)


def remote(script: Script, bundle_path: Path, **options: Any) -> RemoteDecider:
    options.setdefault("reset_timeout", 0.2)
    return RemoteDecider("http://decider.test", holder=BundleHolder(bundle_path),
                         transport=httpx.MockTransport(script), **options)


def _raise(error: Exception) -> Handler:
    def behaviour(request: Any) -> Any:
        raise error
    return behaviour


def _status(code: int, body: Any = None) -> Handler:
    return lambda request: httpx.Response(code, json=body if body is not None else {"e": 1})


def test_answers_are_the_servers_verdicts_as_shared_objects(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, token="t0ken", gate="submit")
    verdict, active = decider("payments.refund", "production", "10.1.2.3")
    assert verdict == script.bundle.decide("payments.refund", "production", "10.1.2.3")
    assert active is decider.holder.active
    again, _ = decider("payments.refund", "production", "10.1.2.3")
    assert again is verdict
    sent = script.requests[0]
    assert sent.headers["authorization"] == "Bearer t0ken"
    assert json.loads(sent.content) == {"topic": "payments.refund", "env": "production",
                                        "cidr": "10.1.2.3", "gate": "submit"}
    assert decider.stats() == {"state": "closed", "sent": 2, "failures": {}}


@pytest.mark.parametrize(("behaviour", "cause"), [
    (_raise(httpx.ReadTimeout("slow")), "timeout"),
    (_raise(httpx.ConnectTimeout("slow")), "timeout"),
    (_raise(httpx.ConnectError("refused")), "unreachable"),
    (_raise(httpx.RemoteProtocolError("closed")), "connection-error"),
    (_raise(httpx.ReadError("reset")), "connection-error"),
    (_status(500), "server-error"),
    (_status(503, {"error": "none", "cause": "no-bundle"}), "no-bundle"),
    (_status(503, {"error": "busy", "cause": "anything else"}), "server-error"),
    (_status(401), "unauthorized"),
    (_status(403), "unauthorized"),
    (_status(400), "rejected"),
    (lambda request: httpx.Response(200, content=b"<html>"), "bad-response"),
    (_status(200, {"decision": "maybe", "rule": None, "reason": "rule", "tier": None,
                   "fail_mode": None, "bundle": "b"}), "bad-response"),
    (_status(200, {"decision": "allow", "rule": 5, "reason": "rule", "tier": None,
                   "fail_mode": None, "bundle": "b"}), "bad-response"),
    (_status(200, {"decision": "allow", "rule": None, "reason": "rule", "tier": "huge",
                   "fail_mode": None, "bundle": "b"}), "bad-response"),
    (_status(200, [1, 2]), "bad-response"),
])
def test_every_failure_is_policy_unavailable_with_a_bounded_cause(
        script: Script, bundle_path: Path, behaviour: Handler, cause: str) -> None:
    decider = remote(script, bundle_path)
    script.behaviour = behaviour
    with pytest.raises(PolicyUnavailable) as raised:
        decider("infra.vm.read", "staging")
    assert raised.value.cause == cause
    assert decider.stats()["failures"] == {cause: 1}


def test_the_breaker_opens_after_three_failures_and_then_sends_nothing(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, reset_timeout=30)
    script.behaviour = _raise(httpx.ConnectError("refused"))
    causes = []
    for _ in range(6):
        with pytest.raises(PolicyUnavailable) as raised:
            decider("infra.vm.read", "staging")
        causes.append(raised.value.cause)
    assert causes == ["unreachable"] * 3 + ["circuit-open"] * 3
    assert len(script.requests) == 3
    assert decider.state == "open"


def test_half_open_probes_close_the_breaker_after_three_successes(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, reset_timeout=0.05)
    script.behaviour = _status(500)
    for _ in range(3):
        with pytest.raises(PolicyUnavailable):
            decider("infra.vm.read", "staging")
    assert decider.state == "open"
    script.behaviour = None
    time.sleep(0.08)
    decider("infra.vm.read", "staging")
    assert decider.state == "half-open"
    decider("infra.vm.read", "staging")
    assert decider.state == "half-open"
    decider("infra.vm.read", "staging")
    assert decider.state == "closed"


def test_a_failed_probe_opens_the_breaker_again(script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, reset_timeout=0.05)
    script.behaviour = _status(500)
    for _ in range(3):
        with pytest.raises(PolicyUnavailable):
            decider("infra.vm.read", "staging")
    time.sleep(0.08)
    script.behaviour = None
    decider("infra.vm.read", "staging")  # one probe passes
    script.behaviour = _status(500)
    with pytest.raises(PolicyUnavailable) as raised:
        decider("infra.vm.read", "staging")
    assert raised.value.cause == "server-error"
    assert decider.state == "open"
    sent = len(script.requests)
    with pytest.raises(PolicyUnavailable) as refused:
        decider("infra.vm.read", "staging")
    assert refused.value.cause == "circuit-open" and len(script.requests) == sent


def test_at_most_three_probes_are_in_flight_while_half_open(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, reset_timeout=0.05)
    script.behaviour = _status(500)
    for _ in range(3):
        with pytest.raises(PolicyUnavailable):
            decider("infra.vm.read", "staging")
    release = threading.Event()
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def slow(request: Any) -> Any:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        release.wait(5)
        with lock:
            in_flight[0] -= 1
        return script.answer(request)

    script.behaviour = slow
    time.sleep(0.08)
    outcomes: list[str] = []

    def call() -> None:
        try:
            decider("infra.vm.read", "staging")
            outcomes.append("decided")
        except PolicyUnavailable as error:
            outcomes.append(error.cause)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    release.set()
    for thread in threads:
        thread.join(5)
    assert most[0] <= 3
    assert outcomes.count("decided") >= 1
    assert set(outcomes) <= {"decided", "circuit-open"}


def test_calls_in_the_closed_state_run_concurrently(script: Script, bundle_path: Path) -> None:
    """The breaker's lock is not held across a request: slow answers overlap."""
    decider = remote(script, bundle_path)
    barrier = threading.Barrier(4, timeout=5)

    def together(request: Any) -> Any:
        barrier.wait()  # only passes when four requests are in flight at once
        return script.answer(request)

    script.behaviour = together
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        decider("infra.vm.read", "staging")[0].decision)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["allow"] * 4


def test_a_request_that_cannot_be_sent_is_denied_by_the_fetched_bundle(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path)
    for topic, env, cidr in ((5, "staging", None), ("infra.vm.read", None, None),
                             ("infra.vm.read", "staging", 10), (object(), "x", None)):
        verdict, _ = decider(topic, env, cidr)
        assert verdict == script.bundle.decide(topic, env, cidr)
        assert verdict.decision == "deny"
    assert script.requests == []


def test_without_a_fetched_bundle_there_is_no_decision(
        script: Script, tmp_path: Path) -> None:
    empty = BundleHolder(tmp_path / "none.bundle.json")
    decider = RemoteDecider("http://decider.test", holder=empty,
                            transport=httpx.MockTransport(script))
    for request in (("infra.vm.read", "staging"), (5, "staging")):
        with pytest.raises(PolicyUnavailable) as raised:
            decider(*request)
        assert raised.value.cause == "no-bundle"


def test_a_verdict_of_another_bundle_refreshes_the_fetched_one(
        script: Script, bundle_path: Path, tmp_path: Path) -> None:
    decider = remote(script, bundle_path)
    old = decider.holder.active
    assert old is not None
    newer = tmp_path / "newer.bundle.json"
    newer.write_bytes(bundle_bytes(POLICY_REWORDED))
    script.bundle = load_bundle(newer)  # the server reloaded
    bundle_path.write_bytes(newer.read_bytes())  # and so did the holder's source
    decider._last_refresh -= 10  # the refresh spacing has passed
    verdict, active = decider("infra.vm.read", "staging")
    assert verdict.bundle == script.bundle.content_hash == active.content_hash
    assert active.content_hash != old.content_hash


def test_gates_apply_the_tier_fail_modes_when_the_server_fails(
        script: Script, bundle_path: Path) -> None:
    decider = remote(script, bundle_path, reset_timeout=30)
    metrics = GateMetrics()
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    gate = SubmitGate(decider.holder, decider=decider, fail_modes=FailModes(),
                      metrics=metrics, decision_log=log)
    assert gate.check("repo.file.read", "staging", job_id="j", job_hash="h").action \
        is Action.ADMIT
    script.behaviour = _raise(httpx.ConnectError("refused"))
    high = gate.check("payments.refund", "staging", job_id="j1", job_hash="h")
    assert (high.action, high.bypass, high.http_status, high.cause) == (
        Action.REJECT, False, 503, "unreachable")
    low = [gate.check("repo.file.read", "staging", job_id=f"j{n}", job_hash="h")
           for n in range(4)]
    assert all(r.action is Action.ADMIT and r.bypass for r in low)
    assert [r.cause for r in low] == ["unreachable", "unreachable", "circuit-open",
                                      "circuit-open"]
    assert metrics.snapshot()["dualgate_fail_open_total"] == {("submit", "low", "staging"): 4}
    log.close()
    bypasses = [json.loads(line) for line in lines if json.loads(line)["bypass"]]
    assert [b["job_id"] for b in bypasses] == ["j0", "j1", "j2", "j3"]


def test_options_are_checked(script: Script, bundle_path: Path) -> None:
    with pytest.raises(ValueError, match="no http"):
        RemoteDecider("decider.test")
    with pytest.raises(ValueError, match="fail_max"):
        remote(script, bundle_path, fail_max=0)
    with pytest.raises(ValueError, match="own holder"):
        remote(script, bundle_path, persist_dir="state")


def test_the_gates_import_neither_httpx_nor_pybreaker() -> None:
    modules = imported_after("import dualgate.runtime.gates")
    assert not [m for m in modules if m.split(".")[0] in ("httpx", "pybreaker")]
    lazily = imported_after("from dualgate.runtime.gates import RemoteDecider")
    assert "httpx" in lazily and "pybreaker" in lazily
