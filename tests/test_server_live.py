"""The decision server on a real Uvicorn (a loopback port, a thread of this process)
under load: stopped mid-load, the remote decider's breaker opens within three failures,
the high tier fails closed and the open tier bypasses, every bypass counted and logged;
restarted, the breaker goes half-open and closes. And 100 bundle reloads while serving
fail no request."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pybreaker
import pytest

from dualgate.runtime import load_bundle
from dualgate.runtime.gates import Action, BundleHolder, GateResult, SubmitGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.remote import RemoteDecider
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.server import DecisionService, ServerThread, create_app
from tests.gates_support import POLICY, bundle_bytes, eventually

#: One job per tier: high (closed), medium (closed), low (open).
JOBS = (("payments.refund", "staging"), ("infra.vm.delete", "staging"),
        ("repo.file.read", "staging"))
THREADS = 4
RESET_TIMEOUT = 0.5


def _server(bundle_path: Path, port: int = 0) -> ServerThread:
    holder = BundleHolder(bundle_path)
    service = DecisionService(holder, metrics=GateMetrics(use_prometheus=True))
    return ServerThread(create_app(service), port=port).start()


def _network_failures(decider: RemoteDecider) -> int:
    """The decider's failed calls that reached the network (not refused by the breaker)."""
    failures = decider.stats()["failures"]
    return sum(n for cause, n in failures.items() if cause != "circuit-open")


class Transitions(pybreaker.CircuitBreakerListener):
    """The breaker's state changes, with its failure count when each happened."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any,
                     new_state: Any) -> None:
        self.seen.append((new_state.name, cb.fail_counter))


class Load:
    """``THREADS`` clients checking the jobs through ``gate`` until stopped; every result
    is kept with the phases it began and ended in."""

    def __init__(self, gate: SubmitGate) -> None:
        self.gate = gate
        self.phase = "up"
        #: (phase when the check began, phase when it ended, topic, result)
        self.results: list[tuple[str, str, str, GateResult]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(THREADS)]

    def _run(self, number: int) -> None:
        count = 0
        while not self._stop.is_set():
            topic, env = JOBS[(number + count) % len(JOBS)]
            began = self.phase
            result = self.gate.check(topic, env, job_id=f"job-{number}-{count}",
                                     job_hash="h")
            with self._lock:
                self.results.append((began, self.phase, topic, result))
            count += 1
            time.sleep(0.002)  # a bounded rate: the machine is shared

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)



def test_stopping_the_server_mid_load_opens_the_breaker_and_restarting_closes_it(
        tmp_path: Path) -> None:
    bundle_path = tmp_path / "shop.bundle.json"
    bundle_path.write_bytes(bundle_bytes())
    server = _server(bundle_path)
    decider = RemoteDecider(server.url, gate="submit", reset_timeout=RESET_TIMEOUT,
                            refresh_interval=None)
    transitions = Transitions()
    decider.breaker.add_listener(transitions)
    metrics = GateMetrics()
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append), metrics=metrics)
    gate = SubmitGate(decider.holder, decider=decider, fail_modes=FailModes(),
                      metrics=metrics, decision_log=log)
    try:
        with Load(gate) as load:
            time.sleep(0.3)
            # A loaded machine may time a call out while the server is up: not counted.
            failed_before = _network_failures(decider)
            load.phase = "down"
            server.stop()
            assert eventually(lambda: decider.state == "open", 5)
            time.sleep(0.3)
            load.phase = "restarting"
            server = _server(bundle_path, port=server.port)
            assert eventually(lambda: decider.state == "closed", 10 * RESET_TIMEOUT)
            failed_while_down = _network_failures(decider) - failed_before
            load.phase = "recovered"
            time.sleep(0.2)
    finally:
        server.stop()
        decider.close()
    log.close()

    # The breaker opened at exactly three consecutive failures, then probed and closed.
    names = [name for name, _ in transitions.seen]
    assert names[0] == "open" and transitions.seen[0][1] == 3
    assert "half-open" in names and names[-1] == "closed"
    failures = decider.stats()["failures"]
    reopenings = names.count("open") - 1  # each a failed probe
    # Three, plus what was already in flight on the other clients when it opened.
    assert failed_while_down <= 3 + (THREADS - 1) + reopenings * 3
    assert failures.get("circuit-open", 0) > 0

    assert any(began == "down" for began, _, _, _ in load.results), "none checked while down"
    # Until the breaker closed again (down, then restarting) the policy was unavailable.
    unavailable = [(topic, r) for _, _, topic, r in load.results if r.verdict is None]
    assert unavailable
    assert {ended for _, ended, _, r in load.results if r.verdict is None} <= {
        "down", "restarting"}
    for topic, result in unavailable:
        assert result.cause in ("unreachable", "connection-error", "circuit-open")
        if topic == "repo.file.read":  # low: fails open, counted
            assert (result.action, result.bypass, result.http_status) == (
                Action.ADMIT, True, 202)
        else:  # high and medium: fail closed
            assert (result.action, result.bypass, result.http_status) == (
                Action.REJECT, False, 503)
    bypasses = [r for _, _, _, r in load.results if r.bypass]
    assert len(bypasses) == sum(1 for _, r in unavailable if r.bypass)
    assert sum(metrics.snapshot()["dualgate_fail_open_total"].values()) == len(bypasses)
    logged = [json.loads(line) for line in lines]
    assert sum(1 for entry in logged if entry["bypass"]) == len(bypasses)
    assert len(logged) == len(load.results)

    recovered = [r for began, _, _, r in load.results if began == "recovered"]
    assert recovered and all(r.verdict is not None and not r.bypass for r in recovered)


@pytest.fixture(scope="module")
def bundles() -> list[bytes]:
    """100 bundles of the same rules, each with its own content hash."""
    return [bundle_bytes(POLICY + f"# release {n}\n") for n in range(100)]


def test_reloading_100_bundles_while_serving_fails_no_request(
        tmp_path: Path, bundles: list[bytes]) -> None:
    bundle_path = tmp_path / "shop.bundle.json"
    bundle_path.write_bytes(bundles[0])
    hashes = {load_bundle(data).content_hash for data in bundles}
    assert len(hashes) == 100
    reference = load_bundle(bundles[0])
    holder = BundleHolder(bundle_path)
    service = DecisionService(holder, metrics=GateMetrics(use_prometheus=True))
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]
    seen: set[str] = set()
    deciders: list[RemoteDecider] = []
    lock = threading.Lock()

    def single(url: str) -> None:
        with httpx.Client(base_url=url) as client:
            while not stop.is_set():
                for topic, env in JOBS:
                    response = client.post("/v1/decide", json={"topic": topic, "env": env})
                    check(response.status_code, [response.json()] if
                          response.status_code == 200 else response.text, [(topic, env)])

    def batch(url: str) -> None:
        requests = [{"topic": topic, "env": env} for topic, env in JOBS] * 10
        with httpx.Client(base_url=url) as client:
            while not stop.is_set():
                response = client.post("/v1/decide/batch", json={"requests": requests})
                check(response.status_code, response.json()["results"] if
                      response.status_code == 200 else response.text,
                      [(r["topic"], r["env"]) for r in requests])

    def remote(url: str) -> None:
        with RemoteDecider(url, refresh_interval=None) as decider:
            deciders.append(decider)
            while not stop.is_set():
                for topic, env in JOBS:
                    try:
                        verdict, _ = decider(topic, env)
                    except Exception as error:
                        with lock:
                            failures.append(f"remote: {error!r}")
                        return
                    check(200, [verdict.to_json()], [(topic, env)])

    def check(status: int, answers: Any, asked: list[tuple[str, str]]) -> None:
        with lock:
            if status != 200:
                failures.append(f"{status}: {answers}")
                return
            for answer, (topic, env) in zip(answers, asked, strict=True):
                expected = reference.decide(topic, env)
                if (answer["decision"], answer["rule"]) != (expected.decision, expected.rule) \
                        or answer["bundle"] not in hashes:
                    failures.append(f"wrong answer {answer} to {topic} {env}")
                seen.add(answer["bundle"])
                answered[0] += 1

    with ServerThread(create_app(service)) as server:
        clients = [threading.Thread(target=target, args=(server.url,))
                   for target in (single, single, batch, remote)]
        for client in clients:
            client.start()
        for data in bundles[1:]:
            bundle_path.write_bytes(data)
            assert holder.reload().result == "activated"
            time.sleep(0.01)
        last = load_bundle(bundles[-1]).content_hash
        # The remote decider's verdicts name the new bundle: it fetches it by ETag.
        assert eventually(lambda: deciders[0].holder.active is not None
                         and deciders[0].holder.active.content_hash == last, 10)
        assert deciders[0].holder.status()["etag"] == f'"{last}"'
        stop.set()
        for client in clients:
            client.join(10)
    assert failures == []
    assert answered[0] > 100
    # Answers came from many of the bundles, the last one among them.
    assert len(seen) > 10
    assert load_bundle(bundles[-1]).content_hash in seen
