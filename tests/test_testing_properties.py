"""Properties of ``dualgate test`` on random policies, against the reference interpreter.

A random policy is written as DSL text next to a test file whose cases expect exactly
what the reference interpreter answers: every case passes (the runner, the bundle and
the runtime agree with the semantics), and changing one expected value makes exactly
that case fail. The witnesses of the uncovered regions, added as cases, cover every
region and every rule that decides some request.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.formatter import format_policy
from dualgate.compiler.raising import raise_policy
from dualgate.compiler.reference import Evaluation, Request, evaluate
from dualgate.compiler.testing import run_suite
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import SEGMENTS, colliding_policies, networks, policies

NOW = datetime(2026, 11, 21, tzinfo=UTC)
REASONS = ("rule", "default", "invalid-topic", "unknown-env", "invalid-cidr")

_TOPICS = st.one_of(
    st.lists(st.sampled_from((*SEGMENTS, "a", "b", "zz")), min_size=1, max_size=4)
    .map(".".join),
    st.sampled_from(("", "a..b", "a b", ".a")),
)
_CIDRS = st.one_of(st.none(), networks().map(str),
                   st.sampled_from(("10.0.0.1", "10.0.0.1/8", "::ffff:10.0.0.1", "nope")))


@st.composite
def policy_and_requests(draw: st.DrawFn) -> tuple[ir.Policy, list[Request]]:
    # Colliding rules, or any valid policy (overrides and odd names included).
    policy = draw(st.one_of(colliding_policies(), policies(max_rules=5)))
    envs = (*policy.env_names, "undeclared-env")
    requests = draw(st.lists(
        st.builds(Request, _TOPICS, st.sampled_from(envs), _CIDRS), min_size=1, max_size=8))
    return policy, requests


def expectation(answer: Evaluation) -> dict[str, Any]:
    return {
        "decision": answer.decision.value, "rule": answer.rule, "reason": answer.reason,
        "tier": None if answer.tier is None else answer.tier.value,
        "fail_mode": None if answer.fail_mode is None else answer.fail_mode.value,
    }


def write_suite(directory: Path, policy: ir.Policy, cases: list[dict[str, Any]]) -> Path:
    (directory / "p.policy").write_text(format_policy(raise_policy(policy)))
    path = directory / "p.tests.yaml"
    # JSON is YAML: the test file is written as its JSON form.
    path.write_text(json.dumps({"policy": "p.policy", "now": "2026-11-21T00:00:00Z",
                                "cases": cases}))
    return path


def case(number: int, request: Request, expect: dict[str, Any]) -> dict[str, Any]:
    fields = {"topic": request.topic, "env": request.env, "cidr": request.cidr}
    return {"name": f"case {number}", "request": fields, "expect": expect}


def mutated(expect: dict[str, Any], key: str, policy: ir.Policy) -> Any:
    """A value for ``key`` other than the expected one."""
    choices: dict[str, list[Any]] = {
        "decision": [d.value for d in Decision],
        "rule": [None, *(r.id for r in policy.rules), "no-such-rule"],
        "reason": list(REASONS),
        "tier": [None, *(t.value for t in TierName)],
        "fail_mode": [None, *(m.value for m in FailMode)],
    }
    return next(v for v in choices[key] if v != expect[key])


@settings(max_examples=examples(40), deadline=None)
@given(policy_and_requests(), st.data())
def test_cases_from_the_reference_pass_and_one_mutation_fails(
        drawn: tuple[ir.Policy, list[Request]], data: st.DataObject) -> None:
    policy, requests = drawn
    expected = [expectation(evaluate(policy, r, NOW)) for r in requests]
    with tempfile.TemporaryDirectory() as directory:
        path = write_suite(Path(directory), policy,
                           [case(i, r, e) for i, (r, e) in enumerate(zip(requests, expected,
                                                                         strict=True))])
        result = run_suite([path])
        if any(o.tier is TierName.HIGH for o in policy.overrides):
            # The runtime refuses such a bundle, so the suite refuses to run it.
            assert [d.code.code for d in result.diagnostics] == ["DG042"]
            assert result.runs == []
            return
        assert not result.diagnostics
        assert [r.passed for r in result.runs[0].results] == [True] * len(requests)

        target = data.draw(st.integers(min_value=0, max_value=len(requests) - 1))
        key = data.draw(st.sampled_from(("decision", "rule", "reason", "tier", "fail_mode")))
        changed = [dict(e) for e in expected]
        changed[target][key] = mutated(expected[target], key, policy)
        path = write_suite(Path(directory), policy,
                           [case(i, r, e) for i, (r, e) in enumerate(zip(requests, changed,
                                                                         strict=True))])
        results = run_suite([path]).runs[0].results
        assert [r.passed for r in results] == [i != target for i in range(len(requests))]
        assert results[target].mismatched == (key,)


@settings(max_examples=examples(30), deadline=None)
@given(colliding_policies())
def test_witness_cases_cover_every_region_and_every_deciding_rule(policy: ir.Policy) -> None:
    # The runtime refuses a bundle with an override on the high tier (the test above).
    assume(not any(o.tier is TierName.HIGH for o in policy.overrides))
    with tempfile.TemporaryDirectory() as directory:
        first = Request("a", policy.env_names[0] if policy.envs else "any")
        path = write_suite(Path(directory), policy,
                           [case(0, first, {"decision": evaluate(policy, first, NOW)
                                            .decision.value})])
        coverage = run_suite([path], coverage=True).coverages
        assert coverage is not None
        uncovered = coverage[0].uncovered_regions
        cases = [case(0, first, {"decision": evaluate(policy, first, NOW).decision.value})]
        cases += [case(i + 1, region.witness, {"decision": region.decision.value})
                  for i, region in enumerate(uncovered)]
        path = write_suite(Path(directory), policy, cases)
        result = run_suite([path], coverage=True)
        assert result.failed == 0
        assert result.coverages is not None
        [full] = result.coverages
        assert full.percent("regions") == 100.0
        assert full.covered_rules == {r.rule for r in full.regions if r.rule is not None}
        assert full.exercised_combinations == full.combinations
