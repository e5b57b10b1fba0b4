"""The formatter: golden pairs, comment placement, the soundness check, and `dualgate fmt`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler import ir
from dualgate.compiler.cli.main import cli
from dualgate.compiler.formatter import FormatterError, check_formatting, format_policy, quote
from dualgate.compiler.frontend import ast
from dualgate.compiler.frontend.lowering import lower
from dualgate.compiler.frontend.parser import parse_policy
from dualgate.compiler.frontend.source import SourceFile, Span
from dualgate.compiler.frontend.transformer import decode_string
from dualgate.compiler.raising import raise_policy

FIXTURES = Path(__file__).parent / "fixtures" / "format"
CASES = sorted(p.name.removesuffix(".policy") for p in FIXTURES.glob("*.policy"))

MESSY = "policy   infra\nenvs production (protected),staging\nrule r when env staging then deny\n"
TIDY = (
    "policy infra\n\nenvs production (protected), staging\n\nrule r\n  when env staging\n"
    "  then deny\n"
)


def parse(text: str, path: str = "<test>") -> ast.PolicyFile:
    file, diagnostics = parse_policy(SourceFile(path, text))
    assert file is not None, [d.message for d in diagnostics]
    return file


def fmt(text: str) -> str:
    return format_policy(parse(text))


def read(path: Path) -> str:
    # Bytes, not read_text: universal newlines would hide the CRLF under test.
    return path.read_bytes().decode("utf-8")


# --- Golden pairs ---------------------------------------------------------------------


def test_every_golden_input_has_its_formatted_partner() -> None:
    partners = sorted(p.name.removesuffix(".policy.formatted")
                      for p in FIXTURES.glob("*.policy.formatted"))
    assert partners == CASES
    assert len(CASES) >= 6


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    assert fmt(read(FIXTURES / f"{name}.policy")) == read(FIXTURES / f"{name}.policy.formatted")


@pytest.mark.parametrize("name", CASES)
def test_formatted_golden_is_a_fixed_point(name: str) -> None:
    expected = read(FIXTURES / f"{name}.policy.formatted")
    assert fmt(expected) == expected


@pytest.mark.parametrize("name", CASES)
def test_crlf_line_breaks_give_the_same_layout(name: str) -> None:
    source = read(FIXTURES / f"{name}.policy").replace("\r\n", "\n")
    assert fmt(source.replace("\n", "\r\n")) == read(FIXTURES / f"{name}.policy.formatted")


def test_crlf_fixture_really_has_crlf_line_breaks() -> None:
    data = (FIXTURES / "crlf.policy").read_bytes()
    assert b"\r\n" in data
    assert b"\r" not in (FIXTURES / "crlf.policy.formatted").read_bytes()


# --- Layout ---------------------------------------------------------------------------


def test_layout_of_the_design_example() -> None:
    source = (
        "policy infra envs production (protected), staging, dev default_decision deny\n"
        "default_tier high tier high topics infra.resource.delete, payments.** "
        "fail_mode closed tier medium topics infra.** fail_mode closed\n"
        "rule deny-prod-public-ingress when topic infra.security_group.update and env "
        "production and cidr not in 10.0.0.0/8, 172.16.0.0/12 then deny reason "
        '"public ingress in production" rule catch-all # trailing\n then deny\n'
        'override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-4512"\n'
    )
    assert fmt(source) == (
        "policy infra\n"
        "\n"
        "envs production (protected), staging, dev\n"
        "default_decision deny\n"
        "default_tier high\n"
        "\n"
        "tier high topics infra.resource.delete, payments.** fail_mode closed\n"
        "tier medium topics infra.** fail_mode closed\n"
        "\n"
        "rule deny-prod-public-ingress\n"
        "  when topic infra.security_group.update\n"
        "   and env production\n"
        "   and cidr not in 10.0.0.0/8, 172.16.0.0/12\n"
        "  then deny\n"
        '  reason "public ingress in production"\n'
        "\n"
        "rule catch-all  # trailing\n"
        "  then deny\n"
        "\n"
        'override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-4512"\n'
    )


def test_values_keep_their_spelling() -> None:
    out = fmt("policy p default_decision require_approval rule r when topic A.*.b then "
              "require_approval tier low topics x fail_mode open")
    assert "default_decision require_approval\n" in out
    assert "  when topic A.*.b\n  then require_approval\n" in out


def test_empty_file_stays_empty() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""


def test_no_leading_blank_lines_and_exactly_one_trailing_newline() -> None:
    assert fmt("\n\n\npolicy p\n\n\n\n") == "policy p\n"
    assert fmt("policy p") == "policy p\n"


def test_same_group_blank_line_is_kept_only_where_the_source_had_one() -> None:
    assert fmt("default_tier low\ndefault_decision deny\n") == (
        "default_tier low\ndefault_decision deny\n"
    )
    assert fmt("default_tier low\n\n\n\ndefault_decision deny\n") == (
        "default_tier low\n\ndefault_decision deny\n"
    )


def test_rules_are_always_separated_and_never_contain_blank_lines() -> None:
    assert fmt("rule a then deny rule b\n\n when topic x\n\n then allow") == (
        "rule a\n  then deny\n\nrule b\n  when topic x\n  then allow\n"
    )


# --- Comments -------------------------------------------------------------------------


def test_comment_inside_a_split_single_line_statement_moves_above_it() -> None:
    assert fmt("policy p\nenvs a, # first\n  b # last\n") == (
        "policy p\n\n# first\nenvs a, b  # last\n"
    )


def test_comment_inside_a_statement_beats_the_line_it_shares_with_another() -> None:
    assert fmt("policy p envs a, # about b\n  b\n") == "policy p\n\n# about b\nenvs a, b\n"
    assert fmt("rule r when topic a, # about b\n b then deny") == (
        "rule r\n  # about b\n  when topic a, b\n  then deny\n"
    )


def test_comment_inside_a_split_condition_moves_above_the_condition() -> None:
    assert fmt("rule r when topic a and topic b,\n  # why c\n  c then deny") == (
        "rule r\n  when topic a\n   # why c\n   and topic b, c\n  then deny\n"
    )


def test_trailing_comment_goes_to_the_last_element_ending_on_its_line() -> None:
    assert fmt("rule r when topic a then deny # after deny\n") == (
        "rule r\n  when topic a\n  then deny  # after deny\n"
    )
    assert fmt("rule r when # after the header\n topic a then deny\n") == (
        "rule r  # after the header\n  when topic a\n  then deny\n"
    )


def test_own_line_comment_leads_the_next_line_with_its_indentation() -> None:
    assert fmt("rule r\n# a\nwhen topic a\n# b\nand env e\n# c\nthen deny\n# d\nreason \"x\"") == (
        'rule r\n  # a\n  when topic a\n   # b\n   and env e\n  # c\n  then deny\n'
        '  # d\n  reason "x"\n'
    )


def test_comments_inside_a_rule_bring_no_blank_lines() -> None:
    assert fmt("rule r\n\n  # a\n\n  when topic a\n\n\n  # b\n\n  then deny # c\n") == (
        "rule r\n  # a\n  when topic a\n  # b\n  then deny  # c\n"
    )


def test_blank_lines_around_comment_blocks_are_kept_at_most_one() -> None:
    source = "# head\n\n\n# more\n\n\npolicy p\n\n\n\n# end\n"
    assert fmt(source) == "# head\n\n# more\n\npolicy p\n\n# end\n"


def test_group_change_puts_the_blank_line_before_the_comment_block() -> None:
    assert fmt("policy p\n# about envs\nenvs a\n") == "policy p\n\n# about envs\nenvs a\n"


def test_comment_text_is_kept_verbatim_but_right_stripped() -> None:
    out = fmt('policy p  #   spaced "quoted" # twice   \t\n')
    assert out == 'policy p  #   spaced "quoted" # twice\n'


# --- Strings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["", "plain", 'a "quote"', "back\\slash", "new\nline", "tab\there", "\\n", "# é →"]
)
def test_quote_decodes_back_to_the_value(value: str) -> None:
    literal = quote(value)
    assert decode_string(literal) == value
    assert "\n" not in literal and "\t" not in literal


def test_strings_are_requoted_canonically() -> None:
    assert fmt('rule r then deny reason "a\tb"') == 'rule r\n  then deny\n  reason "a\\tb"\n'


# --- Soundness ------------------------------------------------------------------------


def test_check_formatting_accepts_a_faithful_text() -> None:
    file = parse("policy p # c\n")
    check_formatting(file, "policy   p\n# c\n")


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("policy q # c\n", "statement"),
        ("policy p\n", "comments"),
        ("policy p # other\n", "comments"),
        ("policy p # c\nenvs a\n", "statements"),
        ("policy # c\n", "does not parse"),
    ],
)
def test_check_formatting_rejects_a_text_that_changes_the_policy(text: str, fault: str) -> None:
    with pytest.raises(FormatterError, match=fault):
        check_formatting(parse("policy p # c\n"), text)


def test_check_formatting_compares_comment_order() -> None:
    file = parse("# one\n# two\npolicy p\n")
    with pytest.raises(FormatterError, match="comments"):
        check_formatting(file, "# two\n# one\npolicy p\n")


def test_format_policy_refuses_an_ast_it_cannot_print_faithfully() -> None:
    span = Span("<test>", 1, 1, 1, 2)
    keyword_as_value = ast.PolicyFile((ast.PolicyDecl(ast.Word("rule", span), span),))
    with pytest.raises(FormatterError):
        format_policy(keyword_as_value)


# --- Raising --------------------------------------------------------------------------


def test_raised_policy_writes_every_setting_out() -> None:
    assert format_policy(raise_policy(ir.Policy(name="p"))) == (
        "policy p\n\ndefault_decision deny\ndefault_tier high\n"
    )


def test_raised_policy_uses_canonical_spellings() -> None:
    text = (
        "policy p\nenvs prod (protected)\n"
        "tier high topics a.** fail_mode closed\n"
        "rule r when cidr in ::ffff:10.0.0.0/104, 2001:DB8::/32 then require_approval\n"
        'override tier high fail_mode open until 2026-12-01T00:00:00.5+00:00 reason "r"\n'
    )
    policy, diagnostics = lower(parse(text))
    assert policy is not None, [d.message for d in diagnostics]
    out = format_policy(raise_policy(policy))
    assert "  when cidr in 10.0.0.0/8, 2001:db8::/32\n  then require_human\n" in out
    assert "until 2026-12-01T00:00:00.500000Z" in out
    assert "envs prod (protected)\ndefault_decision deny\ndefault_tier high\n" in out


# --- dualgate fmt ---------------------------------------------------------------------


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["fmt", *args], input=stdin)


def test_fmt_rewrites_files_in_place(tmp_path: Path) -> None:
    messy, tidy = tmp_path / "messy.policy", tmp_path / "tidy.policy"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = run(str(messy), str(tidy))
    assert result.exit_code == 0, result.output
    assert messy.read_text() == TIDY
    assert tidy.read_text() == TIDY
    assert "1 file reformatted, 1 file left unchanged" in result.stdout

    again = run(str(messy))
    assert again.exit_code == 0
    assert "1 file left unchanged" in again.stdout


def test_fmt_turns_crlf_into_lf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.policy"
    path.write_bytes(TIDY.replace("\n", "\r\n").encode())
    assert run(str(path)).exit_code == 0
    assert path.read_bytes() == TIDY.encode()


def test_fmt_check_writes_nothing_and_fails_when_a_file_would_change(tmp_path: Path) -> None:
    messy, tidy = tmp_path / "messy.policy", tmp_path / "tidy.policy"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = run("--check", str(messy), str(tidy))
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.stdout
    assert f"would reformat {tidy}" not in result.stdout
    assert "1 file would be reformatted, 1 file already formatted" in result.stdout
    assert messy.read_text() == MESSY

    clean = run("--check", str(tidy))
    assert clean.exit_code == 0
    assert "1 file already formatted" in clean.stdout


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "messy.policy"
    path.write_text(MESSY)
    result = run("--diff", str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"--- {path}\n+++ {path}\n@@ ")
    assert "\n-policy   infra\n" in result.stdout
    assert "\n+policy infra\n" in result.stdout
    assert "would be reformatted" in result.stderr
    assert path.read_text() == MESSY

    path.write_text(TIDY)
    unchanged = run("--diff", str(path))
    assert unchanged.exit_code == 0
    assert unchanged.stdout == ""


def test_fmt_diff_marks_a_missing_final_line_break(tmp_path: Path) -> None:
    path = tmp_path / "p.policy"
    path.write_text("policy p")
    result = run("--diff", str(path))
    assert "-policy p\n\\ No newline at end of file\n+policy p\n" in result.stdout


def test_fmt_formats_stdin_to_stdout() -> None:
    result = run("-", stdin=MESSY)
    assert result.exit_code == 0
    assert result.stdout == TIDY
    check = run("--check", "-", stdin=MESSY)
    assert check.exit_code == 1
    assert "would reformat <stdin>" in check.output


def test_fmt_prints_nothing_on_stdout_for_stdin_with_syntax_errors() -> None:
    result = run("-", stdin="rule r when topic a\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "<stdin>:1:20: DG010" in result.stderr


def test_fmt_leaves_a_file_with_syntax_errors_untouched(tmp_path: Path) -> None:
    broken, messy = tmp_path / "broken.policy", tmp_path / "messy.policy"
    broken.write_text("policy   p\nrule r when topic a\n")
    messy.write_text(MESSY)
    result = run(str(broken), str(messy))
    assert result.exit_code == 1
    assert broken.read_text() == "policy   p\nrule r when topic a\n"
    assert messy.read_text() == TIDY
    assert f"{broken}:2:20: DG010" in result.stderr
    assert "2 | rule r when topic a" in result.stderr


def test_fmt_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.policy"
    path.write_bytes(b'policy p\nrule r then deny reason "caf\xe9"\n')
    result = run(str(path))
    assert result.exit_code == 1
    assert "DG002" in result.stderr
    assert path.read_bytes() == b'policy p\nrule r then deny reason "caf\xe9"\n'


def test_fmt_formats_a_file_with_semantic_errors(tmp_path: Path) -> None:
    path = tmp_path / "undeclared.policy"
    path.write_text("policy p\nrule r when env prod then frobnicate\n")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert path.read_text() == "policy p\n\nrule r\n  when env prod\n  then frobnicate\n"


def test_fmt_skips_yaml_files_named_explicitly(tmp_path: Path) -> None:
    yaml_file = tmp_path / "p.policy.yaml"
    yaml_file.write_text("version:   v1\n")
    result = run(str(yaml_file))
    assert result.exit_code == 0
    assert f"fmt: skipping {yaml_file}: only .policy files are formatted" in result.stderr
    assert yaml_file.read_text() == "version:   v1\n"


def test_fmt_searches_directories_for_policy_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.policy").write_text(MESSY)
    (tmp_path / "b.policy").write_text(TIDY)
    (tmp_path / "c.policy.yaml").write_text("version:   v1\n")
    result = run("--check", str(tmp_path))
    assert result.exit_code == 1
    assert "1 file would be reformatted, 1 file already formatted" in result.stdout
    assert "skipping" not in result.output

    assert run(str(tmp_path)).exit_code == 0
    assert (tmp_path / "sub" / "a.policy").read_text() == TIDY
    assert (tmp_path / "c.policy.yaml").read_text() == "version:   v1\n"


def test_fmt_accepts_a_directory_without_policy_files(tmp_path: Path) -> None:
    (tmp_path / "p.policy.yaml").write_text("version: v1\n")
    result = run("--check", str(tmp_path))
    assert result.exit_code == 0
    assert "no .policy files found" in result.stderr


def test_fmt_missing_path_exits_2(tmp_path: Path) -> None:
    tidy = tmp_path / "tidy.policy"
    tidy.write_text(TIDY)
    result = run(str(tmp_path / "nope.policy"), str(tidy))
    assert result.exit_code == 2
    assert "no such file or directory" in result.stderr


def test_fmt_without_paths_is_a_usage_error() -> None:
    assert run().exit_code == 2


def test_fmt_refuses_to_write_when_the_soundness_check_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_formatter(file: ast.PolicyFile) -> str:
        raise FormatterError("statement changed")

    monkeypatch.setattr("dualgate.compiler.cli.fmt.format_policy", broken_formatter)
    path = tmp_path / "messy.policy"
    path.write_text(MESSY)
    result = run(str(path))
    assert result.exit_code == 2
    assert f"internal error: formatter changed the meaning of {path}" in result.stderr
    assert path.read_text() == MESSY
