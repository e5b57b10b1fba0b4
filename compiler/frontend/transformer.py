"""Parse tree -> AST. Shapes nodes and attaches spans; makes no semantic checks.

The tree is walked here rather than by lark's ``Transformer``: for a tree of five nodes
per rule, lark's dispatch (a ``v_args`` wrapper built on every call) cost more than the
AST it builds. Each tree node goes, children first, to the method named after its rule,
with the node's ``meta`` (positions) and its transformed children.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Token, Tree
from lark.tree import Meta

from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.literals import decode_string
from dualgate.compiler.frontend.source import Span


class PolicyTransformer:
    """Builds ``ast`` nodes from the tree produced by ``policy.lark``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._handlers: dict[str, Callable[[Meta, list[Any]], Any]] = {
            name: getattr(self, name) for name in _RULES
        }

    def transform(self, tree: Tree[Token]) -> list[ast.Statement]:
        """The statements of the parse tree of a whole file."""
        statements: list[ast.Statement] = self._visit(tree)
        return statements

    def _visit(self, tree: Tree[Token]) -> Any:
        children = [self._visit(c) if isinstance(c, Tree) else c for c in tree.children]
        return self._handlers[tree.data](tree.meta, children)

    def _span(self, meta: Meta) -> Span:
        return Span(self._path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _word(self, token: Token) -> ast.Word:
        return ast.Word(str(token), self._token_span(token))

    def _token_span(self, token: Token) -> Span:
        assert token.line is not None and token.column is not None
        assert token.end_line is not None and token.end_column is not None
        return Span(self._path, token.line, token.column, token.end_line, token.end_column)

    def start(self, meta: Meta, c: list[ast.Statement]) -> list[ast.Statement]:
        return c

    def values(self, meta: Meta, c: list[Token]) -> tuple[ast.Word, ...]:
        return tuple(self._word(t) for t in c)

    def policy_decl(self, meta: Meta, c: list[Token]) -> ast.PolicyDecl:
        return ast.PolicyDecl(self._word(c[0]), self._span(meta))

    def protected_mark(self, meta: Meta, c: list[Any]) -> bool:
        return True

    def env_entry(self, meta: Meta, c: list[Any]) -> ast.EnvEntry:
        return ast.EnvEntry(self._word(c[0]), len(c) > 1, self._span(meta))

    def envs_decl(self, meta: Meta, c: list[ast.EnvEntry]) -> ast.EnvsDecl:
        return ast.EnvsDecl(tuple(c), self._span(meta))

    def default_decision(self, meta: Meta, c: list[Token]) -> ast.DefaultDecisionDecl:
        return ast.DefaultDecisionDecl(self._word(c[0]), self._span(meta))

    def default_tier(self, meta: Meta, c: list[Token]) -> ast.DefaultTierDecl:
        return ast.DefaultTierDecl(self._word(c[0]), self._span(meta))

    def tier_decl(self, meta: Meta, c: list[Any]) -> ast.TierDecl:
        name, topics, fail_mode = c
        return ast.TierDecl(self._word(name), topics, self._word(fail_mode), self._span(meta))

    def _condition(self, attribute: ast.Attribute, meta: Meta, c: list[Any]) -> ast.Condition:
        negated = isinstance(c[0], Token) and c[0].type == "NOT"
        return ast.Condition(attribute, negated, c[-1], self._span(meta))

    def topic_condition(self, meta: Meta, c: list[Any]) -> ast.Condition:
        return self._condition("topic", meta, c)

    def env_condition(self, meta: Meta, c: list[Any]) -> ast.Condition:
        return self._condition("env", meta, c)

    def cidr_condition(self, meta: Meta, c: list[Any]) -> ast.Condition:
        return self._condition("cidr", meta, c)

    def when_clause(self, meta: Meta, c: list[ast.Condition]) -> tuple[ast.Condition, ...]:
        return tuple(c)

    def reason_clause(self, meta: Meta, c: list[Token]) -> ast.Text:
        return ast.Text(decode_string(str(c[0])), self._span(meta))

    def rule_decl(self, meta: Meta, c: list[Any]) -> ast.RuleDecl:
        rule_id, *rest = c
        conditions: tuple[ast.Condition, ...] = ()
        if isinstance(rest[0], tuple):
            conditions, *rest = rest
        decision, *reason = rest
        return ast.RuleDecl(
            self._word(rule_id),
            conditions,
            self._word(decision),
            reason[0] if reason else None,
            self._span(meta),
        )

    def override_decl(self, meta: Meta, c: list[Token]) -> ast.OverrideDecl:
        tier, fail_mode, until, reason = c
        return ast.OverrideDecl(
            self._word(tier),
            self._word(fail_mode),
            self._word(until),
            ast.Text(decode_string(str(reason)), self._token_span(reason)),
            self._span(meta),
        )


#: The grammar's rules (every named, non-inlined rule of ``policy.lark``).
_RULES = (
    "start", "values", "policy_decl", "protected_mark", "env_entry", "envs_decl",
    "default_decision", "default_tier", "tier_decl", "topic_condition", "env_condition",
    "cidr_condition", "when_clause", "reason_clause", "rule_decl", "override_decl",
)
