"""Rule checks (DG2xx): unmatchable, shadowed, redundant and conflicting rules.

Each check reads the region space and the sweep's facts and reports one diagnostic per
finding, located at the subject rule, with ``rules`` (subject first) and ``witness`` (a
request that demonstrates the finding under the reference semantics; None for an
unmatchable rule, which no request matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dualgate.compiler.analysis.context import AnalysisContext
from dualgate.compiler.codes import Severity
from dualgate.compiler.diagnostics import Diagnostic, Related
from dualgate.compiler.ir import CidrCondition, EnvCondition, TopicCondition

_MAX_NAMED = 4  # rules named in a message; JSON and the notes carry all of them

_ATTRIBUTE: dict[str, type[TopicCondition | EnvCondition | CidrCondition]] = {
    "topic": TopicCondition, "env": EnvCondition, "cidr": CidrCondition,
}


def names(context: AnalysisContext, rules: Iterable[int | None]) -> str:
    """`a`, `b` and `c` (and N more), in rule order, the default last."""
    ordered = sorted(rules, key=lambda r: (r is None, r or 0))
    shown = [context.decider(r) for r in ordered[:_MAX_NAMED]]
    if len(ordered) > _MAX_NAMED:
        shown.append(f"{len(ordered) - _MAX_NAMED} more")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def rule_ids(context: AnalysisContext, subject: int, others: Iterable[int | None]) -> list[str]:
    """The ``rules`` field: the subject's id, then the other rules' ids in rule order."""
    rest = sorted({r for r in others if r is not None and r != subject})
    return [context.rule(subject).id, *(context.rule(r).id for r in rest)]


def related(context: AnalysisContext, rules: Iterable[int | None], role: str) -> list[Related]:
    return [
        Related(context.rule_span(r), f"{role} `{context.rule(r).id}`")
        for r in sorted({r for r in rules if r is not None})
    ]


def check_unmatchable_rules(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG201: a rule whose own conditions admit no request."""
    for box in context.space.boxes:
        dimension = box.empty_dimension
        if dimension is None:
            continue
        rule = context.rule(box.rule)
        written = [c for c in rule.conditions if isinstance(c, _ATTRIBUTE[dimension])]
        what = {"topic": "no topic", "env": "no declared env", "cidr": "no request network"}
        together = " together" if len(written) > 1 else ""
        yield Diagnostic.of(
            "unmatchable-rule",
            f"rule `{rule.id}` can never match: {what[dimension]} satisfies its {dimension} "
            f"conditions{together}",
            context.rule_span(box.rule),
            help="fix the contradicting conditions, or delete the rule",
            related=[Related(context.span_of(c.span), f"{dimension} condition") for c in written],
            rules=[rule.id], witness=None,
        )


def check_shadowed_rules(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG202: a matchable rule that never decides, with the rules that block it."""
    facts = context.facts
    for rule_index, blockers in sorted(facts.blockers.items()):
        rule = context.rule(rule_index)
        region, taker = facts.blocked_witness[rule_index]
        request = context.space.request(*region)
        differing = sorted(b for b in blockers if context.rule(b).decision is not rule.decision)
        if differing:
            verdict = (f"{names(context, differing)} decide"
                       f"{'s' if len(differing) == 1 else ''} differently")
        else:
            verdict = f"all decide `{rule.decision}` too"
        yield Diagnostic.of(
            "shadowed-rule",
            f"rule `{rule.id}` is shadowed by {names(context, blockers)}: every request it "
            f"matches is decided earlier ({verdict}); e.g. {request} is decided by "
            f"`{context.rule(taker).id}`",
            context.rule_span(rule_index),
            help="move the rule above the rules that block it, narrow them, or delete it",
            related=related(context, blockers, "blocked by"),
            rules=rule_ids(context, rule_index, blockers), witness=request.to_json(),
            decides_differently=bool(differing),
        )


def check_redundant_rules(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG203: a reachable rule whose deletion changes no decision."""
    facts = context.facts
    for rule_index in sorted(facts.reachable - facts.needed):
        rule = context.rule(rule_index)
        instead = facts.fallthrough[rule_index]
        region, decider = facts.fallthrough_witness[rule_index]
        request = context.space.request(*region)
        yield Diagnostic.of(
            "redundant-rule",
            f"rule `{rule.id}` is redundant: without it, {names(context, instead)} "
            f"{'gives' if len(instead) == 1 else 'give'} every request it decides the same "
            f"decision, `{rule.decision}`; e.g. {request} goes to {context.decider(decider)}",
            context.rule_span(rule_index),
            help="delete the rule",
            related=related(context, instead, "decided instead by"),
            rules=rule_ids(context, rule_index, instead), witness=request.to_json(),
        )


def check_conflicting_rules(context: AnalysisContext) -> Iterator[Diagnostic]:
    """DG204: overlapping rules with different decisions whose order decides.

    Located at the later rule; info when the later rule generalizes the earlier one. A
    later rule that never decides is left to ``shadowed-rule``, which names the earlier
    rules that decide differently.
    """
    space, facts = context.space, context.facts
    for (earlier, later), region in sorted(facts.conflicts.items(),
                                           key=lambda item: (item[0][1], item[0][0])):
        if later in facts.blockers:
            continue
        request = space.request(*region)
        first, second = context.rule(earlier), context.rule(later)
        # A later rule inside the earlier one never decides: it is shadowed, not here.
        generalizes = space.covers(later, earlier)
        shape = ("generalizes it (an exception before a general rule)" if generalizes
                 else "overlaps it partly")
        yield Diagnostic.of(
            "conflicting-rules",
            f"rule `{second.id}` conflicts with earlier rule `{first.id}` and {shape}: "
            f"on {request} both match; `{first.id}` decides `{first.decision}` because it "
            f"comes first, `{second.id}` would decide `{second.decision}`",
            context.rule_span(later),
            help=None if generalizes else
            "make the rules disjoint, or keep the order and record why with a suppression",
            related=related(context, [earlier], "earlier rule"),
            severity=Severity.INFO if generalizes else None,
            rules=[second.id, first.id], witness=request.to_json(),
        )
