"""Action catalogs: the topics a platform has, read from a text file, a YAML list or a
decision log.

Nothing here raises on bad content: a topic that is malformed (or a log line without a
topic) is kept as a ``Malformed`` entry with its line number, so the map can report it
beside the paths. Only an unreadable file or a document of the wrong shape is a
``CatalogError``. Topics are kept once each, in the order they first appear.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from dualgate.runtime.vocabulary import is_valid_topic


class CatalogError(ValueError):
    """A catalog that cannot be read at all; ``str(error)`` is a one-line reason."""


@dataclass(frozen=True)
class Malformed:
    """A catalog entry that is no well-formed topic, and where it is."""

    line: int
    text: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass(frozen=True)
class Catalog:
    """The distinct well-formed topics of a catalog, and the malformed entries."""

    topics: tuple[str, ...]
    malformed: tuple[Malformed, ...] = ()


def _collect(entries: Iterable[tuple[int, object]],
             missing: str = "not a topic string") -> Catalog:
    """The catalog of (line, value) entries; ``missing`` says why a non-string is no topic."""
    topics: dict[str, None] = {}
    malformed: list[Malformed] = []
    for line, value in entries:
        if not isinstance(value, str):
            malformed.append(Malformed(line, json.dumps(value, default=str), missing))
        elif not is_valid_topic(value):
            malformed.append(Malformed(line, value, _topic_fault(value)))
        else:
            topics.setdefault(value)
    return Catalog(tuple(topics), tuple(malformed))


def _topic_fault(topic: str) -> str:
    if not topic:
        return "empty topic"
    if any(not segment for segment in topic.split(".")):
        return "empty segment"
    return "a segment holds a character other than letters, digits, `_` and `-`"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(
            f"cannot read `{path}`: {(error.strerror or str(error)).lower()}") from None
    except UnicodeDecodeError:
        raise CatalogError(f"`{path}` is not UTF-8 text") from None


def parse_text_catalog(text: str) -> Catalog:
    """One topic per line; `#` starts a comment; blank lines are skipped."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        topic = line.split("#", 1)[0].strip()
        if topic:
            entries.append((number, topic))
    return _collect(entries)


def parse_yaml_catalog(text: str, name: str = "<catalog>") -> Catalog:
    """A YAML list of topics, each entry reported at its own line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"`{name}` is not valid YAML{where}") from None
    if node is None:
        return Catalog(())
    if not isinstance(node, yaml.SequenceNode):
        raise CatalogError(f"`{name}` must be a YAML list of topics")
    # The composed nodes give the lines, the loaded list the values (`yes`, `1.0`, ...).
    return _collect((item.start_mark.line + 1, value)
                    for item, value in zip(node.value, values, strict=True))


def parse_log_catalog(text: str) -> Catalog:
    """The distinct topics of a JSON-lines decision log: ``topic`` at the top level of a
    line or under ``input``. A line that is no JSON object with a topic is malformed."""
    entries: list[tuple[int, object]] = []
    unreadable: list[Malformed] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            unreadable.append(Malformed(number, line.strip()[:80], "not a JSON object"))
            continue
        topic: object = None
        if isinstance(record, dict):
            nested = record.get("input")
            topic = record.get("topic", nested.get("topic") if isinstance(nested, dict)
                               else None)
        entries.append((number, topic))
    catalog = _collect(entries, missing="no topic string at the top level or under `input`")
    malformed = sorted((*catalog.malformed, *unreadable), key=lambda m: m.line)
    return Catalog(catalog.topics, tuple(malformed))


def read_catalog(path: Path) -> Catalog:
    """A catalog file: a YAML list when it ends in `.yaml` or `.yml`, else text lines."""
    text = _read(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml_catalog(text, str(path))
    return parse_text_catalog(text)


def read_log_catalog(path: Path) -> Catalog:
    """The distinct topics of the decision log at ``path``."""
    return parse_log_catalog(_read(path))
