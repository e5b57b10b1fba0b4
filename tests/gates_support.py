"""What the gate and approval tests share: a policy with every decision and tier, its
bundles, a hand-moved clock and a decider that fails on demand."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.frontend.loader import load_policy_text
from dualgate.runtime import Bundle, Verdict, load_bundle
from dualgate.runtime.bundle_format import serialize

#: Every decision in every tier: payments (high), infra (medium), reads (low).
POLICY = """\
policy shop
envs production (protected), staging
default_decision deny
tier high topics payments.** fail_mode closed
tier medium topics infra.** fail_mode closed
tier low topics **.read fail_mode open

rule deny-staging-refunds
  when topic payments.refund and env staging
  then deny

rule approve-production-payments
  when topic payments.** and env production
  then require_human

rule throttle-scaling
  when topic infra.*.scale
  then throttle

rule allow-infra
  when topic infra.**
  then allow

rule allow-reads
  when topic **.read
  then allow
"""

#: The same rules with comments added: another bundle hash (the source's hash is part of
#: the content), the same decisions by the same rules.
POLICY_REWORDED = POLICY.replace("policy shop\n", "policy shop\n# reworded\n").replace(
    "rule allow-reads\n", "rule allow-reads\n  # every read\n")
NOON = 1_796_126_400.0  # 2026-12-01T12:00:00Z


def document(text: str = POLICY, path: str = "shop.policy") -> dict[str, Any]:
    policy = load_policy_text(text, path).policy
    assert policy is not None
    return compile_policy(policy, source=text.encode(), path=path)


def bundle_bytes(text: str = POLICY) -> bytes:
    return serialize(document(text))


def load(text: str = POLICY, **options: Any) -> Bundle:
    return load_bundle(document(text), **options)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FailingDecider:
    """A decider that raises ``error`` while it is set, else asks ``decide``."""

    def __init__(self, decide: Any, error: BaseException | None = None) -> None:
        self.inner = decide
        self.error = error
        self.calls = 0

    def __call__(self, topic: object, env: object, cidr: object = None) -> tuple[Verdict, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        result: tuple[Verdict, Any] = self.inner(topic, env, cidr)
        return result


def make_holder(path: Any, **options: Any) -> Any:
    """A holder serving the bundle file at ``path`` (loaded at once)."""
    from dualgate.runtime.gates.holder import BundleHolder

    return BundleHolder(path, **options)


def reload_result(holder: Any) -> str:
    """What ``holder.reload()`` did: ``activated``, ``unchanged`` or ``refused``."""
    result = holder.reload()
    return str(result[0])


def empty_holder(tmp_path: Any) -> Any:
    """A holder whose source never held a bundle: every decision is unavailable."""
    return make_holder(tmp_path / "missing.bundle.json")


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
