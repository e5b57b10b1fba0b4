"""Checking a bundle document before anything is built from it.

The checks mirror ``schemas/bundle.schema.json`` and add what a schema cannot say:
every state, class, layout, plane and rule index points at something that exists, a
plane has one entry per env and column of its layout, networks are valid, conditions
name declared envs, and the high tier can never fail open. A bundle that passes cannot
make the evaluator fail on any request.

They are written by hand rather than run through ``jsonschema``: the runtime does not
depend on the compiler's libraries, and it must check a 100k-rule bundle in a fraction
of a second, so large lists are checked with C-level passes (``set(map(type, ...))``,
``min``/``max``) rather than element by element in Python.
"""

from __future__ import annotations

import base64
import re
from array import array
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from itertools import chain, repeat
from operator import add, ge, is_, methodcaller
from typing import Any

from dualgate.runtime.bundle_format import (
    CONTENT_HASH_KEY,
    CONTENT_KEY,
    FIRST_NETWORK_COLUMN,
    FORMAT_NAME,
    FORMAT_VERSION,
    SIGNATURE_ALGORITHM,
    SIGNATURE_KEY,
)
from dualgate.runtime.errors import BundleError
from dualgate.runtime.networks import parse_network
from dualgate.runtime.vocabulary import (
    MAX_TOPIC_LENGTH,
    MAX_TOPIC_SEGMENTS,
    Decision,
    FailMode,
    TierName,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_PATTERN_TEXT = r"(?:\*\*?|[A-Za-z0-9_-]+)(?:\.(?:\*\*?|[A-Za-z0-9_-]+))*"
_PATTERN = re.compile(_PATTERN_TEXT)
_CODE = re.compile(r"DG[0-9]{3}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
#: What the conditions of rules are written with (ASCII only), and how each condition
#: starts.
_CONDITION_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.*:/, -"
#: A condition: its form, a space, and values that do not end in a space.
_CONDITION = re.compile(r"(?:topic|env|cidr in|cidr not in) [^\n]*[^ \n]")
#: The values of each env and cidr condition in `"\n"` + the conditions one per line:
#: the rest of the line after the form (a literal start, so the search skips ahead in C).
_ENV_VALUES = re.compile(r"\nenv (?:not )?([^\n]*)")
_CIDR_VALUES = re.compile(r"\ncidr (?:not )?in ([^\n]*)")
_DECISIONS = frozenset(d.value for d in Decision)
_TIERS = frozenset(t.value for t in TierName)
_FAIL_MODES = frozenset(m.value for m in FailMode)

_CONTENT_KEYS = frozenset({
    "format", "format_version", "compiler", "policy", "source", "envs", "default_decision",
    "default_tier", "tiers", "overrides", "rules", "table", "analysis",
})
_RULE_COLUMNS = frozenset({"id", "decision", "reason", "line", "column", "conditions"})
_INT_OR_NULL = frozenset({int, type(None)})
_STR_OR_NULL = frozenset({str, type(None)})
_CLASS_COLUMNS = frozenset({"tier", "layout", "plane"})


def check_envelope(document: Any) -> dict[str, Any]:
    """Check the document's outer keys (content, hash, signature); returns the content."""
    top = _object(document, "the bundle", {CONTENT_KEY, CONTENT_HASH_KEY}, {SIGNATURE_KEY})
    _checked(top[CONTENT_HASH_KEY], _HEX64, "a SHA-256 hex digest", CONTENT_HASH_KEY)
    if SIGNATURE_KEY in top:
        signature = _object(top[SIGNATURE_KEY], "signature", {"algorithm", "key_id", "value"})
        if signature["algorithm"] != SIGNATURE_ALGORITHM:
            raise BundleError(
                f"unknown signature algorithm `{_shown(signature['algorithm'])}`; "
                f"expected `{SIGNATURE_ALGORITHM}`"
            )
        _string(signature["key_id"], "signature.key_id")
        _checked(signature["value"], _BASE64, "base64 text", "signature.value")
        # Canonical base64 only: the unused bits of the last character must be zero, or
        # several texts would decode to the same signature (a changed byte that verifies).
        value = signature["value"]
        if len(value) % 4 or base64.b64encode(base64.b64decode(value)).decode() != value:
            raise BundleError("`signature.value` is not canonical base64 text")
    content: dict[str, Any] = _object(top[CONTENT_KEY], CONTENT_KEY)
    return content


def check_version(content: dict[str, Any]) -> None:
    """Refuse content that is not a bundle, or of a format version this runtime does not know."""
    if content.get("format") != FORMAT_NAME:
        raise BundleError(f"not a dualgate bundle (format `{_shown(content.get('format'))}`)")
    version = content.get("format_version")
    if type(version) is not int:
        raise BundleError("`format_version` is not an integer")
    if 0 < version < FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version} is older than this runtime reads (version "
            f"{FORMAT_VERSION}): compile the policy again with this dualgate"
        )
    if version != FORMAT_VERSION:
        raise BundleError(
            f"unknown bundle format version {version}; this runtime reads version "
            f"{FORMAT_VERSION}"
        )


def check_content(content: dict[str, Any]) -> list[tuple[int, int, int]]:
    """Raise ``BundleError`` naming the first fault of the content; if it is sound,
    return ``table.networks`` parsed (``parse_network``), so that nobody parses them
    again."""
    check_version(content)
    _object(content, CONTENT_KEY, _CONTENT_KEYS)
    _string(content["compiler"], "compiler")
    _checked(content["policy"], _NAME, "a valid name", "policy")
    source = _object(content["source"], "source", {"path", "sha256"})
    _string(source["path"], "source.path")
    _checked(source["sha256"], _HEX64, "a SHA-256 hex digest", "source.sha256")
    envs = _envs(content["envs"])
    _choice(content["default_decision"], _DECISIONS, "default_decision")
    _choice(content["default_tier"], _TIERS, "default_tier")
    tiers = _tiers(content["tiers"])
    _overrides(content["overrides"], tiers)
    rule_count = _rules(content["rules"], envs)
    networks = _table(content["table"], max(1, len(envs)), rule_count)
    _analysis(content["analysis"])
    return networks


# -- sections ------------------------------------------------------------------------


def _envs(value: Any) -> set[str]:
    names: set[str] = set()
    for i, item in enumerate(_list(value, "envs")):
        env = _object(item, f"envs[{i}]", {"name", "protected"})
        name = _checked(env["name"], _NAME, "a valid name", f"envs[{i}].name")
        _boolean(env["protected"], f"envs[{i}].protected")
        if name in names:
            raise BundleError(f"env `{name}` is declared twice")
        names.add(name)
    return names


def _tiers(value: Any) -> dict[str, str]:
    tiers: dict[str, str] = {}
    for i, item in enumerate(_list(value, "tiers")):
        where = f"tiers[{i}]"
        tier = _object(item, where, {"name", "fail_mode", "patterns"})
        name = _choice(tier["name"], _TIERS, f"{where}.name")
        mode = _choice(tier["fail_mode"], _FAIL_MODES, f"{where}.fail_mode")
        if name in tiers:
            raise BundleError(f"tier `{name}` is declared twice")
        if name == TierName.HIGH and mode != FailMode.CLOSED:
            raise BundleError("the high tier fails open; it must always fail closed")
        for j, pattern in enumerate(_list(tier["patterns"], f"{where}.patterns", True)):
            _checked(pattern, _PATTERN, "a topic pattern", f"{where}.patterns[{j}]")
        tiers[name] = mode
    return tiers


def _overrides(value: Any, tiers: dict[str, str]) -> None:
    for i, item in enumerate(_list(value, "overrides")):
        where = f"overrides[{i}]"
        override = _object(item, where, {"tier", "fail_mode", "until", "reason"})
        tier = _choice(override["tier"], _TIERS, f"{where}.tier")
        _choice(override["fail_mode"], _FAIL_MODES, f"{where}.fail_mode")
        if tier == TierName.HIGH:
            raise BundleError(f"`{where}` opens the high tier, which must always fail closed")
        if tier not in tiers:
            raise BundleError(f"`{where}` overrides tier `{tier}`, which is not declared")
        parse_timestamp(override["until"], f"{where}.until")
        _string(override["reason"], f"{where}.reason")


def _rules(value: Any, envs: set[str]) -> int:
    columns = _object(value, "rules", _RULE_COLUMNS)
    ids = _list(columns["id"], "rules.id")
    count = len(ids)
    for key in _RULE_COLUMNS:
        if len(_list(columns[key], f"rules.{key}")) != count:
            raise BundleError(f"`rules.{key}` does not have one entry per rule")
    if not _all_type(ids, str) or not _every_line(_NAME, ids):
        raise BundleError("`rules.id` holds an entry that is not a valid name")
    if len(set(ids)) != count:
        raise BundleError("`rules.id` holds a rule id twice")
    decisions = columns["decision"]
    if not _all_type(decisions, str) or not set(decisions) <= _DECISIONS:
        raise BundleError("`rules.decision` holds an entry that is no decision")
    if not set(map(type, columns["reason"])) <= _STR_OR_NULL:
        raise BundleError("`rules.reason` holds an entry that is neither text nor null")
    line_of, column_of = columns["line"], columns["column"]
    for key, values in (("line", line_of), ("column", column_of)):
        # C-level passes: the types, then no 0 (`filter(None, ...)` drops 0 with null) and
        # no negative number among the integers.
        if not set(map(type, values)) <= _INT_OR_NULL or 0 in values \
                or min(filter(None, values), default=1) < 1:
            raise BundleError(f"`rules.{key}` holds an entry that is neither a positive "
                              "integer nor null")
    if list(map(is_, line_of, repeat(None))) != list(map(is_, column_of, repeat(None))):
        raise BundleError("`rules.line` and `rules.column` are not null for the same rules")
    per_rule = columns["conditions"]
    if not _all_type(per_rule, str):
        raise BundleError("`rules.conditions` holds an entry that is not text")
    # The conditions serve explanations only, so their shape is checked, not their
    # grammar: a full regular expression over every condition took a third of the load.
    # " and " between rules adds only characters a condition has, so the joined text
    # holds a foreign character exactly when a rule's does (deleting every allowed byte
    # is one C pass).
    written = " and ".join(filter(None, per_rule))  # the rules with conditions
    if not written.isascii() or written.encode("ascii").translate(None, _CONDITION_BYTES):
        raise BundleError("`rules.conditions` holds a character no condition has")
    # One condition per line (the text holds no line break, so replacing " and " splits
    # it exactly as `split(" and ")` would).
    lines = "\n" + written.replace(" and ", "\n") if written else ""
    if lines and _lines_of(_CONDITION).fullmatch(lines, 1) is None:
        raise BundleError("`rules.conditions` holds a text that is no list of conditions")
    # Every condition starts a line of ``lines``, so one C-level search finds the values
    # of every env (and cidr) condition without looking at the others.
    found = _ENV_VALUES.findall(lines)
    named = set(", ".join(found).split(", ")) if found else set()
    if not named <= envs:
        raise BundleError(f"`rules.conditions` names env `{min(named - envs)}`, which is "
                          "not declared")
    found = _CIDR_VALUES.findall(lines)
    networks = set(", ".join(found).split(", ")) if found else set()
    bad = sorted(n for n in networks if parse_network(n) is None)
    if bad:
        raise BundleError(f"`rules.conditions` names `{_shown(bad[0])}`, which is no network")
    return count


def _table(value: Any, env_count: int, rule_count: int) -> list[tuple[int, int, int]]:
    table = _object(value, "table", {"topics", "networks", "classes", "layouts", "planes",
                                     "tier_entries"})
    networks = _networks(table["networks"])
    layouts = _list(table["layouts"], "table.layouts")
    columns = _layouts(layouts, len(networks))
    # One flat list of every plane's entries: a min and a max over it.
    # A document ``load_bundle`` read holds its planes as the evaluator's array("i").
    planes = table["planes"]
    entries = (planes if isinstance(planes, array) and planes.typecode == "i"
               else _list(planes, "table.planes"))
    if not entries:
        raise BundleError("`table.planes` is empty")
    if not _all_type(entries, int) or min(entries) < -1 or max(entries) >= rule_count:
        raise BundleError("`table.planes` holds an entry that is no rule index")
    classes = _object(table["classes"], "table.classes", _CLASS_COLUMNS)
    tiers = _list(classes["tier"], "table.classes.tier", True)
    count = len(tiers)
    for key in _CLASS_COLUMNS:
        if len(_list(classes[key], f"table.classes.{key}")) != count:
            raise BundleError(f"`table.classes.{key}` does not have one entry per class")
    if not _all_type(tiers, str) or not set(tiers) <= _TIERS:
        raise BundleError("`table.classes.tier` holds a tier that is not high, medium or low")
    layout_of, start_of = classes["layout"], classes["plane"]
    if not _all_type(layout_of, int) or min(layout_of) < 0 or max(layout_of) >= len(layouts):
        raise BundleError("`table.classes.layout` holds a layout that does not exist")
    if not _all_type(start_of, int) or min(start_of) < 0:
        raise BundleError("`table.classes.plane` holds an entry that is no index of "
                          "`table.planes`")
    # A class's plane is the entries from its start on, one per env and column of its
    # layout: one C-level pass finds where each ends, and the last end must be in the list.
    needs = [env_count * width for width in columns]
    ends = list(map(add, start_of, map(needs.__getitem__, layout_of)))
    if max(ends) > len(entries):
        label = next(i for i, end in enumerate(ends) if end > len(entries))
        raise BundleError(
            f"`table.classes` gives class {label} the plane at {start_of[label]}, whose "
            f"{needs[layout_of[label]]} entries (for layout {layout_of[label]}) run past the "
            f"end of `table.planes` ({len(entries)} entries)"
        )
    _topics(table["topics"], count)
    _tier_entries(table["tier_entries"], rule_count)
    return networks


def _tier_entries(value: Any, rule_count: int) -> None:
    """Check ``table.tier_entries``: for each tier, plane entries, ascending. A hint of
    which verdicts to make at load, so its content is not checked against the planes
    (that would cost a pass over them): whatever it names, decisions are the same."""
    lists = _object(value, "table.tier_entries", _TIERS)
    for tier in sorted(_TIERS):
        entries = _list(lists[tier], f"table.tier_entries.{tier}")
        if entries and (not _all_type(entries, int) or entries[0] < -1
                        or entries[-1] >= rule_count or any(map(ge, entries, entries[1:]))):
            raise BundleError(f"`table.tier_entries.{tier}` holds an entry that is no rule "
                              "index, or is not in ascending order")


def _networks(value: Any) -> list[tuple[int, int, int]]:
    """Check ``table.networks``: valid, v4 first, each family by address then prefix,
    no network twice (one column per network); returns them parsed."""
    texts = _list(value, "table.networks")
    if not _all_type(texts, str):
        raise BundleError("`table.networks` holds an entry that is not text")
    parsed = list(map(parse_network, texts))
    if None in parsed:
        bad = texts[parsed.index(None)]
        raise BundleError(f"`table.networks` holds `{_shown(bad)}`, which is no network")
    networks: list[tuple[int, int, int]] = parsed  # type: ignore[assignment]
    if any(map(ge, networks, networks[1:])):
        raise BundleError("`table.networks` is not in order (v4 first, each family by "
                          "address then prefix) or lists a network twice")
    return networks


def _layouts(layouts: list[Any], network_count: int) -> list[int]:
    """Check every layout at once; returns each layout's number of columns."""
    if not _all_type(layouts, list) or not _all_type(chain.from_iterable(layouts), int):
        raise BundleError("`table.layouts` holds an entry that is not a list of network "
                          "indices")
    indices = list(chain.from_iterable(layouts))
    if indices and (min(indices) < 0 or max(indices) >= network_count):
        raise BundleError("`table.layouts` names a network that does not exist")
    # Ascending without repeats, so the columns of a layout follow the networks' order.
    if not all(layout == sorted(set(layout)) for layout in layouts):
        raise BundleError("`table.layouts` holds a layout that is not ascending")
    return [FIRST_NETWORK_COLUMN + count for count in map(len, layouts)]


def _topics(value: Any, class_count: int) -> None:
    topics = _object(value, "table.topics", {"next", "transitions", "other", "class", "exact"})
    exact = _object(topics["exact"], "table.topics.exact")
    labels_of_exact = list(exact.values())
    if not _all_topics(list(exact)) or (labels_of_exact and (
            not _all_type(labels_of_exact, int) or min(labels_of_exact) < 0
            or max(labels_of_exact) >= class_count)):
        raise BundleError("`table.topics.exact` maps something else than topics to classes")
    # The evaluator looks these up before any other check of a request's topic. A topic
    # of MAX_TOPIC_SEGMENTS dots has more than twice as many characters, so the dots are
    # counted only when some topic is that long.
    longest = max(map(len, exact), default=0)
    if longest > MAX_TOPIC_LENGTH or (
            longest > 2 * MAX_TOPIC_SEGMENTS
            and max(map(methodcaller("count", "."), exact)) >= MAX_TOPIC_SEGMENTS):
        raise BundleError("`table.topics.exact` holds a topic longer than a request's may be")
    nexts = _list(topics["next"], "table.topics.next", True)
    states = len(nexts)
    others = _list(topics["other"], "table.topics.other")
    labels = _list(topics["class"], "table.topics.class")
    if len(others) != states or len(labels) != states:
        raise BundleError("`table.topics` does not have one `next`, `other` and `class` per "
                          "state")
    transitions = _list(topics["transitions"], "table.topics.transitions", True)
    if not _all_type(nexts, int) or min(nexts) < 0 or max(nexts) >= len(transitions):
        raise BundleError("`table.topics.next` holds an entry that is no index of "
                          "`table.topics.transitions`")
    if not _all_type(transitions, dict):
        raise BundleError("`table.topics.transitions` holds an entry that is not an object")
    # Each distinct map once, so these passes look at a fraction of the states' edges.
    segments = set(chain.from_iterable(transitions))
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise BundleError("`table.topics.transitions` has a transition on an invalid segment")
    targets = list(chain.from_iterable(map(dict.values, transitions)))
    for name, states_named in (("transitions", targets), ("other", others)):
        if states_named and (not _all_type(states_named, int) or min(states_named) < 0
                             or max(states_named) >= states):
            raise BundleError(f"`table.topics.{name}` leads to a state that does not exist")
    if not _all_type(labels, int) or min(labels) < -1 or max(labels) >= class_count:
        raise BundleError("`table.topics.class` holds an entry that is no class")
    if min(labels[1:], default=0) < 0:
        raise BundleError("`table.topics.class` leaves a state after the start without a class")


def _analysis(value: Any) -> None:
    analysis = _object(value, "analysis", {"passes", "findings", "suppressed"})
    if not _all_type(_list(analysis["passes"], "analysis.passes"), str):
        raise BundleError("`analysis.passes` holds an entry that is not text")
    for key in ("findings", "suppressed"):
        for code, count in _object(analysis[key], f"analysis.{key}").items():
            if not _CODE.fullmatch(code) or type(count) is not int or count < 0:
                raise BundleError(f"`analysis.{key}` has an invalid entry `{_shown(code)}`")


# -- values --------------------------------------------------------------------------


def parse_timestamp(value: Any, where: str) -> datetime:
    """An aware timestamp written in RFC 3339 (``...Z`` or ``...+HH:MM``)."""
    text = _checked(value, _TIMESTAMP, "an RFC 3339 timestamp with a zone", where)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BundleError(f"`{where}` is not an RFC 3339 timestamp with a zone") from None


def _object(value: Any, where: str, required: Iterable[str] | None = None,
            optional: Iterable[str] = ()) -> dict[str, Any]:
    subject = where if where == "the bundle" else f"`{where}`"
    if not isinstance(value, dict):
        raise BundleError(f"{subject} is not an object")
    if required is not None:
        needed = set(required)
        missing = sorted(needed - value.keys())
        if missing:
            raise BundleError(f"{subject} has no `{missing[0]}`")
        extra = sorted(value.keys() - needed - set(optional))
        if extra:
            raise BundleError(f"{subject} has an unknown key `{_shown(extra[0])}`")
    return value


def _list(value: Any, where: str, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise BundleError(f"`{where}` is not a list")
    if non_empty and not value:
        raise BundleError(f"`{where}` is empty")
    return value


def _all_type(values: Iterable[Any], kind: type) -> bool:
    """True when every element's type is exactly ``kind`` (so no bool passes as an int)."""
    return set(map(type, values)) <= {kind}


def _every_line(pattern: re.Pattern[str], texts: list[str]) -> bool:
    """True when ``pattern`` matches each text whole: one C-level match over them all,
    with the texts on lines of their own (none of them may hold a line break)."""
    if not texts:
        return True
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        return False
    return _lines_of(pattern).fullmatch(joined) is not None


#: The characters of topics, with the line break that separates them in ``_all_topics``.
_TOPIC_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.\n"
#: Where a segment would be empty, with the topics one per line between line breaks.
_EMPTY_SEGMENT = ("..", "\n.", ".\n", "\n\n")


def _all_topics(texts: list[str]) -> bool:
    """True when each text is a topic (``TOPIC``: segments of letters, digits, ``_`` and
    ``-`` joined by single dots), by C-level string passes instead of a regular
    expression: only topic characters, and no segment empty."""
    if not texts:
        return True
    if not _all_type(texts, str):
        return False
    lined = "\n" + "\n".join(texts) + "\n"
    return (lined.count("\n") == len(texts) + 1 and lined.isascii()
            and not lined.encode("ascii").translate(None, _TOPIC_BYTES)
            and not any(map(lined.__contains__, _EMPTY_SEGMENT)))


@cache
def _lines_of(pattern: re.Pattern[str]) -> re.Pattern[str]:
    # Possessive (`*+`): the engine keeps no backtracking state per line (greedy `*` kept
    # some 190 bytes per line, 32 MB at 100,000 rules' conditions). Nothing is lost: a
    # line never holds a line break, so no shorter match of one line lets the next match.
    return re.compile(rf"(?:{pattern.pattern})(?:\n(?:{pattern.pattern}))*+")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BundleError(f"`{where}` is not a string")
    return value


def _checked(value: Any, pattern: re.Pattern[str], what: str, where: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BundleError(f"`{where}` is not {what}")
    return value


def _choice(value: Any, choices: frozenset[str], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise BundleError(f"`{where}` is not one of {', '.join(sorted(choices))}")
    return value


def _boolean(value: Any, where: str) -> None:
    if type(value) is not bool:
        raise BundleError(f"`{where}` is not true or false")


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
