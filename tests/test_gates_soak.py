"""Soak: eight threads check jobs through both gates while the bundle is reloaded 100
times, alternating valid new bundles and corrupt ones."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.runtime.telemetry.metrics import DECISIONS, JOBS_RECEIVED
from tests.gates_support import POLICY, Clock, bundle_bytes, make_holder, reload_result

THREADS = 8
RELOADS = 100
PACE = 5
REQUESTS = [(topic, env, cidr)
            for topic in ("payments.refund", "infra.vm.create", "infra.db.scale",
                          "repo.file.read", "x", "bad topic")
            for env in ("production", "staging", "prod")
            for cidr in (None, "10.1.2.3", "2001:db8::/64", "nope")]


def _corrupt(data: bytes, index: int) -> bytes:
    """A refused bundle, a different fault each time round."""
    kind = index % 4
    if kind == 0:  # content changed after hashing
        return data.replace(b'"policy":"shop"', b'"policy":"shoq"', 1)
    if kind == 1:  # truncated
        return data[: len(data) // 2]
    if kind == 2:  # not JSON
        return b"\x00garbage" + data
    document = json.loads(data)  # an unknown format version, hash recomputed
    document["content"]["format_version"] = 99
    from dualgate.runtime.bundle_format import envelope, serialize

    return serialize(envelope(document["content"]))


def test_checks_stay_correct_while_bundles_are_reloaded(tmp_path: Path) -> None:
    valid = [bundle_bytes(POLICY + f"# revision {i}\n") for i in range(RELOADS // 2 + 1)]
    hashes = [json.loads(data)["content_sha256"] for data in valid]
    assert len(set(hashes)) == len(valid)
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(valid[0])
    holder = make_holder(path)
    metrics = GateMetrics(use_prometheus=False)
    lines = [0]

    def count(_line: str) -> None:
        lines[0] += 1

    log = DecisionLog(CallableSink(count), metrics=metrics, max_queue=10_000_000)
    modes = FailModes(clock=Clock())
    submit = SubmitGate(holder, fail_modes=modes, metrics=metrics, decision_log=log)
    dispatch = DispatchGate(holder, fail_modes=modes, metrics=metrics, decision_log=log)
    stop = threading.Event()
    errors: list[BaseException] = []
    checks = [0] * THREADS
    seen: list[set[str | None]] = [set() for _ in range(THREADS)]
    mismatched: list[int] = [0] * THREADS

    def work(index: int) -> None:
        rng = random.Random(index)
        try:
            while not stop.is_set():
                topic, env, cidr = rng.choice(REQUESTS)
                if checks[index] % 2:
                    result = submit.check(topic, env, cidr, job_id=f"j{index}", job_hash="h")
                else:
                    result = dispatch.check(topic, env, cidr, job_id=f"j{index}",
                                            job_hash="h", attempt=1 + checks[index] % 4)
                checks[index] += 1
                if checks[index] % PACE == 0:
                    # Paced, so that the decision log's writer keeps up and the reloads
                    # get their turn; the checks still interleave with every reload.
                    time.sleep(0.001)
                seen[index].add(result.bundle)
                if result.verdict is None or result.verdict.bundle != result.bundle:
                    mismatched[index] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    outcomes: list[tuple[int, str, str | None]] = []
    try:
        for reload in range(RELOADS):
            good = reload % 2 == 1
            data = valid[reload // 2 + 1] if good else _corrupt(valid[reload // 2], reload)
            path.write_bytes(data)
            outcome = reload_result(holder)
            outcomes.append((reload, outcome, holder.active.content_hash))
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    log.close()

    assert errors == []
    # Every valid bundle activated, every corrupt one refused, leaving the last good one.
    for reload, outcome, active in outcomes:
        if reload % 2:
            assert (outcome, active) == ("activated", hashes[reload // 2 + 1])
        else:
            assert (outcome, active) == ("refused", hashes[reload // 2])
    total = sum(checks)
    assert total > 1000
    assert set().union(*seen) <= set(hashes)
    assert mismatched == [0] * THREADS
    snapshot = metrics.snapshot()
    assert sum(snapshot[JOBS_RECEIVED].values()) == total
    assert sum(snapshot[DECISIONS].values()) == total
    assert log.stats()["written"] == lines[0] == total
    assert sum(log.stats()["dropped"].values()) == 0  # type: ignore[attr-defined]
