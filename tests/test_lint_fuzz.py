"""The front end never raises: any bytes or text give diagnostics, never a traceback.

Random text is drawn from an alphabet biased toward the DSL and YAML (keywords, names,
patterns, networks, punctuation, quotes, escapes, odd whitespace and unicode), random
bytes are fed to the decoder, valid policies are mutated token by token, and
well-formed statements and schema-shaped YAML carry random values into lowering. Every
diagnostic must carry a registered code and point inside the text, or just past its end.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler.cli.main import cli
from dualgate.compiler.codes import CODES
from dualgate.compiler.frontend.keywords import KEYWORDS
from dualgate.compiler.frontend.loader import LoadResult, load_policy_bytes, load_policy_text
from tests.profiles import examples

_DSL_PIECES = (
    *KEYWORDS, "protected", "policy p\n", "rule r ", "then deny", "when topic a ",
    "a", "b.c", "infra.**", "x-y_1", "*", "**", "***", ".", "..", ",", ", ", '"', '"x"',
    '"a\\"b"', '"\\q"', "\\", "\\n", "#", "# c\n", "(", ")", "(protected)", "/", ":", "-",
    "0", "9", "10.0.0.0/8", "10.0.0.1/8", "::ffff:10.0.0.0/104", "2001:db8::/32",
    "2026-12-01T00:00:00Z", "2026-12-01", "2026-12-01T00:00:00+02:00", "deny", "allow",
    "require_approval", "throttle", "high", "medium", "low", "open", "closed",
    " ", "  ", "\n", "\n\n", "\t", "\r", "\r\n", "\f", "\v", "é", "→", "😀", "\u00a0",
    "\u2028", "\u200b", "\x00", "\x7f",
)
_YAML_PIECES = (
    "version: v1\n", "policy: p\n", "version:", "policy:", "envs:", "rules:", "tiers:",
    "overrides:", "default_decision:", "default_tier:", "id:", "when:", "decision:",
    "reason:", "topic:", "topic_not:", "env:", "env_not:", "cidr:", "cidr_not:", "name:",
    "protected:", "topics:", "fail_mode:", "tier:", "until:", " v1", " v2", " p", " deny",
    " production", " 10.0.0.1/8", " 2026-12-01", " yes", " no", " ~", " null", " 1.5", " 0x1",
    "- ", "  ", "    ", "\n", ": ", "{", "}", "[", "]", ",", "&a ", "*a", "*b", "<<: ", "---\n",
    "...\n", "!!bool ", "!!int ", "!!str ", "!!binary ", "!custom ", "? ", "|\n", ">-\n", "'",
    '"', '"\\x"', "#", "%YAML 1.2\n", "\t", "\r", "é", "\u2028", "\x85", "\ufeff", "\x00",
)


def _text(pieces: tuple[str, ...]) -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(pieces), st.characters(), st.text(max_size=3))
    return st.lists(piece, max_size=40).map("".join)


def _lines(text: str, is_yaml: bool) -> list[str]:
    """The lines as each front end counts them: Lark breaks on `\\n` only, PyYAML also
    on `\\r`, NEL and the Unicode line and paragraph separators. (A NUL byte is found
    before either front end runs, counting `\\n` only.)"""
    if is_yaml and "\0" not in text:
        return re.split("\r\n|[\r\n\x85\u2028\u2029]", text)
    return text.split("\n")


def check(result: LoadResult, text: str | None, is_yaml: bool = False) -> None:
    """Every diagnostic is registered and points inside ``text`` or just past its end."""
    for d in result.diagnostics:
        assert CODES.get(d.code.code) is d.code
        assert d.message and "\n" not in d.message
        span = d.span
        assert span.line >= 1 and span.column >= 1, d
        assert (span.end_line, span.end_column) >= (span.line, span.column), d
        if text is None:
            continue
        lines = _lines(text, is_yaml)
        assert span.line <= len(lines), d
        assert span.column <= len(lines[span.line - 1]) + 1, d
    # A policy comes back exactly when the text parsed and nothing was wrong with it;
    # without one, an error says why.
    assert (result.policy is not None) == (result.syntax is not None and result.ok)
    assert result.policy is not None or any(d.is_error for d in result.diagnostics)
    if text is not None and "\x00" in text:
        assert result.policy is None, "a NUL byte is refused"


def check_valid(result: LoadResult, text: str, is_yaml: bool = False) -> None:
    """``text`` is known valid: it lowers to a policy without errors."""
    check(result, text, is_yaml)
    assert result.policy is not None and result.ok, (text, result.diagnostics)


def check_invalid(result: LoadResult, text: str | None, is_yaml: bool = False) -> None:
    """``text`` is known invalid: no policy, and an error diagnostic."""
    check(result, text, is_yaml)
    assert result.policy is None and not result.ok, text


FUZZ = settings(max_examples=examples(300), deadline=None)


@FUZZ
@given(_text(_DSL_PIECES))
def test_random_policy_text(text: str) -> None:
    check(load_policy_text(text, "x.policy"), text)


@FUZZ
@given(_text(_YAML_PIECES))
def test_random_yaml_text(text: str) -> None:
    check(load_policy_text(text, "x.yaml"), text, is_yaml=True)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["x.policy", "x.yaml"]))
def test_random_bytes(data: bytes, path: str) -> None:
    result = load_policy_bytes(data, path)
    text = result.source.text if result.source else None
    check(result, text, is_yaml=path.endswith(".yaml"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        check_invalid(result, text)


VALID_DSL = """\
policy infra   # the infrastructure gate

envs production (protected), staging, dev
default_decision deny
default_tier medium

tier high   topics infra.resource.delete, payments.** fail_mode closed
tier medium topics infra.**, db.*.write                fail_mode closed
tier low    topics **.read, **.list                     fail_mode open

rule deny-prod-public-ingress
  when topic infra.security_group.update
   and env production
   and cidr in 0.0.0.0/0, ::/0
  then deny
  reason "public ingress in \\"production\\""

rule approve-prod-delete
  when topic infra.resource.delete and env not staging, dev and cidr not in 10.0.0.0/8
  then require_approval

rule allow-reads when topic not infra.secret.read then allow

override tier medium fail_mode open until 2026-12-01T00:00:00Z reason "INC-4512"
"""

VALID_YAML = """\
version: v1
policy: infra
envs: [{name: production, protected: true}, staging, dev]
default_decision: deny
tiers:
  - {name: high, topics: [infra.resource.delete, "payments.**"], fail_mode: closed}
  - {name: low, topics: "**.read", fail_mode: open}
rules:
  - &deny
    id: deny-prod-public-ingress
    when: {topic: infra.security_group.update, env: production, cidr: "0.0.0.0/0"}
    decision: deny
    reason: public ingress
  - id: approve-prod-delete
    when: {topic: infra.resource.delete, env_not: [staging, dev], cidr_not: 10.0.0.0/8}
    decision: require_approval
overrides:
  - {tier: low, fail_mode: open, until: 2026-12-01T00:00:00Z, reason: INC-4512}
"""


def test_the_policies_to_mutate_are_valid() -> None:
    for text, path in ((VALID_DSL, "x.policy"), (VALID_YAML, "x.yaml")):
        result = load_policy_text(text, path)
        assert result.diagnostics == [] and result.policy is not None
        assert [r.id for r in result.policy.rules][:2] == [
            "deny-prod-public-ingress", "approve-prod-delete"]


@st.composite
def respaced(draw: st.DrawFn, text: str) -> tuple[str, str]:
    """``text`` with some single spaces between words widened or turned into tabs (outside
    lines with strings), and a comment appended to some lines (the same policy); and
    ``text`` with one of its statement keywords misspelt (no policy)."""
    lines = text.split("\n")
    out = []
    for line in lines:
        # Lines with a string keep their spaces: inside quotes they are the value.
        spaced = line if '"' in line or not draw(st.booleans()) else re.sub(
            r"(?<=\S) (?=\S)", lambda _: draw(st.sampled_from([" ", "  ", "\t"])), line)
        if spaced.strip() and not spaced.lstrip().startswith("#") and draw(st.booleans()):
            spaced += draw(st.sampled_from(["  # note", "\t# \"quoted\" é"]))
        out.append(spaced)
    keyword = draw(st.sampled_from(["rule ", "when ", "then ", "envs ", "tier ", "override "]))
    starts = [m.start() for m in re.finditer(rf"(?m)^\s*{keyword}", text)]
    at = text.index(keyword, draw(st.sampled_from(starts)))
    broken = text[:at] + keyword.upper() + "x" + text[at + len(keyword):]
    return "\n".join(out), broken


@settings(FUZZ, max_examples=examples(100))
@given(respaced(VALID_DSL))
def test_respaced_policies_lower_and_misspelt_ones_do_not(texts: tuple[str, str]) -> None:
    """Whitespace and comments change nothing; a misspelt keyword is an error."""
    same, broken = texts
    check_valid(load_policy_text(same, "x.policy"), same)
    assert load_policy_text(same, "x.policy").policy == load_policy_text(VALID_DSL).policy
    check_invalid(load_policy_text(broken, "x.policy"), broken)


@st.composite
def mutated(draw: st.DrawFn, text: str, pieces: tuple[str, ...]) -> str:
    """``text`` after a few random drops, duplications, swaps and insertions of tokens
    (runs of non-space or of space) or of single characters."""
    units = re.findall(r"\S+|\s+", text) if draw(st.booleans()) else list(text)
    for _ in range(draw(st.integers(1, 4))):
        if not units:
            break
        i = draw(st.integers(0, len(units) - 1))
        j = draw(st.integers(0, len(units) - 1))
        operation = draw(st.sampled_from(["drop", "duplicate", "swap", "insert"]))
        if operation == "drop":
            del units[i]
        elif operation == "duplicate":
            units.insert(j, units[i])
        elif operation == "swap":
            units[i], units[j] = units[j], units[i]
        else:
            units.insert(i, draw(st.sampled_from(pieces)))
    return "".join(units)


@FUZZ
@given(mutated(VALID_DSL, _DSL_PIECES))
def test_mutated_policy(text: str) -> None:
    check(load_policy_text(text, "x.policy"), text)


@FUZZ
@given(mutated(VALID_YAML, _YAML_PIECES))
def test_mutated_yaml(text: str) -> None:
    check(load_policy_text(text, "x.yaml"), text, is_yaml=True)


# --- well-formed statements with random values: the fuzz that reaches lowering --------

_VALUES = (
    "a", "p", "production", "prod", "staging", "a/b", "-x", "x_1.y", "A", "é", "\x01",
    "allow", "deny", "require_human", "require_approval", "throttle", "block",
    "high", "medium", "low", "critical", "open", "closed", "lenient",
    "a.b", "a.**", "**", "*.read", "a..b", "***", "res*", "a.", ".a",
    "0.0.0.0/0", "10.0.0.0/8", "10.0.0.1/8", "10.0.0.300", "::/0", "::ffff:10.0.0.0/104",
    "::ffff:10.0.0.1/104", "2001:db8::/32", "banana",
    "2026-12-01T00:00:00Z", "2026-12-01", "2026-12-01T00:00:00", "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-12-01t00:00:00.5z",
)
_WORD_CHARS = st.characters(blacklist_characters=' \t\n\r\f,#"()\x00',
                            blacklist_categories=("Zs", "Zl", "Zp", "Cs"))
_word = st.one_of(
    st.sampled_from(_VALUES),
    st.text(_WORD_CHARS, min_size=1, max_size=8).filter(
        lambda w: w not in KEYWORDS and not any(c.isspace() for c in w)
    ),
)
_words = st.lists(_word, min_size=1, max_size=3).map(", ".join)
_reason = st.text(st.characters(blacklist_characters='"\\\n\x00', blacklist_categories=("Cs",)),
                  max_size=10).map(lambda r: f'"{r}"')
_condition = st.one_of(
    st.builds("topic {}{}".format, st.sampled_from(["", "not "]), _words),
    st.builds("env {}{}".format, st.sampled_from(["", "not "]), _words),
    st.builds("cidr {}in {}".format, st.sampled_from(["", "not "]), _words),
)
_statement = st.one_of(
    st.builds("policy {}".format, _word),
    st.builds("envs {}".format, st.lists(
        st.builds("{}{}".format, _word, st.sampled_from(["", " (protected)"])),
        min_size=1, max_size=3,
    ).map(", ".join)),
    st.builds("default_decision {}".format, _word),
    st.builds("default_tier {}".format, _word),
    st.builds("tier {} topics {} fail_mode {}".format, _word, _words, _word),
    st.builds(
        "rule {}{} then {}{}".format, _word,
        st.lists(_condition, max_size=3).map(lambda c: " when " + " and ".join(c) if c else ""),
        _word, st.one_of(st.just(""), _reason.map(" reason ".__add__)),
    ),
    st.builds("override tier {} fail_mode {} until {} reason {}".format,
              _word, _word, _word, _reason),
)


@FUZZ
@given(st.lists(_statement, max_size=8).map("\n".join))
def test_well_formed_statements_with_random_values(text: str) -> None:
    result = load_policy_text(text, "x.policy")
    assert result.syntax is not None, text
    check(result, text)


_yaml_value = st.one_of(
    _word, st.integers(), st.booleans(), st.none(), st.just(""),
    st.lists(_word, max_size=2), st.dictionaries(st.sampled_from(["name", "x"]), _word, max_size=1),
)
_rule = st.fixed_dictionaries({}, optional={
    "id": _yaml_value, "decision": _yaml_value, "reason": _yaml_value,
    "when": st.one_of(_yaml_value, st.dictionaries(
        st.sampled_from(["topic", "topic_not", "env", "env_not", "cidr", "cidr_not", "whn"]),
        _yaml_value, max_size=3,
    )),
})
_yaml_policy = st.fixed_dictionaries({}, optional={
    "version": st.one_of(st.just("v1"), _yaml_value),
    "policy": _yaml_value,
    "envs": st.one_of(_yaml_value, st.lists(st.one_of(_yaml_value, st.fixed_dictionaries(
        {"name": _yaml_value}, optional={"protected": _yaml_value},
    )), max_size=3)),
    "default_decision": _yaml_value,
    "default_tier": _yaml_value,
    "tiers": st.lists(st.fixed_dictionaries({}, optional={
        "name": _yaml_value, "topics": _yaml_value, "fail_mode": _yaml_value,
    }), max_size=2),
    "rules": st.one_of(_yaml_value, st.lists(_rule, max_size=3)),
    "overrides": st.lists(st.fixed_dictionaries({}, optional={
        "tier": _yaml_value, "fail_mode": _yaml_value, "until": _yaml_value,
        "reason": _yaml_value,
    }), max_size=2),
})


@FUZZ
@given(_yaml_policy.map(lambda data: yaml.safe_dump(data, sort_keys=False, allow_unicode=True)))
def test_schema_shaped_yaml_with_random_values(text: str) -> None:
    check(load_policy_text(text, "x.yaml"), text, is_yaml=True)


@pytest.fixture(scope="module")
def lint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        # Drawn text may hold lone surrogates: they become bytes that are not UTF-8 (DG002).
        _text(_DSL_PIECES).map(lambda text: text.encode(errors="surrogatepass")),
        mutated(VALID_DSL, _DSL_PIECES).map(lambda text: text.encode(errors="surrogatepass")),
        st.binary(max_size=100),
    ),
    st.sampled_from(["x.policy", "x.policy.yaml"]),
    st.sampled_from([[], ["--format", "json"], ["--max-diagnostics", "1"]]),
)
def test_lint_command_never_crashes(
    lint_dir: Path, data: bytes, name: str, options: list[str]
) -> None:
    path = lint_dir / name
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["--no-color", "lint", *options, str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1, 2)
