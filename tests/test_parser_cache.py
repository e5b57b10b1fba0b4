"""Lark's parse tables cached in the user's cache directory: the same parser as built
afresh, kept private, and never read from a directory someone else could write."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from dualgate.compiler.frontend import parser

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = "start: \"x\"\n"


def parsed(lark: Any, text: str) -> tuple[Any, list[Any]]:
    """The tree of ``text`` and the comments the lexer callback collected."""
    comments: list[Any] = []
    token = parser._collected_comments.set(comments)
    try:
        return lark.parse(text), comments
    finally:
        parser._collected_comments.reset(token)


def test_the_cache_lives_in_a_private_directory(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = parser._parser_cache(GRAMMAR)
    assert isinstance(path, str)
    assert Path(path).parent == tmp_path / "dualgate"
    assert stat.S_IMODE((tmp_path / "dualgate").stat().st_mode) == 0o700
    assert parser._parser_cache(GRAMMAR + " ") != path  # another grammar, another file


def test_a_cached_parser_parses_as_a_fresh_one(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = parser._parser.__wrapped__()  # writes the cache
    assert list((tmp_path / "dualgate").iterdir())
    loaded = parser._parser.__wrapped__()  # reads it
    for policy in sorted((ROOT / "policies").glob("*.policy")):
        text = policy.read_text()
        tree, comments = parsed(loaded, text)
        assert (tree, comments) == parsed(built, text)
        assert comments or "#" not in text


def test_a_directory_others_can_write_is_not_used(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "dualgate").mkdir()
    os.chmod(tmp_path / "dualgate", 0o777)
    assert parser._parser_cache(GRAMMAR) is False


def test_a_cache_file_others_can_write_is_not_used(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = parser._parser_cache(GRAMMAR)
    assert isinstance(path, str)
    Path(path).write_bytes(b"")
    os.chmod(path, 0o666)
    assert parser._parser_cache(GRAMMAR) is False


def test_no_cache_when_the_directory_cannot_be_made(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert parser._parser_cache(GRAMMAR) is False
    assert parsed(parser._parser.__wrapped__(), "# c\npolicy p\n")[1]
