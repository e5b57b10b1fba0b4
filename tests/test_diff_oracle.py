"""The diff is exact: a brute-force enumeration finds the same changes, with confirmed witnesses.

The oracle uses only the IR and the reference interpreter, never the region engine. It
evaluates both policies on every request of a **universe** and groups the requests whose
outcomes differ by the normative keys (docs/design.md, "Changes"). The universe is
representative for the pair by the argument of ``tests/test_analysis_oracle.py``, applied
to both policies' patterns and networks together: every topic of up to two segments and one
shortest topic per prefix-match state of all patterns, over the literals plus a fresh
segment (the wildcards spelled here, not taken from the compiler); every
env either policy declares plus one neither declares; no cidr, every network of either
policy, both ``/0`` and hosts and subnets around each network.

Pairs are drawn two ways: a head derived from the base by edits a pull request makes
(rules inserted, removed, reordered and changed, envs added, tiers and defaults changed,
overrides live or expired), and two independent small policies over shared pools.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dualgate.compiler import ir
from dualgate.compiler.diff import Change, PolicyDiff, diff_policies
from dualgate.compiler.networks import Network
from dualgate.compiler.reference import Evaluation, Request, evaluate
from dualgate.runtime.vocabulary import Decision, FailMode, TierName
from tests.profiles import examples
from tests.strategies import colliding_policies
from tests.test_analysis_oracle import cidr_universe, policy_patterns, representative_topics

NOW = datetime(2026, 1, 1, tzinfo=UTC)
#: Largest universe (requests) an example may enumerate, to keep the suite fast.
MAX_REQUESTS = 12_000
UNDECLARED = "zz-undeclared"

DecisionKey = tuple[str | None, str, str, TierName, TierName]
TierKey = tuple[TierName, FailMode, TierName, FailMode]


# -- pairs of policies ----------------------------------------------------------------


@st.composite
def edited(draw: st.DrawFn, base: ir.Policy) -> ir.Policy:
    """``base`` after one to four edits of the kinds a pull request makes."""
    policy = base
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        policy = draw(_edit(policy))
    return policy


@st.composite
def _edit(draw: st.DrawFn, policy: ir.Policy) -> ir.Policy:
    rules = list(policy.rules)
    kind = draw(st.sampled_from(("insert", "remove", "reorder", "change", "decision", "env",
                                 "tier", "override", "default")))
    fresh = colliding_policies(max_rules=2)
    if kind == "insert":
        new = ir.Rule(id=f"new{len(rules)}", conditions=draw(_env_free_conditions(fresh)),
                      decision=draw(st.sampled_from(Decision)))
        rules.insert(draw(st.integers(min_value=0, max_value=len(rules))), new)
    elif kind == "remove" and rules:
        rules.pop(draw(st.integers(min_value=0, max_value=len(rules) - 1)))
    elif kind == "reorder" and len(rules) > 1:
        rules = list(draw(st.permutations(rules)))
    elif kind == "change" and rules:
        at = draw(st.integers(min_value=0, max_value=len(rules) - 1))
        rules[at] = rules[at].model_copy(update={"conditions": draw(_env_free_conditions(fresh))})
    elif kind == "decision" and rules:
        at = draw(st.integers(min_value=0, max_value=len(rules) - 1))
        rules[at] = rules[at].model_copy(update={"decision": draw(st.sampled_from(Decision))})
    elif kind == "env":
        taken = set(policy.env_names)
        name = next(n for n in ("prod", "stage", "dev", "qa", "eu", "us", "ci") if n not in taken)
        envs = (*policy.envs, ir.EnvDecl(name=name, protected=draw(st.booleans())))
        return policy.model_copy(update={"envs": envs})
    elif kind == "tier":
        tiers = draw(fresh).tiers
        overrides = tuple(o for o in policy.overrides if o.tier in {t.name for t in tiers})
        return policy.model_copy(update={"tiers": tiers, "overrides": overrides})
    elif kind == "override" and policy.tiers:
        tier = draw(st.sampled_from([t.name for t in policy.tiers]))
        until = NOW + timedelta(days=draw(st.sampled_from((-3, 2))))
        override = ir.Override(tier=tier, fail_mode=FailMode.OPEN, until=until, reason="INC-1")
        return policy.model_copy(update={"overrides": (*policy.overrides, override)})
    elif kind == "default":
        return policy.model_copy(update={
            "default_decision": draw(st.sampled_from(Decision)),
            "default_tier": draw(st.sampled_from(TierName)),
        })
    return policy.model_copy(update={"rules": tuple(rules)})


@st.composite
def _env_free_conditions(draw: st.DrawFn, donors: st.SearchStrategy[ir.Policy]) -> tuple[
    ir.Condition, ...
]:
    """The topic and cidr conditions of a drawn policy's rules (valid under any envs)."""
    return tuple(c for rule in draw(donors).rules for c in rule.conditions
                 if not isinstance(c, ir.EnvCondition))[:3]


@st.composite
def policy_pairs(draw: st.DrawFn) -> tuple[ir.Policy, ir.Policy]:
    """A base and a head: an edited copy of the base, or an independent policy."""
    base = draw(colliding_policies(max_rules=5))
    if draw(st.booleans()):
        return base, draw(edited(base))
    return base, draw(colliding_policies(max_rules=5))


# -- the oracle ------------------------------------------------------------------------


def _words(alphabet: Sequence[str], length: int) -> list[str]:
    return [".".join(w) for size in range(1, length + 1)
            for w in itertools.product(alphabet, repeat=size)]


def universe(base: ir.Policy, head: ir.Policy) -> list[Request] | None:
    """The representative requests of the pair (module docstring), or None if too many."""
    patterns = list(dict.fromkeys(policy_patterns(base) + policy_patterns(head)))
    literals = sorted({s for p in patterns for s in p if s not in ("*", "**")})  # own wildcards
    alphabet = (*literals, next(f"fresh{n}" for n in itertools.count()
                                if f"fresh{n}" not in literals))
    representatives = representative_topics(patterns, alphabet)
    if representatives is None:
        return None
    envs = [*dict.fromkeys((*base.env_names, *head.env_names)), UNDECLARED]
    networks: list[Network] = [n for p in (base, head) for r in p.rules for c in r.conditions
                               if isinstance(c, ir.CidrCondition) for n in c.networks]
    cidrs = [None if n is None else str(n) for n in cidr_universe(networks)]
    topics = list(dict.fromkeys([*_words(alphabet, 2), *representatives]))
    if len(topics) * len(envs) * len(cidrs) > MAX_REQUESTS:
        return None
    return [Request(t, e, c) for t in topics for e in envs for c in cidrs]


def _decider(evaluation: Evaluation) -> str:
    return evaluation.rule if evaluation.rule is not None else evaluation.reason


def brute_force(base: ir.Policy, head: ir.Policy, requests: Sequence[Request]) -> tuple[
    dict[DecisionKey, str], dict[TierKey, str]
]:
    """The change keys over the universe, each with its direction."""
    declared = set(base.env_names) | set(head.env_names)
    decisions: dict[DecisionKey, str] = {}
    tiers: dict[TierKey, str] = {}
    for request in requests:
        b, h = evaluate(base, request, NOW), evaluate(head, request, NOW)
        assert b.tier is not None and h.tier is not None
        assert b.fail_mode is not None and h.fail_mode is not None
        if b.decision is not h.decision:
            env = request.env if request.env in declared else None
            key = (env, _decider(b), _decider(h), b.tier, h.tier)
            decisions[key] = ("loosening" if h.decision.strictness < b.decision.strictness
                              else "tightening")
        if (b.tier, b.fail_mode) != (h.tier, h.fail_mode):
            opens = b.fail_mode is FailMode.CLOSED and h.fail_mode is FailMode.OPEN
            tiers[(b.tier, b.fail_mode, h.tier, h.fail_mode)] = (
                "loosening" if h.tier.risk < b.tier.risk or opens else "tightening")
    return decisions, tiers


def reported(diff: PolicyDiff) -> tuple[dict[DecisionKey, str], dict[TierKey, str]]:
    decisions = {(c.env, c.base.decider, c.head.decider, c.base.tier, c.head.tier): c.direction
                 for c in diff.changes if c.kind == "decision"}
    tiers = {(c.base.tier, c.base.fail_mode, c.head.tier, c.head.fail_mode): c.direction
             for c in diff.changes if c.kind == "tier"}
    return decisions, tiers


def assert_witnesses_confirmed(base: ir.Policy, head: ir.Policy, diff: PolicyDiff) -> None:
    """Every witness gets the change's outcomes from the reference interpreter."""
    for change in diff.changes:
        b, h = evaluate(base, change.witness, NOW), evaluate(head, change.witness, NOW)
        if change.kind == "decision":
            for side, got in ((change.base, b), (change.head, h)):
                assert (got.decision, got.rule, got.reason, got.tier, got.fail_mode) == (
                    side.decision, side.rule, side.reason, side.tier, side.fail_mode), change
            declared = set(base.env_names) | set(head.env_names)
            assert change.env == (change.witness.env if change.witness.env in declared
                                  else None)
        else:
            assert (b.tier, b.fail_mode) == (change.base.tier, change.base.fail_mode), change
            assert (h.tier, h.fail_mode) == (change.head.tier, change.head.fail_mode), change


def _protected(policies: Sequence[ir.Policy], env: str | None) -> bool:
    return any(e.name == env and e.protected for p in policies for e in p.envs)


ORACLE = settings(max_examples=examples(150), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@ORACLE
@given(policy_pairs())
def test_diff_equals_brute_force(pair: tuple[ir.Policy, ir.Policy]) -> None:
    base, head = pair
    requests = universe(base, head)
    assume(requests is not None)
    assert requests is not None
    diff = diff_policies(base, head, now=NOW)
    assert reported(diff) == brute_force(base, head, requests)
    assert_witnesses_confirmed(base, head, diff)
    assert len({_key(c) for c in diff.changes}) == len(diff.changes)
    for change in diff.changes:
        assert change.protected == (change.kind == "decision"
                                    and _protected((base, head), change.env))
    assert diff.equivalent == (not diff.changes)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(colliding_policies())
def test_diff_with_itself_is_empty(policy: ir.Policy) -> None:
    diff = diff_policies(policy, policy, now=NOW)
    assert diff.changes == ()
    assert diff.equivalent
    assert diff.summary()["loosening"] == diff.summary()["tightening"] == 0


@settings(max_examples=examples(80), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(policy_pairs())
def test_reversed_diff_mirrors_keys_with_opposite_directions(
    pair: tuple[ir.Policy, ir.Policy],
) -> None:
    base, head = pair
    forward = diff_policies(base, head, now=NOW)
    backward = diff_policies(head, base, now=NOW)
    mirrored = {_mirror(c): "loosening" if _mixed(c) else _opposite(c.direction)
                for c in forward.changes}
    assert mirrored == {_key(c): c.direction for c in backward.changes}
    assert_witnesses_confirmed(head, base, backward)


def _key(change: Change) -> tuple[object, ...]:
    return (change.kind, change.env, change.base.decider, change.head.decider,
            change.base.tier, change.head.tier, change.base.fail_mode if change.kind == "tier"
            else None, change.head.fail_mode if change.kind == "tier" else None)


def _mirror(change: Change) -> tuple[object, ...]:
    tier = change.kind == "tier"
    return (change.kind, change.env, change.head.decider, change.base.decider,
            change.head.tier, change.base.tier, change.head.fail_mode if tier else None,
            change.base.fail_mode if tier else None)


def _mixed(change: Change) -> bool:
    """A tier change whose tier and fail mode move opposite ways: loosening both ways round,
    since the normative definition calls a lower tier *or* an opening fail mode loosening."""
    if change.kind != "tier" or change.base.fail_mode is change.head.fail_mode:
        return False
    opens = change.head.fail_mode is FailMode.OPEN
    lower = change.head.tier.risk < change.base.tier.risk
    higher = change.head.tier.risk > change.base.tier.risk
    return (lower and not opens) or (higher and opens)


def _opposite(direction: str) -> str:
    return "tightening" if direction == "loosening" else "loosening"
