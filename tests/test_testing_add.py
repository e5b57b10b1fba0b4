"""``dualgate test add``: a logged request becomes a case appended to a test file, every
byte already there kept, and the answer of the current policy reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgate.compiler.cli.main import cli
from dualgate.compiler.testing import load_test_file
from dualgate.compiler.testing.adding import add_case
from dualgate.compiler.testing.model import CaseRequest
from tests.profiles import examples

POLICY = """\
policy shop
envs production, dev
rule throttle-refunds
  when topic pay.refund.create and env production
  then throttle
rule allow-dev
  when env dev
  then allow
"""

TESTS = """\
# Shop cases.   Odd   spacing and a comment: both must stay byte for byte.
policy: shop.policy   # relative to this file
cases:
  # dev
  - name: dev is allowed
    request: {topic: pay.refund.create, env: dev}
    expect: {decision: allow}   # trailing comment
  # more cases below, one day
"""

LOG = [
    {"timestamp": "2026-11-20T10:00:00.000001Z", "decision_id": "d-1", "gate": "submit",
     "job_id": "job-secret-1", "topic": "pay.refund.create", "env": "production",
     "cidr": "10.1.2.3", "decision": "throttle", "rule": "throttle-refunds",
     "reason": "rule", "tier": "high", "fail_mode": "closed", "bypass": False},
    {"decision_id": "d-2", "input": {"topic": "cart.read", "env": "dev"}, "policy": "shop"},
]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--no-color", "test", *args])


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.policy").write_text(POLICY)
    (tmp_path / "shop.tests.yaml").write_text(TESTS)
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in LOG))
    return tmp_path


def inserted(old: bytes, new: bytes) -> bytes:
    """The one block ``new`` adds to ``old``; fails unless every old byte is kept in order."""
    prefix = 0
    while prefix < len(old) and old[prefix] == new[prefix]:
        prefix += 1
    added = len(new) - len(old)
    assert added > 0
    assert new[:prefix] + new[prefix + added:] == old
    return new[prefix:prefix + added]


def cases(path: Path) -> list[tuple[str, CaseRequest, dict[str, str | None], str | None]]:
    loaded = load_test_file(path)
    assert loaded.file is not None, loaded.diagnostics
    return [(c.name, c.request, c.expect, c.source) for c in loaded.file.cases]


# -- the incident loop ----------------------------------------------------------------


def test_an_incident_case_fails_until_the_policy_is_fixed(shop: Path) -> None:
    before = (shop / "shop.tests.yaml").read_bytes()
    result = run("add", "shop.tests.yaml", "--from-log", "log.jsonl", "--decision-id", "d-1",
                 "--expect", "deny", "--source", "INC-4512")
    assert result.exit_code == 1, result.output
    assert "the current policy fails it" in result.output
    after = (shop / "shop.tests.yaml").read_bytes()
    block = inserted(before, after).decode()
    assert "job-secret" not in block and "throttle" not in block
    assert cases(shop / "shop.tests.yaml")[-1] == (
        "INC-4512: pay.refund.create in production from 10.1.2.3",
        CaseRequest("pay.refund.create", "production", "10.1.2.3"), {"decision": "deny"},
        "INC-4512")
    assert run("shop.tests.yaml").exit_code == 1
    (shop / "shop.policy").write_text(POLICY.replace("then throttle", "then deny"))
    assert run("shop.tests.yaml").exit_code == 0


def test_a_case_the_policy_passes_exits_0(shop: Path) -> None:
    result = run("add", "shop.tests.yaml", "--from-log", "log.jsonl", "--line", "2",
                 "--expect", "allow", "--name", "dev reads")
    assert result.exit_code == 0, result.output
    assert "the current policy passes it" in result.output
    assert cases(shop / "shop.tests.yaml")[-1] == (
        "dev reads", CaseRequest("cart.read", "dev"), {"decision": "allow"}, None)


def test_a_literal_request_and_a_decision_alias(shop: Path) -> None:
    result = run("add", "shop.tests.yaml", "--request",
                 '{"input": {"topic": "pay.refund.create", "env": "production"}, "x": 1}',
                 "--expect", "require_approval")
    assert result.exit_code == 1
    assert cases(shop / "shop.tests.yaml")[-1][2] == {"decision": "require_human"}


def test_the_only_line_of_a_log_needs_no_selection(shop: Path) -> None:
    (shop / "one.jsonl").write_text("\n" + json.dumps(LOG[1]) + "\n\n")
    assert run("add", "shop.tests.yaml", "--from-log", "one.jsonl", "--expect",
               "allow").exit_code == 0


def test_default_names_never_collide(shop: Path) -> None:
    for _ in range(2):
        run("add", "shop.tests.yaml", "--request", '{"topic": "a.b", "env": "dev"}',
            "--expect", "allow")
    names = [c[0] for c in cases(shop / "shop.tests.yaml")]
    assert names[-2:] == ["a.b in dev", "a.b in dev (2)"]


# -- creating a file -------------------------------------------------------------------


def test_a_missing_file_is_created_only_with_its_policy(shop: Path) -> None:
    (shop / "sub").mkdir()
    target = shop / "sub" / "new.tests.yaml"
    refused = run("add", str(target), "--request", '{"topic": "a.b", "env": "dev"}',
                  "--expect", "allow")
    assert refused.exit_code == 2 and not target.exists()
    assert "give --policy POLICY to create it" in refused.stderr
    created = run("add", str(target), "--request", '{"topic": "a.b", "env": "dev"}',
                  "--expect", "allow", "--policy", "shop.policy")
    assert created.exit_code == 0, created.output
    assert target.read_text().startswith('policy: "../shop.policy"\ncases:\n')
    assert run(str(target)).exit_code == 0


def test_policy_must_match_an_existing_file(shop: Path) -> None:
    (shop / "other.policy").write_text("policy other\n")
    result = run("add", "shop.tests.yaml", "--request", '{"topic": "a.b", "env": "dev"}',
                 "--expect", "allow", "--policy", "other.policy")
    assert result.exit_code == 2
    assert "tests `shop.policy`, not `other.policy`" in result.stderr


# -- refusals leave the file alone ---------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--from-log", "log.jsonl"], "holds 2 lines; pick one with --line N or --decision-id ID"),
    (["--from-log", "log.jsonl", "--line", "9"], "has 2 lines, so no line 9"),
    (["--from-log", "log.jsonl", "--decision-id", "d-9"], "no line of `log.jsonl` has"),
    (["--from-log", "bad.jsonl", "--line", "1"], "line 1 of `bad.jsonl` is not JSON"),
    (["--from-log", "bad.jsonl", "--line", "2"], "line 2 of `bad.jsonl` is not a JSON object"),
    (["--from-log", "bad.jsonl", "--line", "3"], "has no `topic` (at the top level or under"),
    (["--from-log", "bad.jsonl", "--line", "4"], "has a non-string `env`"),
    (["--from-log", "bad.jsonl", "--line", "5"], "line 5 of `bad.jsonl` is empty"),
    (["--from-log", "bad.jsonl", "--line", "6"], "has a `cidr` that is not a string"),
    (["--from-log", "bad.jsonl", "--decision-id", "dup"], "is on lines 7, 8 of `bad.jsonl`"),
    (["--from-log", "absent.jsonl"], "cannot read `absent.jsonl`"),
    (["--request", "{nope"], "--request is not JSON"),
    (["--request", '{"topic": "a"}'], "--request has no `env`"),
    (["--request", '{"topic": "a.b", "env": "dev"}', "--name", "dev is allowed"],
     "already has a case named `dev is allowed`"),
])
def test_bad_requests_are_one_line_errors(shop: Path, args: list[str], message: str) -> None:
    (shop / "bad.jsonl").write_text(
        'oops\n[1]\n{"env": "dev"}\n{"topic": "a", "env": 3}\n\n'
        '{"topic": "a", "env": "dev", "cidr": 8}\n'
        '{"decision_id": "dup", "topic": "a", "env": "dev"}\n'
        '{"decision_id": "dup", "topic": "b", "env": "dev"}\n')
    before = (shop / "shop.tests.yaml").read_bytes()
    result = run("add", "shop.tests.yaml", *args, "--expect", "deny")
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert (shop / "shop.tests.yaml").read_bytes() == before


def test_a_broken_test_file_is_not_touched(shop: Path) -> None:
    broken = TESTS.replace("expect:", "expcet:")
    (shop / "shop.tests.yaml").write_text(broken)
    result = run("add", "shop.tests.yaml", "--request", '{"topic": "a.b", "env": "dev"}',
                 "--expect", "allow")
    assert result.exit_code == 2
    assert "unknown key `expcet`" in result.stderr
    assert (shop / "shop.tests.yaml").read_text() == broken


def test_usage_errors(shop: Path) -> None:
    assert run("add", "shop.tests.yaml", "--expect", "allow").exit_code == 2
    assert run("add", "shop.tests.yaml", "--request", "{}", "--line", "1",
               "--expect", "allow").exit_code == 2
    assert run("add", "shop.tests.yaml", "--from-log", "log.jsonl", "--line", "1",
               "--decision-id", "d-1", "--expect", "allow").exit_code == 2


# -- layouts ------------------------------------------------------------------------------

HEAD = "policy: shop.policy\n"
LAYOUTS = {
    "block, dash at column 0": HEAD + "cases:\n- name: a\n  request: {topic: x.y, env: dev}\n"
                               "  expect: {decision: allow}\n",
    "block mappings all the way": HEAD + "cases:\n    -   name: a\n        request:\n"
                                  "            topic: x.y\n            env: dev\n"
                                  "        expect:\n            decision: allow\n",
    "cases before now": HEAD + "cases:\n  - name: a\n    request: {topic: x.y, env: dev}\n"
                        "    expect: {decision: allow}\n# between\nnow: '2026-01-01T00:00:00Z'\n",
    "a block scalar last": HEAD + "cases:\n  - request: {topic: x.y, env: dev}\n"
                           "    expect: {decision: allow}\n    name: |\n      a\n",
    "no final newline": HEAD + "cases:\n  - {name: a, request: {topic: x.y, env: dev}, "
                        "expect: {decision: allow}}",
    "flow sequence": HEAD + "cases: [{name: a, request: {topic: x.y, env: dev},\n"
                     "         expect: {decision: allow}}]  # flow\n",
    "flow with a trailing comma": HEAD + "cases: [{name: a, request: {topic: x.y, env: dev}, "
                                  "expect: {decision: allow}},]\n",
    "windows line ends": (HEAD + "cases:\n  - name: a\n    request: {topic: x.y, env: dev}\n"
                          "    expect: {decision: allow}\n").replace("\n", "\r\n"),
    "byte order mark": "\ufeff" + HEAD + "cases:\n  - name: a\n    request: {topic: x.y, "
                       "env: dev}\n    expect: {decision: allow}\n",
}


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_appending_keeps_every_byte_in_any_layout(shop: Path, layout: str) -> None:
    path = shop / "layout.tests.yaml"
    path.write_bytes(LAYOUTS[layout].encode("utf-8"))
    old = cases(path)
    before = path.read_bytes()
    add_case(path, CaseRequest("pay.refund.create", "dev", "10.0.0.1"), "allow")
    inserted(before, path.read_bytes())
    assert cases(path) == [*old, ("pay.refund.create in dev from 10.0.0.1",
                                  CaseRequest("pay.refund.create", "dev", "10.0.0.1"),
                                  {"decision": "allow"}, None)]


_ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                    max_size=12)


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=_ANY_TEXT, env=_ANY_TEXT, cidr=st.none() | _ANY_TEXT, name=_ANY_TEXT)
def test_any_request_round_trips_through_the_appended_text(
        shop: Path, topic: str, env: str, cidr: str | None, name: str) -> None:
    path = shop / "shop.tests.yaml"
    path.write_text(TESTS)
    before = path.read_bytes()
    request = CaseRequest(topic, env, cidr)
    if name == "dev is allowed":
        return
    add_case(path, request, "deny", name=name, source=name)
    inserted(before, path.read_bytes())
    assert cases(path)[-1] == (name, request, {"decision": "deny"}, name)
