"""Reading catalogs: text lines, YAML lists and decision logs, with malformed entries
reported at their line instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualgate.compiler.coverage import (
    CatalogError,
    Malformed,
    parse_log_catalog,
    parse_text_catalog,
    parse_yaml_catalog,
    read_catalog,
)


def test_text_catalog_skips_comments_and_blanks_and_keeps_first_occurrence() -> None:
    catalog = parse_text_catalog(
        "# header\n\na.b   # trailing comment\n  c.d\na.b\nbad..topic\nx y\n")
    assert catalog.topics == ("a.b", "c.d")
    assert catalog.malformed == (
        Malformed(6, "bad..topic", "empty segment"),
        Malformed(7, "x y", "a segment holds a character other than letters, digits, "
                  "`_` and `-`"),
    )


def test_yaml_catalog_reports_entries_at_their_lines() -> None:
    catalog = parse_yaml_catalog("# topics\n- a.b\n- 12\n- c.*\n- a.b\n- ok\n")
    assert catalog.topics == ("a.b", "ok")
    assert [(m.line, m.text) for m in catalog.malformed] == [(3, "12"), (4, "c.*")]
    assert catalog.malformed[0].reason == "not a topic string"


@pytest.mark.parametrize(("text", "message"), [
    ("a: b\n", "must be a YAML list of topics"),
    ("- [unclosed\n", "is not valid YAML at line"),
])
def test_yaml_catalog_of_the_wrong_shape_is_an_error(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_yaml_catalog(text, "c.yaml")


def test_empty_yaml_catalog_has_no_topics() -> None:
    assert parse_yaml_catalog("").topics == ()


def test_log_catalog_takes_topics_at_the_top_or_under_input() -> None:
    log = "\n".join([
        '{"decision_id": "1", "input": {"topic": "a.b", "env": "prod"}, "decision": "deny"}',
        '{"topic": "c.d", "env": "dev"}',
        '{"input": {"topic": "a.b"}}',
        "",
        "not json",
        '{"env": "dev"}',
        '{"topic": "bad topic"}',
        "[1, 2]",
    ])
    catalog = parse_log_catalog(log)
    assert catalog.topics == ("a.b", "c.d")
    assert [(m.line, m.reason) for m in catalog.malformed] == [
        (5, "not a JSON object"),
        (6, "no topic string at the top level or under `input`"),
        (7, "a segment holds a character other than letters, digits, `_` and `-`"),
        (8, "no topic string at the top level or under `input`"),
    ]


def test_read_catalog_picks_the_form_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("- a.b\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("- a.b\n", encoding="utf-8")
    assert read_catalog(tmp_path / "c.yml").topics == ("a.b",)
    assert read_catalog(tmp_path / "c.txt").malformed[0].text == "- a.b"


def test_unreadable_catalog_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"^cannot read `.*missing.txt`: no such file"):
        read_catalog(tmp_path / "missing.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(CatalogError, match="is not UTF-8 text"):
        read_catalog(tmp_path / "binary.txt")
