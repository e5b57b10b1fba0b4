"""YAML policy -> AST, validated by ``schemas/policy.schema.json``.

The YAML is composed into nodes (not loaded into plain data) so that every value
keeps its line and column: schema violations and later semantic diagnostics point
into the YAML file exactly as they point into a ``.policy`` file. Scalars are read
with YAML's usual types, except timestamps, which stay the text that was written.
Duplicate keys, which PyYAML would silently overwrite, are errors.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dualgate.compiler import ast
from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.source import SourceFile, Span
from dualgate.schemas import load_schema

JsonPath = tuple[str | int, ...]

_CONDITION_KEYS: dict[str, tuple[ast.Attribute, bool]] = {
    "topic": ("topic", False),
    "topic_not": ("topic", True),
    "env": ("env", False),
    "env_not": ("env", True),
    "cidr": ("cidr", False),
    "cidr_not": ("cidr", True),
}
_TYPED_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_YAML_11_BOOLS = {"yes", "no", "on", "off", "y", "n", "true", "false"}


class _YamlError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Document:
    """The YAML as plain data, plus the node behind every value and every key."""

    data: Any
    nodes: dict[JsonPath, Node]
    keys: dict[JsonPath, Node]


def parse_yaml_policy(source: SourceFile) -> tuple[ast.PolicyFile | None, list[Diagnostic]]:
    """The AST of the YAML policy ``source``, or None and its diagnostics."""
    try:
        document = _compose(source)
    except _YamlError as error:
        return None, [error.diagnostic]
    validator = jsonschema.Draft202012Validator(load_schema("policy"))
    errors = [
        _schema_diagnostic(e, document, source)
        for e in validator.iter_errors(document.data)
    ]
    if errors:
        return None, errors
    return _Builder(source, document).policy(), []


# --- composing ---------------------------------------------------------------------


def _span(source: SourceFile, node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(source.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _compose(source: SourceFile) -> _Document:
    try:
        documents = list(yaml.compose_all(source.text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (error.problem or "invalid YAML").rstrip(".")
        raise _YamlError(
            Diagnostic.of("invalid-yaml", f"invalid YAML: {problem}",
                          source.span_at(line, column))
        ) from None
    except yaml.YAMLError as error:
        raise _YamlError(
            Diagnostic.of("invalid-yaml", f"invalid YAML: {error}", source.span_at(1, 1))
        ) from None
    if len(documents) != 1 or documents[0] is None:
        raise _YamlError(
            Diagnostic.of(
                "invalid-yaml",
                "a YAML policy is exactly one document" if documents else "the file is empty",
                source.span_at(1, 1), help="start with `version: v1` and `policy: NAME`",
            )
        )
    document = _Document(None, {}, {})
    document.data = _to_data(documents[0], (), document, source)
    return document


def _to_data(node: Node, path: JsonPath, document: _Document, source: SourceFile) -> Any:
    document.nodes[path] = node
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _to_data(key_node, (*path, "<key>"), document, source)
            if not isinstance(key, str):
                raise _YamlError(
                    Diagnostic.of("invalid-yaml", "mapping keys must be strings",
                                  _span(source, key_node))
                )
            if key in result:
                raise _YamlError(
                    Diagnostic.of(
                        "invalid-yaml", f"duplicate key `{key}`", _span(source, key_node),
                        help="YAML would silently keep only the last value; remove one",
                    )
                )
            document.keys[(*path, key)] = key_node
            result[key] = _to_data(value_node, (*path, key), document, source)
        return result
    if isinstance(node, SequenceNode):
        return [_to_data(item, (*path, i), document, source) for i, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    if node.tag in _TYPED_TAGS:
        try:
            return SafeConstructor().construct_object(node)
        except (ConstructorError, ValueError):
            return node.value
    return node.value


# --- schema errors -----------------------------------------------------------------


def _where(path: JsonPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the policy"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _schema_diagnostic(
    error: jsonschema.ValidationError, document: _Document, source: SourceFile
) -> Diagnostic:
    path: JsonPath = tuple(error.absolute_path)
    node = document.nodes.get(path) or document.nodes[()]
    span = _span(source, node)
    where = f"`{_where(path)}`"
    schema = error.schema if isinstance(error.schema, dict) else {}
    help: str | None = None

    if error.validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
        extra = [k for k in instance if k not in allowed]
        key = extra[0]
        span = _span(source, document.keys[(*path, key)])
        message = f"unknown key `{key}` in {where}"
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        keys = ", ".join(f"`{k}`" for k in allowed)
        help = f"did you mean `{close[0]}`?" if close else f"the keys are {keys}"
    elif error.validator == "required":
        missing = str(error.message).split("'")[1]
        message = f"{where} is missing the required key `{missing}`"
    elif error.validator == "const":
        message = f"{where} must be `{error.validator_value}`, found `{error.instance}`"
    elif error.validator in ("type", "anyOf", "oneOf"):
        expected = schema.get("x-expected") or _expected_type(error.validator_value)
        message = f"{where} must be {expected}, found {_type_name(error.instance)}"
        if (
            isinstance(error.instance, bool)
            and isinstance(node, ScalarNode)
            and node.value.lower() in _YAML_11_BOOLS
        ):
            help = f"YAML reads `{node.value}` as a boolean; quote it: \"{node.value}\""
        elif isinstance(error.instance, int | float) and isinstance(node, ScalarNode):
            help = f"quote it: \"{node.value}\""
    elif error.validator == "minItems":
        message = f"{where} must not be empty"
    else:
        message = f"{where}: {error.message}"
    return Diagnostic.of("yaml-schema-violation", message, span, help=help)


def _expected_type(value: Any) -> str:
    names = {"string": "a string", "array": "a list", "object": "a mapping",
             "boolean": "a boolean", "integer": "a number", "number": "a number"}
    return names.get(value, str(value)) if isinstance(value, str) else "a valid value"


# --- building the AST --------------------------------------------------------------


class _Builder:
    def __init__(self, source: SourceFile, document: _Document) -> None:
        self.source = source
        self.document = document

    def span(self, path: JsonPath) -> Span:
        return _span(self.source, self.document.nodes[path])

    def entry_span(self, path: JsonPath) -> Span:
        """From the key to the end of the value (a whole `key: value` entry)."""
        key = self.document.keys.get(path)
        value = self.span(path)
        return _span(self.source, key).merge(value) if key is not None else value

    def word(self, path: JsonPath) -> ast.Word:
        value = self._value(path)
        return ast.Word(str(value), self.span(path))

    def words(self, path: JsonPath) -> tuple[ast.Word, ...]:
        value = self._value(path)
        if isinstance(value, list):
            return tuple(self.word((*path, i)) for i in range(len(value)))
        return (self.word(path),)

    def _value(self, path: JsonPath) -> Any:
        value = self.document.data
        for part in path:
            value = value[part]
        return value

    def policy(self) -> ast.PolicyFile:
        data: dict[str, Any] = self.document.data
        statements: list[ast.Statement] = [
            ast.PolicyDecl(self.word(("policy",)), self.entry_span(("policy",)))
        ]
        if "envs" in data:
            entries = tuple(self.env(("envs", i)) for i in range(len(data["envs"])))
            statements.append(ast.EnvsDecl(entries, self.entry_span(("envs",))))
        if "default_decision" in data:
            statements.append(ast.DefaultDecisionDecl(
                self.word(("default_decision",)), self.entry_span(("default_decision",))
            ))
        if "default_tier" in data:
            statements.append(ast.DefaultTierDecl(
                self.word(("default_tier",)), self.entry_span(("default_tier",))
            ))
        for i in range(len(data.get("tiers", []))):
            p: JsonPath = ("tiers", i)
            statements.append(ast.TierDecl(
                self.word((*p, "name")), self.words((*p, "topics")),
                self.word((*p, "fail_mode")), self.span(p),
            ))
        for i in range(len(data.get("rules", []))):
            statements.append(self.rule(("rules", i)))
        for i in range(len(data.get("overrides", []))):
            p = ("overrides", i)
            statements.append(ast.OverrideDecl(
                self.word((*p, "tier")), self.word((*p, "fail_mode")),
                self.word((*p, "until")),
                ast.Text(str(self._value((*p, "reason"))), self.span((*p, "reason"))),
                self.span(p),
            ))
        return ast.PolicyFile(tuple(statements), (), self.source)

    def env(self, path: JsonPath) -> ast.EnvEntry:
        value = self._value(path)
        if isinstance(value, dict):
            return ast.EnvEntry(
                self.word((*path, "name")), bool(value.get("protected", False)), self.span(path)
            )
        return ast.EnvEntry(self.word(path), False, self.span(path))

    def rule(self, path: JsonPath) -> ast.RuleDecl:
        rule: dict[str, Any] = self._value(path)
        conditions = tuple(
            ast.Condition(
                *_CONDITION_KEYS[key], self.words((*path, "when", key)),
                self.entry_span((*path, "when", key)),
            )
            for key in (rule.get("when") or {})
        )
        reason = (
            ast.Text(str(rule["reason"]), self.span((*path, "reason")))
            if "reason" in rule else None
        )
        return ast.RuleDecl(
            self.word((*path, "id")), conditions, self.word((*path, "decision")), reason,
            self.span(path),
        )
