"""Every block of README.md and docs/*.md is real: each console transcript prints what it
shows when run, each policy block lints (the convention is in `tests/docs_transcripts.py`
and docs/development.md). `make docs` regenerates the transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_transcripts import ROOT, check_document, documents, main, matches

TRANSCRIPT = """# A document

<!-- file: tiny.policy -->
```policy
policy tiny
envs production (protected), dev
default_decision deny

rule allow-dev
  when env dev
  then allow
```

```console
$ dualgate eval tiny.policy --topic a.b \\
    --env dev
allow by rule `allow-dev`
  tier high, fail mode closed
$ dualgate eval tiny.policy --topic a.b --env prod
{shown}
$ echo $?
0
```
"""
UNKNOWN_ENV = ("deny: env `prod` is not declared (unknown-env; declared: production, dev)\n"
               "  tier high, fail mode closed")


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_block_of_the_document_is_real(document: Path) -> None:
    report = check_document(document)
    assert not report.failures, "\n\n".join(report.failures)


def _write(tmp_path: Path, shown: str) -> Path:
    document = tmp_path / "doc.md"
    document.write_text(TRANSCRIPT.format(shown=shown))
    return document


def test_a_true_transcript_passes_and_is_left_as_it_is(tmp_path: Path) -> None:
    report = check_document(_write(tmp_path, UNKNOWN_ENV))
    assert report.failures == []
    assert not report.changed


def test_a_stale_output_fails_and_update_rewrites_it(tmp_path: Path) -> None:
    document = _write(tmp_path, "deny: env `prod` is not declared")
    report = check_document(document)
    assert len(report.failures) == 1
    assert "`dualgate eval tiny.policy --topic a.b --env prod` printed something else" in (
        report.failures[0])
    assert main(["--update", str(document)]) == 0
    assert document.read_text() == TRANSCRIPT.format(shown=UNKNOWN_ENV)
    assert main([str(document)]) == 0


def test_an_ellipsis_line_stands_for_any_lines_and_update_keeps_the_shape(
        tmp_path: Path) -> None:
    assert check_document(_write(tmp_path, "deny: env `prod` is not declared (unknown-env; "
                                 "declared: production, dev)\n...")).failures == []
    document = _write(tmp_path, "deny: stale\n...")
    assert main(["--update", str(document)]) == 0
    assert document.read_text() == TRANSCRIPT.format(shown=UNKNOWN_ENV.splitlines()[0] + "\n...")
    assert matches(["a", "...", "d"], "a\nb\nc\nd\n", tmp_path)
    assert matches(["a", "...", "d"], "a\nd\n", tmp_path)
    assert not matches(["a", "...", "d"], "a\nb\n", tmp_path)


def test_the_exit_status_is_compared(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(TRANSCRIPT.format(shown=UNKNOWN_ENV).replace("$ echo $?\n0",
                                                                     "$ echo $?\n1"))
    (failure,) = check_document(document).failures
    assert "`echo $?` printed something else" in failure


def test_a_policy_block_that_does_not_lint_fails(tmp_path: Path) -> None:
    document = _write(tmp_path, UNKNOWN_ENV)
    document.write_text(document.read_text().replace("when env dev", "when env staging"))
    failure = check_document(document).failures[0]
    assert "the policy block does not pass `dualgate lint`" in failure
    assert "DG101 (undeclared-env)" in failure


def test_untagged_blocks_and_other_commands_are_refused(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text("```\n$ dualgate lint x\n```\n\n```console\n$ ls\n```\n")
    failures = check_document(document).failures
    assert any("a block without a tag" in failure for failure in failures)
    assert any("only `$ dualgate ...` and `$ echo $?` can run: `$ ls`" in failure
               for failure in failures)


def test_a_hidden_file_is_written_before_the_commands_that_read_it(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text("<!-- file: sub/p.policy\n```text\npolicy p\nrule r then allow\n```\n"
                        "-->\n\n```console\n$ dualgate lint sub/p.policy\n"
                        "All checks passed (1 file).\n```\n")
    assert check_document(document).failures == []
    document.write_text(document.read_text().replace("<!-- file: sub/p.policy\n", "<!--\n"))
    (failure,) = check_document(document).failures
    assert "no such file or directory: `sub/p.policy`" in failure


def test_a_yaml_policy_file_block_must_lint(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    good = "version: v1\npolicy: p\nenvs: [production]\nrules:\n  - id: r\n    decision: deny\n"
    document.write_text(f"<!-- file: p.policy.yaml -->\n```yaml\n{good}```\n")
    assert check_document(document).failures == []
    bad = good + "    when: {env: prod}\n"
    document.write_text(f"<!-- file: p.policy.yaml -->\n```yaml\n{bad}```\n")
    (failure,) = check_document(document).failures
    assert "DG101 (undeclared-env)" in failure
