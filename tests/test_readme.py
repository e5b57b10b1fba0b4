"""The README's quick start is real: its policy lints clean without warnings and is
formatted, the edited copy `diff` compares is that policy with the one rule the text
describes, and the commands a policy author runs are all there and succeed, run as written
in a fresh directory (in process, as `tests/test_docs_transcripts.py` runs them and compares
their output; `tests/test_packaging.py` runs the installed console script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_transcripts import Block, parse_blocks, parse_steps, run

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
QUICK_START = README[README.index("## Quick start"):README.index("## Using dualgate in CI")]
BLOCKS = parse_blocks(QUICK_START)[0]
EDITED_RULE = ("rule allow-prod-deletes\n  when topic infra.*.delete and env production\n"
               "  then allow\n\n")


def _file(name: str) -> Block:
    (block,) = [block for block in BLOCKS if block.file == name]
    return block


def _text(block: Block) -> str:
    return "\n".join(block.body) + "\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("infra.policy", "edited.policy"):
        (tmp_path / name).write_text(_text(_file(name)))
    return tmp_path


def test_the_policy_lints_without_warnings_and_is_formatted(workdir: Path) -> None:
    assert _file("infra.policy").tag == "policy"
    for arguments in (["lint", "--fail-on", "warning", "infra.policy"],
                      ["fmt", "--check", "infra.policy"]):
        output, status = run(["dualgate", *arguments], workdir)
        assert status == 0, output


def test_the_edited_copy_adds_only_the_rule_the_text_describes() -> None:
    policy, edited = _text(_file("infra.policy")), _text(_file("edited.policy"))
    anchor = "rule require-approval-prod-changes\n"
    assert anchor in policy
    assert edited == policy.replace(anchor, EDITED_RULE + anchor)


def test_every_quick_start_command_is_there_and_succeeds(workdir: Path) -> None:
    steps = [step for block in BLOCKS if block.tag == "console"
             for step in parse_steps(block)[0]]
    assert [step.argv[1] for step in steps] == ["lint", "compile", "eval", "diff"]
    for step in steps:
        output, status = run(step.argv, workdir)
        assert status == 0, output
