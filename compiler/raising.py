"""IR -> AST: the statements that say what an IR policy means, for printing it as text.

The inverse of lowering up to spelling: ``lower(raise_policy(p))`` is ``p``. Every
setting is written out (``default_decision`` and ``default_tier`` even when they are
the defaults; ``envs`` only when there are any), values in their canonical spelling,
so ``formatter.format_policy(raise_policy(p))`` is the policy text of any IR.
"""

from __future__ import annotations

from dualgate.compiler import ir
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.source import Span

#: The span of every raised node: IR carries meaning, not positions.
IR_SPAN = Span("<ir>", 1, 1, 1, 2)


def raise_policy(policy: ir.Policy) -> ast.PolicyFile:
    """The AST of ``policy``: header, envs, defaults, tiers, rules, overrides, in that order."""
    statements: list[ast.Statement] = [ast.PolicyDecl(_word(policy.name), IR_SPAN)]
    if policy.envs:
        entries = tuple(ast.EnvEntry(_word(e.name), e.protected, IR_SPAN) for e in policy.envs)
        statements.append(ast.EnvsDecl(entries, IR_SPAN))
    statements.append(ast.DefaultDecisionDecl(_word(policy.default_decision.value), IR_SPAN))
    statements.append(ast.DefaultTierDecl(_word(policy.default_tier.value), IR_SPAN))
    statements.extend(_tier(t) for t in policy.tiers)
    statements.extend(_rule(r) for r in policy.rules)
    statements.extend(_override(o) for o in policy.overrides)
    return ast.PolicyFile(tuple(statements))


def _word(text: str) -> ast.Word:
    return ast.Word(text, IR_SPAN)


def _words(texts: tuple[str, ...] | list[str]) -> tuple[ast.Word, ...]:
    return tuple(_word(t) for t in texts)


def _tier(tier: ir.Tier) -> ast.TierDecl:
    return ast.TierDecl(
        _word(tier.name.value), _words([p.text for p in tier.patterns]),
        _word(tier.fail_mode.value), IR_SPAN,
    )


def _rule(rule: ir.Rule) -> ast.RuleDecl:
    reason = ast.Text(rule.reason, IR_SPAN) if rule.reason is not None else None
    return ast.RuleDecl(
        _word(rule.id), tuple(_condition(c) for c in rule.conditions),
        _word(rule.decision.value), reason, IR_SPAN,
    )


def _condition(condition: ir.Condition) -> ast.Condition:
    match condition:
        case ir.TopicCondition(patterns=patterns):
            values = _words([p.text for p in patterns])
        case ir.EnvCondition(envs=envs):
            values = _words(envs)
        case ir.CidrCondition(networks=networks):
            values = _words([str(n) for n in networks])
    return ast.Condition(condition.attribute, condition.negated, values, IR_SPAN)


def _override(override: ir.Override) -> ast.OverrideDecl:
    return ast.OverrideDecl(
        _word(override.tier.value), _word(override.fail_mode.value),
        _word(ir.format_timestamp(override.until)), ast.Text(override.reason, IR_SPAN), IR_SPAN,
    )
