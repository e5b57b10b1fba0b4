"""The text and Markdown renderings of a diff: sections, order, deciders and escaping."""

from __future__ import annotations

from typing import Any

from dualgate.compiler import ir
from dualgate.compiler.diff import PolicyRef, diff_policies, nothing_deployed
from dualgate.compiler.reference import Request, evaluate
from dualgate.compiler.reports.diff_text import render_diff_markdown, render_diff_text
from dualgate.runtime.vocabulary import Decision
from tests.test_diff_oracle import NOW

ALLOW_ALL = ir.Policy(name="open", envs=(ir.EnvDecl(name="prod", protected=True),),
                      rules=(ir.Rule(id="allow-all", decision=Decision.ALLOW),))


def _document(base: ir.Policy, head: ir.Policy) -> dict[str, Any]:
    refs = (PolicyRef("a|b.policy", base.name, "0" * 64),
            PolicyRef("head.policy", head.name, "1" * 64))
    return diff_policies(base, head, now=NOW).to_json(*refs)


def test_nothing_deployed_denies_every_request() -> None:
    empty = nothing_deployed("new")
    for topic, env in (("a", "prod"), ("a.b.c", "anything")):
        assert evaluate(empty, Request(topic, env), NOW).decision is Decision.DENY
    assert diff_policies(empty, nothing_deployed("other"), now=NOW).equivalent


def test_new_policy_against_nothing_deployed_reads_as_loosening_per_env() -> None:
    document = _document(nothing_deployed("open"), ALLOW_ALL)
    text = render_diff_text(document)
    assert text.splitlines()[1] == "1 change: 1 loosening (1 on the high tier), 0 tightening"
    assert "env prod (protected)" in text
    assert ("allow instead of deny (high tier): was the default decision, now rule "
            "`allow-all`") in text
    # an env the head does not declare was and stays denied: no change there
    assert "neither policy declares" not in text


def test_unknown_env_and_undeclared_envs_have_their_own_section() -> None:
    no_envs = ir.Policy(name="open", rules=(ir.Rule(id="allow-all", decision=Decision.ALLOW),))
    text = render_diff_text(_document(no_envs, ALLOW_ALL))
    assert "envs neither policy declares" in text
    line = next(line for line in text.splitlines() if "undeclared env" in line)
    assert line.strip().startswith("- deny instead of allow (high tier): was rule `allow-all`")
    assert "env `undeclared`" in line


def test_markdown_escapes_pipes_and_says_when_nothing_changed() -> None:
    markdown = render_diff_markdown(_document(ALLOW_ALL, ALLOW_ALL))
    assert "`a\\|b.policy`" in markdown
    assert "no changes: both policies give every request the same outcome" in markdown
    assert "|:--" not in markdown
