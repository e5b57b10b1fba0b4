"""Approvals at the dispatch gate: bound to the job and the bundle, refused when forged,
expired, reused, for another job or stale, and re-checked against the current policy."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dualgate.runtime.gates.approvals import (
    ApprovalRequest,
    ApprovalToken,
    ApprovalVerifier,
    MemoryUsedTokens,
    sign_approval,
)
from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import FailModes
from dualgate.runtime.gates.gate import Action
from dualgate.runtime.gates.submit import SubmitGate
from tests.gates_support import (
    NOON,
    POLICY,
    POLICY_REWORDED,
    Clock,
    bundle_bytes,
    make_holder,
    reload_result,
)

APPROVER = Ed25519PrivateKey.generate()
JOB = {"job_id": "job-7", "job_hash": "sha256:refund-42"}
REQUEST = ("payments.refund", "production", None)


class Setup:
    """A holder over a bundle file the test rewrites, both gates, an approver."""

    def __init__(self, tmp_path: Path, **dispatch_options: Any) -> None:
        self.path = tmp_path / "shop.bundle.json"
        self.path.write_bytes(bundle_bytes())
        self.holder = make_holder(self.path)
        self.clock = Clock()
        modes = FailModes(clock=self.clock)
        self.submit = SubmitGate(self.holder, fail_modes=modes)
        self.verifier = ApprovalVerifier({"alice": APPROVER.public_key()}, clock=self.clock)
        self.used = dispatch_options.pop("used_tokens", MemoryUsedTokens(clock=self.clock))
        self.dispatch = DispatchGate(self.holder, fail_modes=modes, approvals=self.verifier,
                                     used_tokens=self.used, **dispatch_options)

    def held(self, job: dict[str, str] | None = None) -> ApprovalRequest:
        result = self.submit.check(*REQUEST, **(job or JOB))
        assert result.action is Action.HOLD and result.approval_request is not None
        return result.approval_request

    def approve(self, request: ApprovalRequest, *, ttl: float = 600,
                key: Ed25519PrivateKey = APPROVER, approver: str = "alice") -> ApprovalToken:
        return sign_approval(request, approver=approver, private_key=key,
                             expires_at=self.clock.now + ttl)

    def offer(self, approval: Any, job: dict[str, str] | None = None) -> Any:
        return self.dispatch.check(*REQUEST, approval=approval, **(job or JOB))

    def publish(self, text: str) -> None:
        self.path.write_bytes(bundle_bytes(text))
        assert reload_result(self.holder) == "activated"


def test_an_approved_job_is_dispatched_once(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    result = setup.offer(token.encode())
    assert (result.action, result.reason, result.approval) == (Action.DISPATCH, "approved",
                                                               token)
    assert result.to_json()["approval"] == token.token_id
    again = setup.offer(token.encode())
    assert (again.action, again.reason) == (Action.HOLD, "approval-reused")
    assert again.approval_request == setup.held()  # ask again, for the same snapshot


def test_concurrent_offers_of_one_approval_dispatch_once(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    actions: list[Action] = []
    barrier = threading.Barrier(8)

    def offer() -> None:
        barrier.wait()
        actions.append(setup.offer(token).action)

    threads = [threading.Thread(target=offer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(actions) == [Action.DISPATCH] + [Action.HOLD] * 7


def test_forged_and_unreadable_approvals_are_refused(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    request = setup.held()
    mallory = Ed25519PrivateKey.generate()
    assert setup.offer(setup.approve(request, key=mallory)).reason == "approval-unknown-key"
    assert setup.offer(setup.approve(request, approver="bob")).reason == \
        "approval-unknown-key"
    genuine = setup.approve(request)
    forged = dataclasses.replace(genuine, signature=mallory.sign(b"anything"))
    assert setup.offer(forged).reason == "approval-bad-signature"
    for junk in ("", "not-a-token", "a.b", 42, {"token": 1}):
        result = setup.offer(junk)
        assert (result.action, result.reason) == (Action.HOLD, "approval-malformed")
    # None of these used the genuine token up.
    assert setup.offer(genuine).action is Action.DISPATCH


def test_an_expired_approval_is_refused(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held(), ttl=60)
    setup.clock.now = NOON + 60
    result = setup.offer(token)
    assert (result.action, result.reason) == (Action.HOLD, "approval-expired")


def test_an_approval_admits_only_its_own_unchanged_job(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    edited = setup.offer(token, {"job_id": "job-7", "job_hash": "sha256:refund-43"})
    assert (edited.action, edited.reason) == (Action.HOLD, "approval-job-changed")
    other = setup.offer(token, {"job_id": "job-8", "job_hash": "sha256:refund-42"})
    assert other.reason == "approval-other-job"
    elsewhere = setup.dispatch.check("payments.charge", "production", approval=token, **JOB)
    assert elsewhere.reason == "approval-other-job"
    assert setup.offer(token).action is Action.DISPATCH


def test_a_new_bundle_asks_again_by_default(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    setup.publish(POLICY_REWORDED)
    result = setup.offer(token)
    assert (result.action, result.reason) == (Action.HOLD, "approval-stale")
    # The new request is bound to the new bundle; approving it dispatches.
    assert result.approval_request is not None
    assert result.approval_request.binding.bundle == setup.holder.active.content_hash
    assert setup.offer(setup.approve(result.approval_request)).action is Action.DISPATCH


def test_a_new_bundle_with_the_same_rule_can_keep_the_approval(tmp_path: Path) -> None:
    setup = Setup(tmp_path, reapprove_on_bundle_change=False)
    token = setup.approve(setup.held())
    setup.publish(POLICY_REWORDED)
    assert setup.offer(token).reason == "approved"


def test_a_rule_changed_since_asks_again_even_when_allowed_to_keep(tmp_path: Path) -> None:
    setup = Setup(tmp_path, reapprove_on_bundle_change=False)
    token = setup.approve(setup.held())
    setup.publish(POLICY.replace("approve-production-payments", "payments-need-a-person"))
    result = setup.offer(token)
    assert (result.action, result.reason) == (Action.HOLD, "approval-rule-changed")
    assert result.approval_request is not None
    assert result.approval_request.binding.rule == "payments-need-a-person"


def test_a_policy_that_now_denies_rejects_despite_the_approval(tmp_path: Path) -> None:
    setup = Setup(tmp_path, reapprove_on_bundle_change=False)
    token = setup.approve(setup.held())
    setup.publish(POLICY.replace("and env production\n  then require_human",
                                 "and env production\n  then deny"))
    result = setup.offer(token)
    assert (result.action, result.reason, result.approval) == (Action.REJECT, "rule", None)


def test_a_policy_that_now_allows_dispatches_without_using_the_approval(
        tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    setup.publish(POLICY.replace("and env production\n  then require_human",
                                 "and env production\n  then allow"))
    assert setup.offer(token).reason == "rule"
    assert len(setup.used) == 0


def test_without_a_verifier_no_approval_is_accepted(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    gate = DispatchGate(setup.holder, fail_modes=FailModes(clock=setup.clock))
    result = gate.check(*REQUEST, approval=setup.approve(setup.held()), **JOB)
    assert (result.action, result.reason) == (Action.HOLD, "approval-unknown-key")
    assert gate.check(*REQUEST, **JOB).reason == "approval-required"


def test_a_full_token_store_holds_the_job(tmp_path: Path) -> None:
    setup = Setup(tmp_path, used_tokens=MemoryUsedTokens(capacity=1, clock=Clock()))
    first = setup.approve(setup.held())
    assert setup.offer(first).action is Action.DISPATCH
    other = {"job_id": "job-9", "job_hash": "sha256:refund-42"}
    result = setup.offer(setup.approve(setup.held(other)), other)
    assert (result.action, result.reason) == (Action.HOLD, "approval-store-full")


def test_a_hostile_topic_with_an_approval_is_held_not_raised(tmp_path: Path) -> None:
    class Hostile(str):
        def __ne__(self, other: object) -> bool:
            raise RuntimeError("no")

        __hash__ = str.__hash__

    setup = Setup(tmp_path)
    token = setup.approve(setup.held())
    result = setup.dispatch.check(Hostile("payments.refund"), "production", approval=token,
                                  **JOB)
    assert (result.action, result.reason) == (Action.HOLD, "approval-malformed")


@pytest.mark.parametrize("expires", [NOON - 1, NOON])
def test_a_token_already_expired_when_signed_is_refused(tmp_path: Path,
                                                        expires: float) -> None:
    setup = Setup(tmp_path)
    token = sign_approval(setup.held(), approver="alice", private_key=APPROVER,
                          expires_at=expires)
    assert setup.offer(token).reason == "approval-expired"


def test_a_token_store_that_raises_holds_the_job(tmp_path: Path) -> None:
    class Down:
        def claim(self, job_id: str, token_id: str, expires_at: float) -> Any:
            raise ConnectionError("the store is down")

    setup = Setup(tmp_path, used_tokens=Down())
    result = setup.offer(setup.approve(setup.held()))
    assert (result.action, result.reason) == (Action.HOLD, "approval-store-error")
