"""The AST of a plain YAML policy, read from its composed nodes in one walk.

``yaml_front`` reads a YAML policy as plain data, checks the data against the JSON schema
and then builds the AST from it: the reference, whose diagnostics the tests pin. Nearly
every policy is plain: only the keys of the schema, each once, every value of the type
the schema wants, no empty names, no anchors, aliases or merge keys. This module builds
such a policy's AST straight from the nodes, with the statements and spans the reference
builds, and gives up (returns None) at the first thing it does not expect; the caller
then reads the document with the reference, which finds what is wrong and says where.
So a broken policy gets exactly the diagnostics it always got.
``tests/test_yaml_direct.py`` checks that both paths give the same AST, spans included,
on generated policies and on damaged ones.
"""

from __future__ import annotations

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.source import SourceFile, Span

#: Tags whose scalars the reference turns into something other than their text.
TYPED_TAGS = frozenset({
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
})
MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
#: Tags a key may not carry here: typed keys are errors, `<<` merges are left to the
#: reference, which expands them.
_NOT_KEYS = TYPED_TAGS | {MERGE_TAG}
CONDITION_KEYS: dict[str, tuple[ast.Attribute, bool]] = {
    "topic": ("topic", False),
    "topic_not": ("topic", True),
    "env": ("env", False),
    "env_not": ("env", True),
    "cidr": ("cidr", False),
    "cidr_not": ("cidr", True),
}


class _NotPlainError(Exception):
    """The document is not a plain policy: the reference reads it."""


def direct_statements(root: Node, source: SourceFile) -> tuple[ast.Statement, ...] | None:
    """The statements of the policy whose document node is ``root``, as the reference
    builds them, or None when the document is not plain (then only the reference
    decides whether it is a policy at all).

    Text with a `&` may hold an anchor, so aliases: it is left to the reference, which
    refuses aliases that contain themselves or expand too far. Without one, every node
    stands for one value and the walk is a walk over a tree of fixed depth.
    """
    if "&" in source.text:
        return None
    try:
        return _Reader(source.path).policy(root)
    except _NotPlainError:
        return None


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def span(self, node: Node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(self.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def entry_span(self, key: Node, value: Node) -> Span:
        """From the key to the end of the value: ``Span.merge`` of their spans, which
        without aliases (``direct_statements`` takes none) is from the key's start to the
        value's end, as the key is written first."""
        start, end = key.start_mark, value.end_mark
        return Span(self.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    @staticmethod
    def key(node: Node) -> str:
        if type(node) is not ScalarNode or node.tag in _NOT_KEYS:
            raise _NotPlainError
        return node.value  # type: ignore[no-any-return]

    @staticmethod
    def text(node: Node, *, empty: bool = False) -> str:
        """A string value; empty only where ``empty`` allows it, and only when written
        (an empty value without quotes takes its position from a neighbouring token,
        which libyaml and PyYAML pick differently: the reference settles that)."""
        if type(node) is not ScalarNode or node.tag in TYPED_TAGS:
            raise _NotPlainError
        value: str = node.value
        if not value and (not empty or node.start_mark.index == node.end_mark.index):
            raise _NotPlainError
        return value

    def word(self, node: Node) -> ast.Word:
        """A non-empty string value (``text`` and ``span`` in one, as it runs for nearly
        every value of a policy)."""
        if type(node) is not ScalarNode or node.tag in TYPED_TAGS or not node.value:
            raise _NotPlainError
        start, end = node.start_mark, node.end_mark
        return ast.Word(node.value, Span(self.path, start.line + 1, start.column + 1,
                                         end.line + 1, end.column + 1))

    def words(self, node: Node) -> tuple[ast.Word, ...]:
        """A string or a non-empty list of strings."""
        if type(node) is SequenceNode:
            if not node.value:
                raise _NotPlainError
            return tuple(self.word(item) for item in node.value)
        return (self.word(node),)

    @staticmethod
    def items(node: Node) -> list[Node]:
        if type(node) is not SequenceNode:
            raise _NotPlainError
        return node.value  # type: ignore[no-any-return]

    @staticmethod
    def pairs(node: Node) -> list[tuple[Node, Node]]:
        if type(node) is not MappingNode:
            raise _NotPlainError
        return node.value  # type: ignore[no-any-return]

    def policy(self, root: Node) -> tuple[ast.Statement, ...]:
        found: dict[str, tuple[Node, Node]] = {}
        for key, value in self.pairs(root):
            name = self.key(key)
            if name in found or name not in _TOP_KEYS:
                raise _NotPlainError
            found[name] = (key, value)
        if "version" not in found or "policy" not in found:
            raise _NotPlainError
        if self.text(found["version"][1]) != "v1":
            raise _NotPlainError
        key, value = found["policy"]
        statements: list[ast.Statement] = [
            ast.PolicyDecl(self.word(value), self.entry_span(key, value))
        ]
        if "envs" in found:
            key, value = found["envs"]
            entries = tuple(self.env(item) for item in self.items(value))
            statements.append(ast.EnvsDecl(entries, self.entry_span(key, value)))
        if "default_decision" in found:
            key, value = found["default_decision"]
            statements.append(ast.DefaultDecisionDecl(self.word(value),
                                                      self.entry_span(key, value)))
        if "default_tier" in found:
            key, value = found["default_tier"]
            statements.append(ast.DefaultTierDecl(self.word(value), self.entry_span(key, value)))
        if "tiers" in found:
            statements.extend(self.tier(item) for item in self.items(found["tiers"][1]))
        if "rules" in found:
            statements.extend(self.rule(item) for item in self.items(found["rules"][1]))
        if "overrides" in found:
            statements.extend(self.override(item) for item in self.items(found["overrides"][1]))
        return tuple(statements)

    def fields(self, node: Node, allowed: frozenset[str], required: frozenset[str]) -> dict[
        str, Node
    ]:
        """The values of a mapping with only ``allowed`` keys, each once, and every key of
        ``required``."""
        fields: dict[str, Node] = {}
        for key, value in self.pairs(node):
            name = self.key(key)
            if name in fields or name not in allowed:
                raise _NotPlainError
            fields[name] = value
        if not required <= fields.keys():
            raise _NotPlainError
        return fields

    def env(self, node: Node) -> ast.EnvEntry:
        if type(node) is not MappingNode:
            return ast.EnvEntry(self.word(node), False, self.span(node))
        fields = self.fields(node, _ENV_KEYS, _ENV_REQUIRED)
        protected = False
        if "protected" in fields:
            flag = fields["protected"]
            if type(flag) is not ScalarNode or flag.tag != _BOOL_TAG:
                raise _NotPlainError
            value = SafeConstructor.bool_values.get(flag.value.lower())
            if value is None:
                raise _NotPlainError
            protected = value
        return ast.EnvEntry(self.word(fields["name"]), protected, self.span(node))

    def tier(self, node: Node) -> ast.TierDecl:
        fields = self.fields(node, _TIER_KEYS, _TIER_KEYS)
        return ast.TierDecl(self.word(fields["name"]), self.words(fields["topics"]),
                            self.word(fields["fail_mode"]), self.span(node))

    def override(self, node: Node) -> ast.OverrideDecl:
        fields = self.fields(node, _OVERRIDE_KEYS, _OVERRIDE_KEYS)
        reason = fields["reason"]
        return ast.OverrideDecl(
            self.word(fields["tier"]), self.word(fields["fail_mode"]),
            self.word(fields["until"]),
            ast.Text(self.text(reason, empty=True), self.span(reason)), self.span(node),
        )

    def rule(self, node: Node) -> ast.RuleDecl:
        # The hot path of a large policy: one pass over the pairs, no intermediate dict.
        rule_id = decision = None
        reason: ast.Text | None = None
        conditions: tuple[ast.Condition, ...] = ()
        seen_when = seen_reason = False
        for key, value in self.pairs(node):
            if type(key) is not ScalarNode or key.tag in _NOT_KEYS:  # ``key``, inlined
                raise _NotPlainError
            name = key.value
            if name == "id" and rule_id is None:
                rule_id = self.word(value)
            elif name == "decision" and decision is None:
                decision = self.word(value)
            elif name == "when" and not seen_when:
                seen_when = True
                conditions = self.conditions(value)
            elif name == "reason" and not seen_reason:
                seen_reason = True
                reason = ast.Text(self.text(value, empty=True), self.span(value))
            else:
                raise _NotPlainError
        if rule_id is None or decision is None:
            raise _NotPlainError
        return ast.RuleDecl(rule_id, conditions, decision, reason, self.span(node))

    def conditions(self, node: Node) -> tuple[ast.Condition, ...]:
        conditions = []
        seen: set[str] = set()
        for key, value in self.pairs(node):
            if type(key) is not ScalarNode or key.tag in _NOT_KEYS:  # ``key``, inlined
                raise _NotPlainError
            name = key.value
            kind = CONDITION_KEYS.get(name)
            if kind is None or name in seen:
                raise _NotPlainError
            seen.add(name)
            words = (self.word(value),) if type(value) is ScalarNode else self.words(value)
            start, end = key.start_mark, value.end_mark  # ``entry_span``, inlined
            conditions.append(ast.Condition(kind[0], kind[1], words, Span(
                self.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)))
        return tuple(conditions)


_TOP_KEYS = frozenset({"version", "policy", "envs", "default_decision", "default_tier",
                       "tiers", "rules", "overrides"})
_ENV_KEYS = frozenset({"name", "protected"})
_ENV_REQUIRED = frozenset({"name"})
_TIER_KEYS = frozenset({"name", "topics", "fail_mode"})
_OVERRIDE_KEYS = frozenset({"tier", "fail_mode", "until", "reason"})
