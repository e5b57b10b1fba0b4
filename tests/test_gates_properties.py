"""A gate's action is a pure function of the verdict, or of the tier's effective fail mode
when the policy is unavailable, exactly as the tables in the gates' docstrings say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime import Decision, FailMode, TierName
from dualgate.runtime.gates.dispatch import DispatchGate
from dualgate.runtime.gates.failmodes import FailModes, OverrideEntry
from dualgate.runtime.gates.gate import Action
from dualgate.runtime.gates.holder import PolicyUnavailable
from dualgate.runtime.gates.submit import SubmitGate
from tests.gates_support import NOON, POLICY, Clock, bundle_bytes, make_holder
from tests.profiles import examples

SUBMIT = {Decision.ALLOW: (Action.ADMIT, 202), Decision.DENY: (Action.REJECT, 403),
          Decision.THROTTLE: (Action.THROTTLE, 429), Decision.REQUIRE_HUMAN: (Action.HOLD, 202)}
DISPATCH = {Decision.ALLOW: Action.DISPATCH, Decision.DENY: Action.REJECT,
            Decision.THROTTLE: Action.REQUEUE, Decision.REQUIRE_HUMAN: Action.HOLD}
TOPICS = {TierName.HIGH: "payments.refund", TierName.MEDIUM: "infra.vm.create",
          TierName.LOW: "repo.file.read"}
REQUESTS = [(topic, env, cidr) for topic in [*TOPICS.values(), "infra.db.scale", "x", "a..b"]
            for env in ("production", "staging", "prod") for cidr in (None, "10.0.0.1", "x")]


def _holders(root: Path) -> dict[tuple[FailMode, FailMode], Any]:
    """One holder per (medium, low) declared fail mode."""
    holders = {}
    for medium in FailMode:
        for low in FailMode:
            text = POLICY.replace("infra.** fail_mode closed", f"infra.** fail_mode {medium}") \
                .replace("**.read fail_mode open", f"**.read fail_mode {low}")
            path = root / f"{medium}-{low}.bundle.json"
            path.write_bytes(bundle_bytes(text))
            holders[(medium, low)] = make_holder(path)
    return holders


@pytest.fixture(scope="module")
def holders(tmp_path_factory: Any) -> dict[tuple[FailMode, FailMode], Any]:
    return _holders(tmp_path_factory.mktemp("property-bundles"))


@settings(max_examples=examples(200), deadline=None)
@given(request=st.sampled_from(REQUESTS), attempt=st.integers(1, 8))
def test_an_available_policy_decides_the_action(
    holders: dict[tuple[FailMode, FailMode], Any], request: tuple[Any, Any, Any],
    attempt: int,
) -> None:
    holder = holders[(FailMode.CLOSED, FailMode.OPEN)]
    verdict, _ = holder.decide(*request)
    a = SubmitGate(holder, fail_modes=FailModes(clock=Clock())).check(
        *request, job_id="j", job_hash="h")
    b = DispatchGate(holder, fail_modes=FailModes(clock=Clock()), max_attempts=3).check(
        *request, job_id="j", job_hash="h", attempt=attempt)
    assert (a.action, a.http_status) == SUBMIT[verdict.decision]
    assert b.action is DISPATCH[verdict.decision]
    for result in (a, b):
        assert (result.verdict, result.bypass, result.tier, result.fail_mode) == (
            verdict, False, verdict.tier, verdict.fail_mode)


@settings(max_examples=examples(300), deadline=None)
@given(modes=st.tuples(st.sampled_from(FailMode), st.sampled_from(FailMode)),
       tier=st.sampled_from(TierName), env=st.sampled_from(["production", "staging", "qa"]),
       opened=st.sets(st.sampled_from(TierName)), expired=st.booleans(),
       error=st.sampled_from([TimeoutError(), RuntimeError(), PolicyUnavailable("down")]),
       attempt=st.integers(1, 6))
def test_an_unavailable_policy_leaves_it_to_the_fail_mode(
    holders: dict[tuple[FailMode, FailMode], Any], *, modes: tuple[FailMode, FailMode],
    tier: TierName, env: str, opened: set[TierName], expired: bool, error: Exception,
    attempt: int,
) -> None:
    """The oracle: a tier is open when the bundle opens it, or the override names it (not
    high, not expired); a bypass also needs a declared env. Open admits and dispatches
    with a bypass; closed rejects with 503, and requeues until the last attempt."""
    holder = holders[modes]
    clock = Clock(NOON + (3600 if expired else 0))
    fail_modes = FailModes(tuple(OverrideEntry(t, NOON + 3600) for t in opened), clock=clock)

    def failing(topic: object, env: object, cidr: object = None) -> Any:
        raise error

    declared = {TierName.HIGH: FailMode.CLOSED, TierName.MEDIUM: modes[0],
                TierName.LOW: modes[1]}[tier]
    by_override = tier is not TierName.HIGH and tier in opened and not expired
    opens = (declared is FailMode.OPEN or by_override) and env != "qa"
    a = SubmitGate(holder, decider=failing, fail_modes=fail_modes).check(
        TOPICS[tier], env, job_id="j", job_hash="h")
    b = DispatchGate(holder, decider=failing, fail_modes=fail_modes, max_attempts=4).check(
        TOPICS[tier], env, job_id="j", job_hash="h", attempt=attempt)
    assert a.bypass is b.bypass is opens
    assert a.overridden is b.overridden is (opens and declared is FailMode.CLOSED)
    assert (a.tier, b.tier) == (tier, tier)
    if opens:
        assert (a.action, a.http_status, b.action) == (Action.ADMIT, 202, Action.DISPATCH)
    else:
        assert (a.action, a.http_status) == (Action.REJECT, 503)
        assert b.action is (Action.REQUEUE if attempt < 4 else Action.REJECT)
