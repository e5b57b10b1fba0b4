"""A decider with a deadline: a hung decider costs a check its timeout, never a hang; what
the decider answers or raises passes through; hung calls hold bounded resources."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dualgate.runtime.gates.deadline import BoundedDecider
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import Action
from dualgate.runtime.gates.holder import PolicyUnavailable
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import GateMetrics
from dualgate.runtime.telemetry.metrics import FAIL_OPEN, POLICY_UNAVAILABLE
from tests.gates_support import Clock, bundle_bytes, make_holder

JOB = {"job_id": "job-1", "job_hash": "sha256:abc"}


@pytest.fixture
def holder(tmp_path: Path) -> Any:
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return make_holder(path)


def test_a_hung_decider_costs_the_timeout_and_the_fail_mode_decides(holder: Any) -> None:
    release = threading.Event()

    def hung(topic: object, env: object, cidr: object = None) -> Any:
        release.wait()
        return holder.decide(topic, env, cidr)

    metrics = GateMetrics(use_prometheus=False)
    gate = SubmitGate(holder, decider=BoundedDecider(hung, timeout=0.05),
                      fail_modes=FailModes(clock=Clock()), metrics=metrics)
    started = time.monotonic()
    read = gate.check("repo.file.read", "staging", **JOB)  # a low tier: open
    write = gate.check("infra.vm.create", "staging", **JOB)  # medium: closed
    assert time.monotonic() - started < 2
    release.set()
    assert (read.action, read.bypass, read.cause) == (Action.ADMIT, True, "timeout")
    assert (write.action, write.http_status, write.cause) == (Action.REJECT, 503, "timeout")
    snapshot = metrics.snapshot()
    assert snapshot[POLICY_UNAVAILABLE] == {("submit", "timeout"): 2.0}
    assert snapshot[FAIL_OPEN] == {("submit", "low", "staging"): 1.0}


def test_answers_and_errors_pass_through(holder: Any) -> None:
    bounded = BoundedDecider(holder.decide, timeout=5)
    assert bounded("infra.vm.create", "staging") == holder.decide("infra.vm.create", "staging")

    def refusing(topic: object, env: object, cidr: object = None) -> Any:
        raise PolicyUnavailable("circuit-open")

    gate = SubmitGate(holder, decider=BoundedDecider(refusing, timeout=5),
                      fail_modes=FailModes(clock=Clock()))
    assert gate.check("infra.vm.create", "staging", **JOB).cause == "circuit-open"


def test_hung_calls_hold_bounded_workers_and_waiting_places() -> None:
    release = threading.Event()
    started: list[object] = []

    def hung(topic: object, env: object, cidr: object = None) -> Any:
        started.append(topic)
        release.wait()
        raise AssertionError("released")

    bounded = BoundedDecider(hung, timeout=0.3, workers=2, max_waiting=3)
    for number in range(2):  # each worker takes one and hangs
        with pytest.raises(TimeoutError, match=r"did not answer within 0\.3 s"):
            bounded(f"call-{number}", "dev")
    assert started == ["call-0", "call-1"]
    bounded.timeout = 0.05
    for number in range(2, 5):  # these wait for a worker, and time out waiting
        with pytest.raises(TimeoutError, match=r"did not answer within 0\.05 s"):
            bounded(f"call-{number}", "dev")
    with pytest.raises(TimeoutError, match="3 calls waiting"):
        bounded("one-too-many", "dev")
    release.set()
    deadline = time.monotonic() + 5
    while bounded._calls.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == ["call-0", "call-1"]  # the abandoned calls were skipped
    bounded.timeout = 5
    with pytest.raises(AssertionError, match="released"):  # served again, errors passed on
        bounded("after", "dev")
    assert started[-1] == "after"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        BoundedDecider(lambda *a: None, timeout=0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="at least one worker"):
        BoundedDecider(lambda *a: None, timeout=1, workers=0)  # type: ignore[arg-type,return-value]


def test_a_decider_hung_for_ever_does_not_hang_the_exit() -> None:
    code = (
        "import threading\n"
        "from dualgate.runtime.gates.deadline import BoundedDecider\n"
        "bounded = BoundedDecider(lambda *a: threading.Event().wait(), timeout=0.05)\n"
        "try:\n"
        "    bounded('a.b', 'dev')\n"
        "except TimeoutError:\n"
        "    print('timed out')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout == "timed out\n"
