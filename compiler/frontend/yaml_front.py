"""YAML policy -> AST, validated by ``schemas/policy.schema.json``.

The YAML is composed into nodes (not loaded into plain data) so that every value
keeps its line and column: schema violations and later semantic diagnostics point
into the YAML file exactly as they point into a ``.policy`` file. Scalars are read
with YAML's usual types, except timestamps, which stay the text that was written.
Duplicate keys, which PyYAML would silently overwrite, are errors. Anchors, aliases
and `<<` merge keys work; an alias inside the collection it names, or aliases that
expand far beyond any real policy, are errors rather than a hang.

A plain policy (the usual one) is read from its nodes straight into the AST by
``yaml_direct``; every other document goes the way described here, through plain data
and the JSON schema, which is the reference both paths are tested against.

The YAML is read with libyaml's C parser when PyYAML was built with it (its wheels
are), about ten times faster than PyYAML's pure-Python one; nodes keep their marks
either way. The pure loader stays the reference: any text libyaml refuses is read
again by it, so a broken file gets PyYAML's diagnostics wherever libyaml is present
or not. Setting ``DUALGATE_PURE_YAML`` (to anything but empty) forces the pure loader.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import fastjsonschema
import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dualgate.compiler.diagnostics import MESSAGE_WIDTH, Diagnostic, shown, suggest
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.frontend.yaml_direct import (
    CONDITION_KEYS,
    MERGE_TAG,
    TYPED_TAGS,
    direct_statements,
)
from dualgate.schemas import load_schema

if TYPE_CHECKING:
    import jsonschema

JsonPath = tuple[str | int, ...]

_YAML_11_BOOLS = {"yes", "no", "on", "off", "y", "n", "true", "false"}
#: Values expansion may add beyond the nodes written: aliases to shared lists and `<<`
#: merges of a common mapping stay far below this, while an alias bomb (`&a [*b, *b, ...]`
#: nested) passes it after a few levels. The bound is relative to the nodes written, so a
#: large policy written out in full is never refused for its size.
_EXPANSION_ALLOWANCE = 100_000
#: How many values each written node may stand for once expanded, on top of the allowance.
_EXPANSION_FACTOR = 10
#: How deeply values may nest once aliases are expanded: a policy nests five deep, and the
#: bound keeps every recursion over the document far from Python's limit.
_MAX_DEPTH = 100
#: The environment variable that forces PyYAML's pure-Python loader.
PURE_YAML_VARIABLE = "DUALGATE_PURE_YAML"


def libyaml_in_use() -> bool:
    """Whether YAML is read with libyaml: PyYAML has it, and ``DUALGATE_PURE_YAML`` is
    unset or empty."""
    return bool(yaml.__with_libyaml__) and not os.environ.get(PURE_YAML_VARIABLE)


@dataclass(frozen=True)
class YamlForm:
    """A kind of YAML file dualgate reads: how messages name it, the code of its schema
    errors, and the help for an empty file."""

    whole: str
    noun: str
    schema_code: str
    empty_help: str


POLICY_FORM = YamlForm("the policy", "YAML policy file", "yaml-schema-violation",
                       "start with `version: v1` and `policy: NAME`")


class _YamlError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Document:
    """The YAML as plain data, plus the node behind every value and every key."""

    data: Any = None
    nodes: dict[JsonPath, Node] = field(default_factory=dict)
    keys: dict[JsonPath, Node] = field(default_factory=dict)
    values: int = 0
    #: How many values expansion may build: the allowance alone until it is passed, then
    #: (counting the nodes of ``root`` once) the allowance plus the factor per node.
    limit: int = _EXPANSION_ALLOWANCE
    root: Node | None = None
    counted: bool = False
    constructor: SafeConstructor = field(default_factory=SafeConstructor)
    #: Whether some value is the empty string (which ``_empty_values`` then looks for).
    has_empty: bool = False
    #: Whether libyaml composed the nodes (so an empty value must be composed again).
    libyaml: bool = False


class _LibyamlMarksError(Exception):
    """libyaml composed a node whose marks PyYAML's may not match: compose again with it."""


def parse_yaml_policy(
    source: SourceFile, *, libyaml: bool | None = None, direct: bool = True,
) -> tuple[ast.PolicyFile | None, list[Diagnostic]]:
    """The AST of the YAML policy ``source``, or None and its diagnostics.

    ``libyaml`` picks the loader (None: ``libyaml_in_use()``); both give the same AST and
    the same diagnostics. A plain policy is read straight from its nodes
    (``yaml_direct``); any other, or every one when ``direct`` is false, goes through
    plain data and the JSON schema, the reference that gives the diagnostics. Both give
    the same AST.
    """
    libyaml = libyaml_in_use() if libyaml is None else libyaml
    try:
        root = _root(source, POLICY_FORM, libyaml)
        statements = direct_statements(root, source) if direct else None
        if statements is not None:
            return ast.PolicyFile(statements, yaml_comments(source, libyaml=libyaml),
                                  source), []
        document = _compose(source, libyaml=libyaml, root=root)
    except _YamlError as error:
        return None, [error.diagnostic]
    errors = [
        d for e in schema_violations(load_schema("policy"), document.data)
        for d in _schema_diagnostics(e, document, source)
    ]
    if not errors and document.has_empty:
        errors = _empty_values(document.data, (), document, source)
    if errors:
        return None, errors
    return _Builder(source, document, libyaml).policy(), []


def read_yaml_data(
    source: SourceFile, schema: dict[str, Any], *, form: YamlForm = POLICY_FORM,
    libyaml: bool | None = None,
) -> tuple[Any, dict[JsonPath, Span], list[Diagnostic]]:
    """Any other one-document YAML file dualgate reads (waivers, test files), as plain data
    checked against ``schema``, with the span of every value; the errors point into the
    file exactly as a policy's do. The data is None when the YAML itself is invalid."""
    libyaml = libyaml_in_use() if libyaml is None else libyaml
    try:
        document = _compose(source, form, libyaml=libyaml)
    except _YamlError as error:
        return None, {}, [error.diagnostic]
    errors = [
        d for e in schema_violations(schema, document.data)
        for d in _schema_diagnostics(e, document, source, form)
    ]
    spans = {path: _span(source, node) for path, node in document.nodes.items()}
    return document.data, spans, errors


def schema_violations(schema: dict[str, Any], data: Any) -> Iterable[
    jsonschema.ValidationError
]:
    """Every way ``data`` violates ``schema``, as ``jsonschema`` reports them.

    Data is first checked by the validator ``fastjsonschema`` compiles from the schema,
    tens of times faster than ``jsonschema``; only data it refuses is validated again by
    ``jsonschema``, whose errors the messages are made from (and which is imported only
    then). ``tests/test_yaml_libyaml.py`` checks that the two agree on what is valid.
    """
    if _compiled(json.dumps(schema, sort_keys=True))(data):
        return ()
    import jsonschema

    return jsonschema.Draft202012Validator(schema).iter_errors(data)


@cache
def _compiled(schema_text: str) -> Callable[[Any], bool]:
    """Whether data is valid, by ``fastjsonschema``'s code for the schema ``schema_text``."""
    check = fastjsonschema.compile(json.loads(schema_text), use_default=False)

    def valid(data: Any) -> bool:
        try:
            check(data)
        except Exception:  # refused, or data it cannot handle: jsonschema decides
            return False
        return True

    return valid


def _empty_values(
    value: Any, path: JsonPath, document: _Document, source: SourceFile
) -> list[Diagnostic]:
    """An empty string where a name, pattern or other value belongs (a reason may be empty).

    The DSL cannot write an empty value; the YAML form reports it here, by its path,
    instead of lowering reporting a value shown as ``.
    """
    if value == "" and path[-1:] != ("reason",):
        return [Diagnostic.of(
            "yaml-schema-violation", f"{_where(path)} must not be empty",
            _span(source, document.nodes[path]),
        )]
    if isinstance(value, dict):
        items: list[tuple[str | int, Any]] = list(value.items())
    else:
        items = list(enumerate(value)) if isinstance(value, list) else []
    return [d for key, item in items for d in _empty_values(item, (*path, key), document, source)]


# --- composing ---------------------------------------------------------------------


def yaml_comments(source: SourceFile, *, libyaml: bool | None = None) -> tuple[
    ast.Comment, ...
]:
    """The `#` comments of a YAML text that scans, in order (empty if it does not scan).

    PyYAML's scanner drops comments, so they are found between its tokens: a `#` outside
    every token (so not inside a quoted or block scalar) at the start of a line or after
    whitespace starts a comment that runs to the end of the line. libyaml's scanner
    (``libyaml``, None: ``libyaml_in_use()``) finds the same comments in any text that
    composes, which is the only text the front end asks about; in a broken one it may
    scan where the pure scanner stops, and find comments where that finds none.
    """
    text = source.text
    if "#" not in text:
        return ()
    libyaml = libyaml_in_use() if libyaml is None else libyaml
    tokens: list[yaml.Token] | None = None
    if libyaml and not _PURE_ONLY.search(text):
        try:
            tokens = list(yaml.scan(text, Loader=yaml.CSafeLoader))
        except Exception:  # the pure scanner decides, as for composing
            tokens = None
    try:
        tokens = tokens if tokens is not None else list(yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return ()
    covered = sorted((t.start_mark.index, t.end_mark.index) for t in tokens
                     if t.end_mark.index > t.start_mark.index)
    comments: list[ast.Comment] = []
    position, token = text.find("#"), 0
    while position >= 0:
        while token < len(covered) and covered[token][1] <= position:
            token += 1
        inside = token < len(covered) and covered[token][0] <= position
        if not inside and (position == 0 or text[position - 1] in " \t\n"):
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            body = text[position:end].rstrip()
            comments.append(ast.Comment(
                body, Span(source.path, line, column, line, column + len(body))
            ))
            position = end
        position = text.find("#", position + 1)
    return tuple(comments)


def _span(source: SourceFile, node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(source.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _documents(text: str, libyaml: bool) -> list[Node]:
    """The nodes of every document of ``text``, composed by libyaml when ``libyaml``.

    Whatever libyaml refuses (or fails on, e.g. text it cannot encode) is composed again
    by the pure loader, whose errors are the ones reported. So is text with a character
    the two read differently (``_PURE_ONLY``).
    """
    if libyaml and not _PURE_ONLY.search(text):
        try:
            documents = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
        except Exception:  # the pure loader raises the error to report
            pass
        else:
            _end_marks_as_pure(documents, text)
            return documents
    return list(yaml.compose_all(text, Loader=yaml.SafeLoader))


#: Characters the two loaders read differently: the pure one refuses a tab outside quotes
#: (`a\tb: c`) and a `?` in a flow collection (`{a?: b}`, `[?x]`) where libyaml accepts
#: them, and takes a byte-order mark inside the text as a character where libyaml skips
#: it. Text holding one is read by the pure loader alone, so that it is refused (or read)
#: as without libyaml.
_PURE_ONLY = re.compile("[\t?\ufeff]")
_LINE_BREAKS = "\n\r\x85\u2028\u2029"


def _end_marks_as_pure(documents: list[Node], text: str) -> None:
    """Give marks at the end of a text without a final line break the position PyYAML
    gives them.

    At the end of the stream libyaml moves to a new line first, so the collections still
    open there end (and empty values there start) one line past the text; PyYAML's
    marks stay at the end of the last line.
    """
    if not text or text[-1] in _LINE_BREAKS:
        return
    last_break = max(text.rfind(c) for c in _LINE_BREAKS)
    # `\r\n` is one break; each other break character is one.
    line = sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")
    end = yaml.Mark("<unicode string>", len(text), line, len(text) - last_break - 1, None, 0)
    pending = list(documents)
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.start_mark.line > line:
            node.start_mark = end
        if node.end_mark.line > line:
            node.end_mark = end
        if isinstance(node, MappingNode):
            pending.extend(part for pair in node.value for part in pair)
        elif isinstance(node, SequenceNode):
            pending.extend(node.value)


def _compose(
    source: SourceFile, form: YamlForm = POLICY_FORM, *, libyaml: bool = False,
    root: Node | None = None,
) -> _Document:
    """The document of ``source`` as plain data. ``root`` is its node when already
    composed by the loader ``libyaml`` names."""
    if root is None:
        root = _root(source, form, libyaml)
    if libyaml:
        try:
            return _data(root, source, libyaml=True)
        except _LibyamlMarksError:
            root = _root(source, form, False)
    return _data(root, source, libyaml=False)


def _data(root: Node, source: SourceFile, *, libyaml: bool) -> _Document:
    document = _Document(root=root, libyaml=libyaml)
    document.data = _to_data(root, (), document, source, frozenset())
    return document


def _root(source: SourceFile, form: YamlForm, libyaml: bool) -> Node:
    """The node of the one document of ``source``; a file that is not one YAML document
    is a ``_YamlError``."""
    try:
        documents = _documents(source.text, libyaml)
    except yaml.MarkedYAMLError as error:
        _refuse_unquoted_star(error, source)
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = _quoted((error.problem or "invalid YAML").rstrip("."))
        context = error.context_mark if error.context and error.problem_mark else None
        help: str | None
        if error.context and context is not None:
            help = (f"{_quoted(error.context)} "
                    f"(line {context.line + 1}, column {context.column + 1})")
        else:
            help = _PROBLEM_HELP.get(problem)
        raise _YamlError(
            Diagnostic.of("invalid-yaml", f"invalid YAML: {problem}",
                          source.span_at(line, column), help=help)
        ) from None
    except yaml.YAMLError as error:
        raise _YamlError(
            Diagnostic.of("invalid-yaml", f"invalid YAML: {shown(str(error), MESSAGE_WIDTH)}",
                          source.span_at(1, 1))
        ) from None
    except RecursionError:
        raise _too_deep(source) from None
    if not documents:
        raise _YamlError(
            Diagnostic.of(
                "invalid-yaml", "the file is empty", source.span_at(1, 1),
                help=form.empty_help,
            )
        )
    if len(documents) > 1:
        raise _YamlError(
            Diagnostic.of(
                "invalid-yaml", f"a {form.noun} holds exactly one document",
                source.span_at(documents[1].start_mark.line + 1,
                               documents[1].start_mark.column + 1),
                help="write one document per file, without a second `---`",
            )
        )
    return documents[0]


def _too_deep(source: SourceFile) -> _YamlError:
    return _YamlError(
        Diagnostic.of("invalid-yaml", "invalid YAML: the document is nested too deeply",
                      source.span_at(1, 1))
    )


def _written_nodes(root: Node) -> int:
    """How many distinct nodes the document holds: each written once, however often aliased."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            pending.extend(part for pair in node.value for part in pair)
        elif isinstance(node, SequenceNode):
            pending.extend(node.value)
    return len(seen)


def _refuse_unquoted_star(error: yaml.MarkedYAMLError, source: SourceFile) -> None:
    """Raise the "quote it" diagnostic when PyYAML read a topic pattern such as `**.delete`
    or `*.read`, written without quotes, as an alias (a YAML value starting with `*`)."""
    scanning = error.context == "while scanning an alias"
    if not scanning and not (error.problem or "").startswith("found undefined alias"):
        return
    mark = error.context_mark if scanning else error.problem_mark
    if mark is None:
        return
    line = source.line_text(mark.line + 1) or ""
    value = re.match(r"[^\s,\]}#]*", line[mark.column:])
    written = value[0] if value else "*"
    raise _YamlError(Diagnostic.of(
        "invalid-yaml", f"invalid YAML: `{shown(written)}` starts with `*`, which YAML reads "
        "as an alias", source.span_at(mark.line + 1, mark.column + 1, max(1, len(written))),
        help=f"quote it: \"{shown(written)}\"",
    )) from None


# Help for the PyYAML problems people hit most, when PyYAML gives no context.
_PROBLEM_HELP = {
    "found character `\\t` that cannot start any token": "YAML indents with spaces, not tabs",
    "mapping values are not allowed here":
        "check the indentation, and quote values that contain `: `",
}

# How PyYAML names its tokens in messages, in words a policy author knows.
_YAML_TOKENS = {
    "<directive>": "a directive", "<document start>": "`---`", "<document end>": "`...`",
    "<stream start>": "start of file", "<stream end>": "end of file",
    "<block sequence start>": "a list", "<block mapping start>": "a mapping",
    "<block end>": "the end of the indented block", "<alias>": "an alias",
    "<anchor>": "an anchor", "<tag>": "a tag", "<scalar>": "a value",
}


def _quoted(text: str) -> str:
    """A PyYAML message in our style: token names in words, `'x'` quotes as backticks."""
    text = re.sub(r"'?(<[a-z ]+>)'?", lambda m: _YAML_TOKENS.get(m[1], m[1]), text)
    text = text.replace("end of stream", "end of file")
    return shown(re.sub(r"'([^']*)'", r"`\1`", text), MESSAGE_WIDTH)


def _to_data(
    node: Node, path: JsonPath, document: _Document, source: SourceFile,
    enclosing: frozenset[int],
) -> Any:
    """The plain value of ``node``, recording the node behind every value and key.

    ``enclosing`` holds the collections ``node`` sits in, to refuse an alias that
    refers to its own ancestor (a cycle, which plain data cannot hold). Its size is the
    depth, which is bounded here rather than by the recursion limit: the pure loader
    fails on a deep document before this runs, libyaml does not, and both must agree.
    """
    document.values += 1
    if document.values > document.limit and not document.counted:
        assert document.root is not None
        document.limit += _EXPANSION_FACTOR * _written_nodes(document.root)
        document.counted = True
    if document.values > document.limit:
        raise _YamlError(Diagnostic.of(
            "invalid-yaml", "the document is too large once its aliases are expanded",
            _span(source, node), help="write the values out instead of nesting aliases",
        ))
    document.nodes[path] = node
    if isinstance(node, ScalarNode):
        if document.libyaml and node.start_mark.index == node.end_mark.index:
            # An empty value (`id:`) takes its position from a neighbouring token, and
            # libyaml and PyYAML pick different neighbours in some places.
            raise _LibyamlMarksError
        value: Any = node.value
        if node.tag in TYPED_TAGS:
            try:
                value = document.constructor.construct_object(node)
            except Exception:
                # An explicit tag on text it cannot read (`!!bool maybe`, `!!int ""`) makes
                # PyYAML's constructors raise all sorts of errors; keep the text instead.
                value = node.value
        if value == "":
            document.has_empty = True
        return value
    if len(enclosing) >= _MAX_DEPTH:
        raise _too_deep(source)
    if id(node) in enclosing:
        raise _YamlError(Diagnostic.of(
            "invalid-yaml", "an alias refers to a collection that contains it",
            _span(source, node), help="YAML aliases cannot make a value contain itself",
        ))
    inside = enclosing | {id(node)}
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        written: set[str] = set()
        for key_node, value_node, merged in _pairs(node, source):
            key = _to_data(key_node, (*path, "<key>"), document, source, inside)
            if not isinstance(key, str):
                raise _YamlError(
                    Diagnostic.of("invalid-yaml", "mapping keys must be strings",
                                  _span(source, key_node),
                                  help=f"quote the key: \"{shown(str(key_node.value))}\""
                                  if isinstance(key_node, ScalarNode) else None)
                )
            if not merged and key in written:
                raise _YamlError(
                    Diagnostic.of(
                        "invalid-yaml", f"duplicate key `{shown(key)}`", _span(source, key_node),
                        help="YAML would silently keep only the last value; remove one",
                    )
                )
            if not merged:
                written.add(key)
            document.keys[(*path, key)] = key_node
            result[key] = _to_data(value_node, (*path, key), document, source, inside)
        return result
    assert isinstance(node, SequenceNode)
    return [
        _to_data(item, (*path, i), document, source, inside)
        for i, item in enumerate(node.value)
    ]


def _pairs(node: MappingNode, source: SourceFile) -> list[tuple[Node, Node, bool]]:
    """The ``(key, value, merged)`` pairs of ``node``, with `<<` merge keys expanded.

    Pairs come in rising precedence, so that assigning them in order leaves each key
    with the value YAML's merge rules give it: keys written in the mapping itself win
    over merged ones, and of merged mappings listed in a sequence the earlier wins.
    Only the written keys are checked for duplicates. The expansion is done here rather
    than by PyYAML, whose precedence for merged sequences changed in 6.0.4.
    """
    if not any(key.tag == MERGE_TAG for key, _ in node.value):
        return [(key, value, False) for key, value in node.value]
    merged = _merged_pairs(node, source, frozenset({id(node)}))
    written = [(key, value, False) for key, value in node.value if key.tag != MERGE_TAG]
    return [(key, value, True) for key, value in merged] + written


def _merged_pairs(
    node: MappingNode, source: SourceFile, enclosing: frozenset[int],
) -> list[tuple[Node, Node]]:
    """The pairs ``node``'s `<<` keys bring in, lowest precedence first."""
    pairs: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag != MERGE_TAG:
            continue
        if isinstance(value, MappingNode):
            sources = [value]
        elif isinstance(value, SequenceNode) and all(
            isinstance(item, MappingNode) for item in value.value
        ):
            sources = value.value
        else:
            raise _YamlError(Diagnostic.of(
                "invalid-yaml", "`<<` must be followed by a mapping or a list of mappings",
                _span(source, value), help="`<<` merges a mapping or a list of mappings",
            ))
        for mapping in reversed(sources):
            if id(mapping) in enclosing:
                raise _YamlError(Diagnostic.of(
                    "invalid-yaml", "an alias refers to a collection that contains it",
                    _span(source, mapping),
                    help="YAML aliases cannot make a value contain itself",
                ))
            pairs.extend(_merged_pairs(mapping, source, enclosing | {id(mapping)}))
            pairs.extend((k, v) for k, v in mapping.value if k.tag != MERGE_TAG)
    return pairs


# --- schema errors -----------------------------------------------------------------


def _where(path: JsonPath, whole: str = POLICY_FORM.whole) -> str:
    """How a message names the value at ``path``: `` `rules[0].when` `` or ``the policy``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return f"`{shown(text)}`" if text else whole


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _type_name(value: Any) -> str:
    return {"boolean": "a boolean", "number": "a number", "string": "a string",
            "array": "a list", "object": "a mapping", "null": "null"}[_json_type(value)]


def _fitting_branch(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For an ``anyOf``: the errors inside the alternative meant for this type of value.

    `{nam: b}` as an env is an object with a misspelled key, better reported as such
    than as "must be a string or an object".
    """
    kind = _json_type(error.instance)
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    fitting = {
        i for i, branch in enumerate(branches)
        if isinstance(branch, dict) and branch.get("type") == kind
    }
    return [e for e in error.context or () if e.relative_schema_path[0] in fitting]


def _schema_diagnostics(
    error: jsonschema.ValidationError, document: _Document, source: SourceFile,
    form: YamlForm = POLICY_FORM,
) -> list[Diagnostic]:
    """The diagnostics for one schema violation, pointing at the YAML that caused it."""
    path: JsonPath = tuple(error.absolute_path)
    node = document.nodes.get(path) or document.nodes[()]
    span = _span(source, node)
    where = _where(path, form.whole)
    schema = error.schema if isinstance(error.schema, dict) else {}
    help: str | None = None

    if error.validator == "anyOf" and (branch := _fitting_branch(error)):
        return [d for e in branch for d in _schema_diagnostics(e, document, source, form)]
    if error.validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
        keys = ", ".join(f"`{k}`" for k in allowed)
        diagnostics = []
        for key in (k for k in instance if k not in allowed):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            diagnostics.append(Diagnostic.of(
                form.schema_code, f"unknown key `{shown(key)}` in {where}",
                _span(source, document.keys[(*path, key)]),
                help=f"did you mean `{close[0]}`?" if close else f"the keys are {keys}",
            ))
        return diagnostics
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        if not path and missing == "policy" and form is POLICY_FORM:
            return [Diagnostic.of(
                "missing-policy-name", "the policy does not declare its name",
                source.span_at(node.start_mark.line + 1, node.start_mark.column + 1),
                help="add `policy: NAME`",
            )]
        message = f"{where} is missing the required key `{missing}`"
    elif error.validator == "const":
        found = (
            f"`{shown(str(node.value))}`" if isinstance(node, ScalarNode)
            else _type_name(error.instance)
        )
        message = f"{where} must be `{error.validator_value}`, found {found}"
    elif error.validator in ("type", "anyOf"):
        expected = schema.get("x-expected") or _expected_type(error.validator_value)
        message = f"{where} must be {expected}, found {_type_name(error.instance)}"
        if (
            isinstance(error.instance, bool)
            and isinstance(node, ScalarNode)
            and node.value.lower() in _YAML_11_BOOLS
        ):
            help = f"YAML reads `{node.value}` as a boolean; quote it: \"{node.value}\""
        elif isinstance(error.instance, int | float) and isinstance(node, ScalarNode):
            help = f"quote it: \"{shown(node.value)}\""
        elif isinstance(error.instance, list) and expected == "a string":
            help = "write one value, not a list"
    elif error.validator in ("minItems", "minLength", "minProperties"):
        message = f"{where} must not be empty"
    elif error.validator == "enum":
        allowed = error.validator_value if isinstance(error.validator_value, list) else []
        choices = ["null" if c is None else str(c) for c in allowed]
        found = (f"`{shown(str(node.value))}`" if isinstance(node, ScalarNode)
                 else _type_name(error.instance))
        message = (f"{where} must be one of {', '.join(f'`{c}`' for c in choices)}, "
                   f"found {found}")
        if isinstance(error.instance, str):
            help = suggest(error.instance, choices)
    else:
        message = f"{where}: {shown(error.message, MESSAGE_WIDTH)}"
    return [Diagnostic.of(form.schema_code, message, span, help=help)]


def _expected_type(value: Any) -> str:
    names = {"string": "a string", "array": "a list", "object": "a mapping",
             "boolean": "a boolean", "integer": "a number", "number": "a number"}
    return names.get(value, str(value)) if isinstance(value, str) else "a valid value"


# --- building the AST --------------------------------------------------------------


class _Builder:
    """The AST of a document that passed the schema. Each value is handed down with its
    path (the key of its node), rather than looked up again from the root."""

    def __init__(self, source: SourceFile, document: _Document, libyaml: bool) -> None:
        self.source = source
        self.document = document
        self.libyaml = libyaml

    def span(self, path: JsonPath) -> Span:
        return _span(self.source, self.document.nodes[path])

    def entry_span(self, path: JsonPath) -> Span:
        """From the key to the end of the value (a whole `key: value` entry)."""
        key = self.document.keys.get(path)
        value = self.span(path)
        return _span(self.source, key).merge(value) if key is not None else value

    def word(self, path: JsonPath, value: Any) -> ast.Word:
        return ast.Word(str(value), self.span(path))

    def words(self, path: JsonPath, value: Any) -> tuple[ast.Word, ...]:
        if isinstance(value, list):
            return tuple(self.word((*path, i), item) for i, item in enumerate(value))
        return (self.word(path, value),)

    def policy(self) -> ast.PolicyFile:
        data: dict[str, Any] = self.document.data
        statements: list[ast.Statement] = [
            ast.PolicyDecl(self.word(("policy",), data["policy"]), self.entry_span(("policy",)))
        ]
        if "envs" in data:
            entries = tuple(self.env(("envs", i), env) for i, env in enumerate(data["envs"]))
            statements.append(ast.EnvsDecl(entries, self.entry_span(("envs",))))
        if "default_decision" in data:
            statements.append(ast.DefaultDecisionDecl(
                self.word(("default_decision",), data["default_decision"]),
                self.entry_span(("default_decision",)),
            ))
        if "default_tier" in data:
            statements.append(ast.DefaultTierDecl(
                self.word(("default_tier",), data["default_tier"]),
                self.entry_span(("default_tier",)),
            ))
        for i, tier in enumerate(data.get("tiers", [])):
            p: JsonPath = ("tiers", i)
            statements.append(ast.TierDecl(
                self.word((*p, "name"), tier["name"]), self.words((*p, "topics"), tier["topics"]),
                self.word((*p, "fail_mode"), tier["fail_mode"]), self.span(p),
            ))
        for i, rule in enumerate(data.get("rules", [])):
            statements.append(self.rule(("rules", i), rule))
        for i, override in enumerate(data.get("overrides", [])):
            p = ("overrides", i)
            statements.append(ast.OverrideDecl(
                self.word((*p, "tier"), override["tier"]),
                self.word((*p, "fail_mode"), override["fail_mode"]),
                self.word((*p, "until"), override["until"]),
                ast.Text(str(override["reason"]), self.span((*p, "reason"))),
                self.span(p),
            ))
        return ast.PolicyFile(tuple(statements), yaml_comments(self.source, libyaml=self.libyaml),
                              self.source)

    def env(self, path: JsonPath, value: Any) -> ast.EnvEntry:
        if isinstance(value, dict):
            return ast.EnvEntry(
                self.word((*path, "name"), value["name"]), bool(value.get("protected", False)),
                self.span(path),
            )
        return ast.EnvEntry(self.word(path, value), False, self.span(path))

    def rule(self, path: JsonPath, rule: dict[str, Any]) -> ast.RuleDecl:
        when: dict[str, Any] = rule.get("when") or {}
        conditions = tuple(
            ast.Condition(
                *CONDITION_KEYS[key], self.words((*path, "when", key), values),
                self.entry_span((*path, "when", key)),
            )
            for key, values in when.items()
        )
        reason = (
            ast.Text(str(rule["reason"]), self.span((*path, "reason")))
            if "reason" in rule else None
        )
        return ast.RuleDecl(
            self.word((*path, "id"), rule["id"]), conditions,
            self.word((*path, "decision"), rule["decision"]), reason, self.span(path),
        )
