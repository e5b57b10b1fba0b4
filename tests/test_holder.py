"""The bundle holder: verified atomic swaps, refusals that keep the active bundle,
persistence and a start with the source down, rollback and history, status."""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.backend.signing import generate_key_pair, sign_bundle
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import load_bundle
from dualgate.runtime.bundle_format import serialize
from dualgate.runtime.gates import (
    BundleHolder,
    PolicyUnavailable,
    ReloadOutcome,
    ReloadResult,
)
from dualgate.runtime.gates.holder import PERSISTED_NAME, reload_metrics
from dualgate.runtime.telemetry import GateMetrics
from dualgate.runtime.telemetry.metrics import BUNDLE_INFO, BUNDLE_LAST_ACTIVATION, BUNDLE_RELOADS

ROOT = Path(__file__).resolve().parent.parent
NOON = 1_796_126_400.0  # 2026-12-01T12:00:00Z


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@cache
def _document(name: str, revision: int) -> dict[str, Any]:
    """The example policy ``name`` compiled; each revision adds a comment, which changes
    the source's hash and so the bundle's, not its decisions."""
    text = (ROOT / "policies" / f"{name}.policy").read_text()
    text += "".join(f"\n# revision {n}\n" for n in range(revision))
    policy = load_policy_text(text, f"{name}.policy").policy
    assert policy is not None
    return compile_policy(policy, source=text.encode(), path=f"{name}.policy")


def infra_bytes(revision: int = 0) -> bytes:
    return serialize(_document("infra", revision))


def payments_bytes() -> bytes:
    return serialize(_document("payments", 0))


def hash_of(data: bytes) -> str:
    return str(json.loads(data)["content_sha256"])


@pytest.fixture(scope="module")
def keys() -> tuple[Ed25519PrivateKey, bytes]:
    pair = generate_key_pair()
    private = load_pem_private_key(pair.private_pem, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    return private, pair.public_pem


def signed_bytes(private: Ed25519PrivateKey, revision: int = 0) -> bytes:
    return serialize(sign_bundle(_document("infra", revision), private))


def holder_on(tmp_path: Path, data: bytes | None, **options: Any) -> tuple[BundleHolder, Path]:
    source = tmp_path / "infra.bundle.json"
    if data is not None:
        source.write_bytes(data)
    return BundleHolder(source, **options), source


def test_a_loaded_bundle_decides_as_load_bundle_does(tmp_path: Path) -> None:
    results: list[ReloadResult] = []
    holder, source = holder_on(tmp_path, infra_bytes(), on_reload=results.append,
                               clock=Clock())
    reference = load_bundle(source)
    active = holder.active
    assert active is not None
    assert (active.policy, active.content_hash, active.activated_at, active.source) == (
        "infra", reference.content_hash, NOON, str(source))
    for line in (ROOT / "policies" / "requests" / "infra.jsonl").read_text().splitlines():
        request = json.loads(line)
        verdict, used = holder.decide(request["topic"], request["env"], request.get("cidr"))
        assert verdict == reference.decide(request["topic"], request["env"],
                                           request.get("cidr"))
        assert used is active
    assert [r.result for r in results] == [ReloadOutcome.ACTIVATED]
    assert results[0].active is active


def test_request_data_never_raises(tmp_path: Path) -> None:
    holder, _ = holder_on(tmp_path, infra_bytes())
    holder.kill("**.delete", "incident")
    for topic, env, cidr in [(None, None, None), (3, [], {}), ("a..b", "dev", "x"),
                             ("infra.vm.delete", object(), 10), (b"infra", "dev", None)]:
        verdict, _ = holder.decide(topic, env, cidr)
        assert verdict.decision == "deny"


def test_the_same_bundle_again_is_unchanged(tmp_path: Path) -> None:
    holder, source = holder_on(tmp_path, infra_bytes())
    first = holder.active
    result = holder.reload()
    assert (result.result, result.reason) == (ReloadOutcome.UNCHANGED,
                                              "the source has not changed")
    # Other bytes, the same content (an indented layout): still the active bundle.
    source.write_text(json.dumps(json.loads(infra_bytes()), indent=2))
    result = holder.reload()
    assert (result.result, result.reason) == (ReloadOutcome.UNCHANGED,
                                              "the source holds the active bundle")
    assert holder.active is first


def test_a_new_bundle_is_activated_and_the_old_one_kept(tmp_path: Path) -> None:
    clock = Clock()
    holder, source = holder_on(tmp_path, infra_bytes(), clock=clock)
    clock.now += 5
    source.write_bytes(infra_bytes(1))
    result = holder.reload()
    assert result.result is ReloadOutcome.ACTIVATED
    assert result.active is holder.active and result.active is not None
    assert (result.active.content_hash, result.active.activated_at) == (
        hash_of(infra_bytes(1)), NOON + 5)
    assert [b.content_hash for b in holder.history()] == [
        hash_of(infra_bytes(1)), hash_of(infra_bytes(0))]


def _tampered() -> bytes:
    document = json.loads(infra_bytes())
    decisions = document["content"]["rules"]["decision"]
    decisions[0] = "deny" if decisions[0] == "allow" else "allow"
    return json.dumps(document).encode()


def _future_format() -> bytes:
    document = json.loads(infra_bytes())
    document["content"]["format_version"] = 99
    return json.dumps(document).encode()


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not json"),
    (b"\xff\xfe", "not utf-8"),
    (b'{"content": 1}', ""),
    (_tampered(), "content hash does not match"),
    (_future_format(), ""),
    (payments_bytes(), "policy `payments`, not the expected `infra`"),
], ids=["empty", "binary", "no-bundle", "tampered", "future-format", "other-policy"])
def test_a_refused_bundle_keeps_the_active_one_and_says_why(
        tmp_path: Path, data: bytes, reason: str) -> None:
    results: list[ReloadResult] = []
    clock = Clock()
    holder, source = holder_on(tmp_path, infra_bytes(), clock=clock,
                               on_reload=results.append)
    active = holder.active
    clock.now += 1
    source.write_bytes(data)
    result = holder.reload()
    assert result.result is ReloadOutcome.REFUSED
    assert reason.lower() in result.reason.lower() and result.reason
    assert "\n" not in result.reason
    assert holder.active is active and result.active is active
    assert holder.decide("infra.vm.read", "dev")[1] is active
    status = holder.status()
    assert status["last_failed_load"] == {"at": NOON + 1, "reason": result.reason}
    assert status["consecutive_failures"] == 1
    assert status["last_successful_check"] == NOON
    # The same bytes again: the same answer, counted again.
    assert holder.reload().reason == result.reason
    assert [r.result for r in results] == [ReloadOutcome.ACTIVATED, ReloadOutcome.REFUSED,
                                           ReloadOutcome.REFUSED]
    assert holder.status()["consecutive_failures"] == 2


def test_signatures_are_required_with_a_key(tmp_path: Path,
                                            keys: tuple[Ed25519PrivateKey, bytes]) -> None:
    private, public = keys
    with pytest.raises(ValueError, match="`public_key`"):
        BundleHolder(tmp_path / "x", require_signature=True)
    holder, source = holder_on(tmp_path, signed_bytes(private), public_key=public,
                               require_signature=True)
    active = holder.active
    assert active is not None and active.bundle.verified_key is not None
    source.write_bytes(infra_bytes(1))  # unsigned
    assert "not signed" in holder.reload().reason
    other = Ed25519PrivateKey.generate()
    source.write_bytes(signed_bytes(other, 1))
    assert "not by the configured key" in holder.reload().reason
    assert holder.active is active
    source.write_bytes(signed_bytes(private, 1))
    assert holder.reload().result is ReloadOutcome.ACTIVATED


def test_the_expected_policy_is_enforced_from_the_start(tmp_path: Path) -> None:
    holder, _ = holder_on(tmp_path, infra_bytes(), expected_policy="payments")
    assert holder.active is None
    with pytest.raises(PolicyUnavailable) as raised:
        holder.decide("infra.vm.read", "dev")
    assert raised.value.cause == "no-bundle"
    assert "expected `payments`" in holder.status()["last_failed_load"]["reason"]


def test_without_any_bundle_decisions_are_unavailable(tmp_path: Path) -> None:
    results: list[ReloadResult] = []
    holder, source = holder_on(tmp_path, None, on_reload=results.append)
    assert results[0].result is ReloadOutcome.REFUSED
    assert f"cannot read `{source}`" in results[0].reason
    with pytest.raises(PolicyUnavailable):
        holder.decide("infra.vm.read", "dev")
    status = holder.status()
    assert (status["active"], status["stale"], status["healthy"]) == (None, True, False)
    source.write_bytes(infra_bytes())
    assert holder.reload().result is ReloadOutcome.ACTIVATED
    assert holder.decide("infra.vm.read", "dev")[0].decision == "allow"


def test_load_at_start_false_waits_for_reload(tmp_path: Path) -> None:
    holder, _ = holder_on(tmp_path, infra_bytes(), load_at_start=False)
    assert holder.active is None
    assert holder.reload().result is ReloadOutcome.ACTIVATED


def test_a_failing_on_reload_callback_breaks_nothing(tmp_path: Path) -> None:
    def explode(result: ReloadResult) -> None:
        raise RuntimeError("telemetry down")

    holder, _ = holder_on(tmp_path, infra_bytes(), on_reload=explode)
    assert holder.active is not None
    assert holder.reload().result is ReloadOutcome.UNCHANGED


# -- persistence ---------------------------------------------------------------------


def test_the_last_activated_bundle_is_persisted_atomically(tmp_path: Path) -> None:
    persist = tmp_path / "state"
    holder, source = holder_on(tmp_path, infra_bytes(), persist_dir=persist)
    assert (persist / PERSISTED_NAME).read_bytes() == infra_bytes()
    source.write_bytes(infra_bytes(1))
    holder.reload()
    assert (persist / PERSISTED_NAME).read_bytes() == infra_bytes(1)
    source.write_bytes(b"garbage")
    holder.reload()
    assert (persist / PERSISTED_NAME).read_bytes() == infra_bytes(1)
    holder.rollback()
    assert hash_of((persist / PERSISTED_NAME).read_bytes()) == hash_of(infra_bytes(0))
    assert sorted(os.listdir(persist)) == [PERSISTED_NAME]  # no temporary file left


def test_a_start_with_the_source_down_serves_the_persisted_bundle(tmp_path: Path) -> None:
    persist = tmp_path / "state"
    holder_on(tmp_path, infra_bytes(1), persist_dir=persist)
    (tmp_path / "infra.bundle.json").unlink()
    results: list[ReloadResult] = []
    clock = Clock()
    restarted, source = holder_on(tmp_path, None, persist_dir=persist, max_age=60,
                                  on_reload=results.append, clock=clock)
    assert [r.result for r in results] == [ReloadOutcome.REFUSED, ReloadOutcome.ACTIVATED]
    assert "the source failed: cannot read" in results[1].reason
    active = restarted.active
    assert active is not None and active.content_hash == hash_of(infra_bytes(1))
    assert active.source == str(persist / PERSISTED_NAME)
    assert restarted.decide("infra.vm.read", "dev")[0].decision == "allow"
    status = restarted.status()
    # Serving, but stale: the source has never been checked successfully.
    assert (status["stale"], status["healthy"], status["last_successful_check"]) == (
        True, False, None)
    source.write_bytes(infra_bytes(1))
    assert restarted.reload().result is ReloadOutcome.UNCHANGED
    assert restarted.status()["stale"] is False


def test_a_tampered_persisted_bundle_is_refused_too(tmp_path: Path) -> None:
    persist = tmp_path / "state"
    persist.mkdir()
    (persist / PERSISTED_NAME).write_bytes(_tampered())
    results: list[ReloadResult] = []
    holder, _ = holder_on(tmp_path, None, persist_dir=persist, on_reload=results.append)
    assert holder.active is None
    assert [r.result for r in results] == [ReloadOutcome.REFUSED, ReloadOutcome.REFUSED]
    assert "the persisted bundle" in results[1].reason
    assert "content hash" in results[1].reason


def test_a_persist_dir_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    holder, _ = holder_on(tmp_path, infra_bytes(), persist_dir=blocker / "sub")
    assert holder.active is not None  # serving regardless
    assert "cannot persist the bundle" in holder.status()["persist_error"]


# -- rollback and history ------------------------------------------------------------


def test_rollback_returns_to_the_previous_bundle_and_refuses_it_again(tmp_path: Path) -> None:
    results: list[ReloadResult] = []
    holder, source = holder_on(tmp_path, infra_bytes(0), on_reload=results.append)
    for revision in (1, 2):
        source.write_bytes(infra_bytes(revision))
        holder.reload()
    hashes = [hash_of(infra_bytes(n)) for n in (2, 1, 0)]
    assert [b.content_hash for b in holder.history()] == hashes
    result = holder.rollback()
    assert result.result is ReloadOutcome.ACTIVATED and results[-1] is result
    assert result.reason == f"rolled back from `{hashes[0][:12]}` to `{hashes[1][:12]}`"
    assert [b.content_hash for b in holder.history()] == hashes[1:]
    # The source still holds revision 2: not changed, so it stays rolled back ...
    assert holder.reload().result is ReloadOutcome.UNCHANGED
    assert holder.active is not None and holder.active.content_hash == hashes[1]
    # ... and the same bundle in other bytes is refused.
    source.write_text(json.dumps(json.loads(infra_bytes(2)), indent=1))
    refused = holder.reload()
    assert refused.result is ReloadOutcome.REFUSED and "was rolled back" in refused.reason
    source.write_bytes(infra_bytes(3))
    assert holder.reload().result is ReloadOutcome.ACTIVATED
    holder.rollback()
    holder.rollback()
    last = holder.rollback()
    assert (last.result, last.reason) == (ReloadOutcome.REFUSED,
                                          "there is no previous bundle to roll back to")
    assert holder.active is not None and holder.active.content_hash == hashes[2]


def test_history_is_bounded(tmp_path: Path) -> None:
    holder, source = holder_on(tmp_path, infra_bytes(0), history_size=3)
    for revision in range(1, 6):
        source.write_bytes(infra_bytes(revision))
        holder.reload()
    assert [b.content_hash for b in holder.history()] == [
        hash_of(infra_bytes(n)) for n in (5, 4, 3)]


# -- status --------------------------------------------------------------------------


def test_status_tells_fresh_from_stale(tmp_path: Path) -> None:
    clock = Clock()
    holder, source = holder_on(tmp_path, infra_bytes(), clock=clock, max_age=60)
    status = holder.status()
    assert status["active"] == {
        "policy": "infra", "content_hash": hash_of(infra_bytes()), "activated_at": NOON,
        "source": str(source), "signed": False, "verified_key": None}
    assert (status["source"], status["etag"], status["last_activation"]) == (
        str(source), None, NOON)
    assert (status["stale"], status["healthy"], status["seconds_since_check"]) == (
        False, True, 0.0)
    assert status["last_failed_load"] is None and status["watching"] is False
    clock.now += 30
    source.unlink()
    holder.reload()
    status = holder.status()
    assert (status["seconds_since_check"], status["bundle_age_seconds"]) == (30.0, 30.0)
    assert status["stale"] is False
    clock.now += 31
    status = holder.status()
    assert (status["stale"], status["healthy"]) == (True, False)
    assert status["last_failed_load"]["at"] == NOON + 30
    source.write_bytes(infra_bytes())
    holder.reload()  # unchanged, but checked: fresh again
    assert holder.status()["stale"] is False
    assert holder.status()["last_activation"] == NOON


# -- the swap under load -------------------------------------------------------------


def test_every_decision_is_made_by_one_valid_bundle_while_reloading(tmp_path: Path) -> None:
    """Eight threads decide while the source alternates valid and corrupt bundles;
    every verdict comes from a valid bundle, the one returned with it."""
    valid = {revision: infra_bytes(revision) for revision in range(4)}
    references = {hash_of(data): load_bundle(data) for data in valid.values()}
    holder, source = holder_on(tmp_path, valid[3])
    requests = [json.loads(line) for line in
                (ROOT / "policies" / "requests" / "infra.jsonl").read_text().splitlines()]
    stop = threading.Event()
    errors: list[BaseException] = []
    mismatches: list[object] = []
    counts = [0] * 8

    def decide(worker: int) -> None:
        try:
            while not stop.is_set():
                for request in requests:
                    args = (request["topic"], request["env"], request.get("cidr"))
                    verdict, active = holder.decide(*args)
                    reference = references.get(active.content_hash)
                    if reference is None or verdict.bundle != active.content_hash \
                            or verdict != reference.decide(*args):
                        mismatches.append((verdict, active.content_hash))
                    counts[worker] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    outcomes = []
    try:
        for round_ in range(40):
            if round_ % 2:
                source.write_bytes(valid[round_ // 2 % 4][:-40] + b"corrupt")
                outcomes.append(("corrupt", holder.reload().result))
            else:
                source.write_bytes(valid[round_ // 2 % 4])
                outcomes.append(("valid", holder.reload().result))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == [] and mismatches == []
    assert all(c > 0 for c in counts)
    assert all(result is ReloadOutcome.REFUSED for kind, result in outcomes if kind == "corrupt")
    assert all(result is not ReloadOutcome.REFUSED
               for kind, result in outcomes if kind == "valid")
    assert sum(result is ReloadOutcome.ACTIVATED for _, result in outcomes) == 20


def test_on_reload_sees_activations_in_the_order_they_happened(tmp_path: Path) -> None:
    """Reloads and rollbacks race; the last activation the callback saw is the bundle
    that serves (what a bundle-info metric relies on)."""
    seen: list[str] = []

    def record(result: ReloadResult) -> None:
        if result.result is ReloadOutcome.ACTIVATED and result.active is not None:
            seen.append(result.active.content_hash)

    holder, source = holder_on(tmp_path, infra_bytes(0), on_reload=record)

    def reload_many(worker: int) -> None:
        for round_ in range(15):
            source.write_bytes(infra_bytes((worker + round_) % 3))
            holder.reload()

    def roll_back_many() -> None:
        for _ in range(15):
            holder.rollback()

    threads = [threading.Thread(target=reload_many, args=(n,)) for n in range(2)]
    threads.append(threading.Thread(target=roll_back_many))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert holder.active is not None and seen[-1] == holder.active.content_hash


@pytest.mark.parametrize("use_prometheus", [True, False])
def test_reload_metrics_count_every_attempt_and_record_the_active_bundle(
        tmp_path: Path, use_prometheus: bool) -> None:
    metrics = GateMetrics(use_prometheus=use_prometheus)
    clock = Clock()
    holder, source = holder_on(tmp_path, infra_bytes(), on_reload=reload_metrics(metrics),
                               clock=clock)
    holder.reload()                                   # unchanged
    source.write_bytes(b"{not json")
    holder.reload()                                   # refused
    clock.now += 5
    source.write_bytes(infra_bytes(1))
    holder.reload()                                   # activated
    holder.rollback()                                 # activated again: the first bundle
    snapshot = metrics.snapshot()
    assert snapshot[BUNDLE_RELOADS] == {
        ("activated",): 3.0, ("unchanged",): 1.0, ("refused",): 1.0}
    assert snapshot[BUNDLE_INFO] == {("infra", hash_of(infra_bytes(0))): 1.0}
    active = holder.active
    assert active is not None
    assert snapshot[BUNDLE_LAST_ACTIVATION] == {(): active.activated_at}
