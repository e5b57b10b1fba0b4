"""The bundle commands end to end: compile, keygen, verify, inspect and eval."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dualgate.compiler.cli.compile import default_output
from dualgate.compiler.cli.main import cli
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reference import Request, evaluate
from dualgate.runtime import load_bundle
from dualgate.runtime.bundle_format import FORMAT_VERSION

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "policies" / "infra.policy"
FLAWED = ROOT / "tests" / "fixtures" / "flawed" / "flawed.policy"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--no-color", *args], input=input)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    target = tmp_path / "infra.bundle.json"
    result = run("compile", str(INFRA), "-o", str(target))
    assert result.exit_code == 0, result.output
    return target


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    result = run("keygen", "-o", str(tmp_path / "release"))
    assert result.exit_code == 0, result.output
    return tmp_path / "release.key", tmp_path / "release.pub"


# -- compile ---------------------------------------------------------------------------


def test_compile_writes_a_bundle_that_decides_like_the_policy(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    policy = load_policy(INFRA).policy
    assert policy is not None
    for request in [Request("infra.resource.delete", "production"),
                    Request("infra.security_group.update", "production", "8.8.8.8"),
                    Request("infra.vm.read", "dev"), Request("infra.vm.read", "prod")]:
        want = evaluate(policy, request)
        got = loaded.decide(request.topic, request.env, request.cidr)
        assert (got.decision, got.rule, got.reason) == (want.decision, want.rule, want.reason)


def test_compile_is_deterministic_and_names_the_output(tmp_path: Path) -> None:
    policy = tmp_path / "infra.policy"
    policy.write_bytes(INFRA.read_bytes())
    first = run("compile", str(policy))
    assert first.exit_code == 0
    written = tmp_path / "infra.bundle.json"
    assert f"-> `{written}`" in first.stderr
    data = written.read_bytes()
    assert run("compile", str(policy)).exit_code == 0
    assert written.read_bytes() == data
    to_stdout = CliRunner().invoke(cli, ["compile", str(policy), "-o", "-"])
    assert to_stdout.stdout_bytes == data


def _compile_in_process(cwd: Path, policy: str, output: Path, seed: str,
                        *extra: str) -> bytes:
    """The bundle a fresh `dualgate compile` process writes, run in ``cwd`` with
    ``PYTHONHASHSEED=seed``."""
    environment = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", "from dualgate.compiler.cli.main import main; main()",
         "compile", policy,
         "-o", str(output), *extra],
        cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return output.read_bytes()


def test_bundles_do_not_depend_on_the_working_directory_or_the_hash_seed(
        tmp_path: Path) -> None:
    """`compile policies/infra.policy` and `cd policies && compile infra.policy`, in two
    processes with different hash seeds, write the same bytes."""
    from_root = _compile_in_process(ROOT, "policies/infra.policy", tmp_path / "a.json", "1")
    from_policies = _compile_in_process(ROOT / "policies", "infra.policy",
                                        tmp_path / "b.json", "2")
    assert from_root == from_policies
    assert json.loads(from_root)["content"]["source"]["path"] == "infra.policy"
    rooted = [_compile_in_process(cwd, policy, tmp_path / f"{seed}.json", seed, "--root", root)
              for cwd, policy, root, seed in [(ROOT, "policies/infra.policy", ".", "3"),
                                              (ROOT / "policies", "infra.policy", "..", "4")]]
    assert rooted[0] == rooted[1]
    assert json.loads(rooted[0])["content"]["source"]["path"] == "policies/infra.policy"


def test_compile_root_must_hold_the_policy(tmp_path: Path) -> None:
    result = run("compile", str(INFRA), "--root", str(tmp_path), "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert f"`{INFRA}` is not under `{tmp_path}`" in result.stderr


@pytest.mark.parametrize(("name", "expected"), [
    ("infra.policy", "infra.bundle.json"), ("p.policy.yaml", "p.bundle.json"),
    ("p.policy.YML", "p.bundle.json"), ("odd", "odd.bundle.json"),
])
def test_default_output_names(name: str, expected: str) -> None:
    assert default_output(Path("dir") / name) == Path("dir") / expected


def test_compile_refuses_a_policy_with_errors(tmp_path: Path) -> None:
    target = tmp_path / "flawed.bundle.json"
    result = run("compile", str(FLAWED), "-o", str(target), "--now", "2026-11-21T00:00:00Z")
    assert result.exit_code == 1
    assert "DG202 (shadowed-rule)" in result.stderr
    assert "refused to compile" in result.stderr and "4 errors" in result.stderr
    assert not target.exists()


def test_compile_reports_front_end_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.policy"
    broken.write_text("policy p\nrule r\n  then dny\n")
    result = run("compile", str(broken))
    assert result.exit_code == 1
    assert "DG104 (unknown-decision)" in result.stderr


def test_compile_usage_errors(tmp_path: Path) -> None:
    assert run("compile", str(tmp_path / "nope.policy")).exit_code == 2
    (tmp_path / "bad.key").write_text("nope")
    result = run("compile", str(INFRA), "--sign-key", str(tmp_path / "bad.key"))
    assert result.exit_code == 2
    assert "not an unencrypted PEM private key" in result.output


# -- keygen, signing, verify -------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private.read_bytes()
    assert b"BEGIN PUBLIC KEY" in public.read_bytes()
    again = run("keygen", "-o", str(private.with_suffix("")))
    assert again.exit_code == 2 and "pass --force" in again.output


def test_signed_bundles_verify_and_tampered_ones_do_not(
    tmp_path: Path, keys: tuple[Path, Path],
) -> None:
    private, public = keys
    target = tmp_path / "signed.bundle.json"
    assert run("compile", str(INFRA), "-o", str(target), "--sign-key", str(private)
               ).exit_code == 0
    ok = run("verify", str(target), "--key", str(public))
    assert ok.exit_code == 0
    assert "signed by key" in ok.stdout
    unchecked = run("verify", str(target))
    assert unchecked.exit_code == 1 and unchecked.stdout == ""
    assert unchecked.stderr == (
        f"not verified `{target}`: it is signed but no --key was given to check the "
        "signature (--no-signature-check accepts it unchecked)\n")
    skipped = run("verify", str(target), "--no-signature-check")
    assert skipped.exit_code == 0
    assert "signed, signature not checked (--no-signature-check)" in skipped.stdout
    assert run("verify", str(target), "--no-signature-check", "--key", str(public)
               ).exit_code == 2
    data = bytearray(target.read_bytes())
    data[data.index(b'"deny"') + 2] = ord("x")
    target.write_bytes(bytes(data))
    refused = run("verify", str(target), "--key", str(public))
    assert refused.exit_code == 1
    assert "modified after it was compiled" in refused.stderr


def test_verify_refuses_an_unsigned_bundle_when_given_a_key(
    bundle: Path, keys: tuple[Path, Path],
) -> None:
    result = run("verify", str(bundle), "--key", str(keys[1]))
    assert result.exit_code == 1
    assert "not signed" in result.stderr
    assert "unsigned" in run("verify", str(bundle)).stdout


def test_a_private_key_given_as_the_public_key_is_named_so(
    bundle: Path, keys: tuple[Path, Path],
) -> None:
    private, _ = keys
    for command in ("verify", "inspect"):
        result = run(command, str(bundle), "--key", str(private))
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1] == (
            f"Error: Invalid value for --key: `{private}`: this is a private key: give the "
            "public key (the `.pub` file `dualgate keygen` writes), and keep the private key "
            "secret")


# -- inspect ----------------------------------------------------------------------------


def test_inspect_prints_metadata_tiers_and_the_analysis_summary(bundle: Path) -> None:
    text = run("inspect", str(bundle))
    assert text.exit_code == 0
    for fragment in ("policy     infra", f"dualgate-bundle v{FORMAT_VERSION}", "signature  none",
                     "production (protected)", "high     closed", "rules      10",
                     "analysis   10 passes"):
        assert fragment in text.stdout, fragment
    document = json.loads(run("inspect", str(bundle), "--format", "json").stdout)
    assert document["policy"] == "infra" and document["rules"] == 10
    assert [t["name"] for t in document["tiers"]] == ["high", "medium", "low"]
    assert document["analysis"]["passes"][0] == "CheckUnmatchableRules"
    assert document["analysis"]["suppressed"] == {"DG204": 4}


def test_inspect_shows_overrides_and_what_they_open(tmp_path: Path) -> None:
    policy = tmp_path / "o.policy"
    policy.write_text(
        "policy o\ntier high topics a.** fail_mode closed\n"
        "tier medium topics b.** fail_mode closed\n"
        "override tier medium fail_mode open until 2099-01-01T00:00:00Z reason \"INC-7\"\n"
        "rule r\n  when topic b.c\n  then deny\n"
    )
    assert run("compile", str(policy), "--override-window-limit", "30000d").exit_code == 0
    text = run("inspect", str(tmp_path / "o.bundle.json")).stdout
    assert "medium   closed, now open (override)" in text
    assert "override   tier medium open until 2099-01-01T00:00:00Z (active): INC-7" in text


def test_inspect_refuses_a_broken_bundle(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bundle.json"
    broken.write_text("{}")
    result = run("inspect", str(broken))
    assert result.exit_code == 1
    assert "refused" in result.stderr and "has no `content`" in result.stderr


# -- eval -------------------------------------------------------------------------------


def test_eval_a_single_request_as_text_and_json(bundle: Path) -> None:
    text = run("eval", str(bundle), "--topic", "infra.resource.delete", "--env", "production")
    assert text.exit_code == 0
    assert text.stdout.splitlines() == [
        "require_human by rule `require-human-prod-delete`",
        "  tier high, fail mode closed",
    ]
    answer = json.loads(run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev",
                            "--format", "json").stdout)
    assert answer["decision"] == "allow" and answer["rule"] == "allow-reads"
    assert answer["tier"] == "low" and answer["fail_mode"] == "open"


def test_eval_names_request_faults(bundle: Path) -> None:
    unknown = run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "prod")
    assert unknown.stdout.startswith("deny: env `prod` is not declared (unknown-env; "
                                     "declared: production, staging, dev)")
    bad_cidr = run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev",
                   "--cidr", "10.0.0.1/8")
    assert bad_cidr.stdout.startswith("deny: cidr `10.0.0.1/8` is not a valid network")
    assert bad_cidr.stdout.splitlines()[0].endswith(
        ": host bits set; did you mean `10.0.0.0/8`?")
    octet = run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev",
                "--cidr", "300.1.1.1")
    assert octet.stdout.splitlines()[0].endswith(": octet `300` is greater than 255")
    bad_topic = run("eval", str(bundle), "--topic", "infra..read", "--env", "dev")
    assert bad_topic.stdout.startswith("deny: topic `infra..read` is malformed")


def test_eval_on_a_source_policy_agrees_with_its_bundle(bundle: Path) -> None:
    lines = "\n".join(json.dumps(r) for r in [
        {"topic": "infra.resource.delete", "env": "production"},
        {"topic": "infra.security_group.update", "env": "production", "cidr": "8.8.8.8"},
        {"topic": "infra.security_group.update", "env": "production", "cidr": "10.1.0.0/16"},
        {"topic": "infra.iam.role.update", "env": "staging", "cidr": None},
    ]) + "\n"
    from_bundle = run("eval", str(bundle), "--input", "-", input=lines)
    from_source = run("eval", str(INFRA), "--input", "-", input=lines)
    assert from_bundle.exit_code == from_source.exit_code == 0
    assert from_bundle.stdout == from_source.stdout
    assert len(from_bundle.stdout.splitlines()) == 4


def test_eval_jsonl_keeps_going_past_malformed_lines(bundle: Path, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(
        b'{"topic": "infra.vm.read", "env": "dev"}\n'
        b"[1, 2]\n"
        b"not json\n"
        b'{"topic": "infra.vm.read", "env": "dev", "cdir": "10.0.0.1"}\n'
        b"\n"
        b'{"topic": 7, "env": "dev"}\n'
        b'{"topic": "infra.\xff.read", "env": "dev"}\n'
        b'{"env": "dev"}\n'
        b'{"topic": "infra.vm.read", "env": "dev", "cidr": "::ffff:10.0.0.1"}'
    )
    result = run("eval", str(bundle), "--input", str(requests))
    assert result.exit_code == 1
    answers: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["reason"] for a in answers] == [
        "rule", "malformed-request", "malformed-request", "malformed-request",
        "malformed-request", "invalid-topic", "malformed-request", "invalid-topic", "rule",
    ]
    single = json.loads(run("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev",
                            "--format", "json").stdout)
    assert answers[0] == answers[-1] == single
    malformed = [a for a in answers if a["reason"] == "malformed-request"]
    assert all(set(a) == {*single, "line", "error"} and a["decision"] == "deny"
               and a["bundle"] == single["bundle"] for a in malformed)
    assert [(a["line"], a["error"]) for a in malformed] == [
        (2, "a JSON array, not an object of `topic`, `env` and `cidr`"),
        (3, "not JSON: expecting value at column 1"),
        (4, "unknown key `cdir` (the keys are `topic`, `env` and `cidr`, or those of a "
            "decision-log entry with a `decision_id`); did you mean "
            "`cidr`?"),
        (5, "an empty line, not a JSON object"),
        (7, "not valid UTF-8 (byte 0xff at byte 18)"),
    ]
    assert result.stderr.splitlines() == [
        *(f"line {a['line']}: {a['error']}" for a in malformed),
        "5 malformed lines denied as malformed-request; failing (--allow-malformed "
        "accepts them)",
    ]
    allowed = run("eval", str(bundle), "--input", str(requests), "--allow-malformed")
    assert allowed.exit_code == 0 and allowed.stdout == result.stdout
    assert allowed.stderr.splitlines()[-1] == "5 malformed lines denied as malformed-request"
    text = run("eval", str(bundle), "--input", str(requests), "--format", "text")
    assert text.exit_code == 1
    assert text.stdout.splitlines()[6].split() == [
        "deny", "malformed-request", "line", "7:", "not", "valid", "UTF-8", "(byte", "0xff",
        "at", "byte", "18)"]


def test_eval_jsonl_names_only_the_first_malformed_lines(bundle: Path) -> None:
    result = run("eval", str(bundle), "--input", "-", input="x\n" * 25)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 25
    assert result.stderr.splitlines()[-1].startswith(
        "25 malformed lines denied as malformed-request (15 more not shown)")
    assert len(result.stderr.splitlines()) == 11


def test_eval_explain_names_the_rule_the_misses_and_the_tier(bundle: Path) -> None:
    result = run("eval", str(bundle), "--topic", "infra.security_group.update",
                 "--env", "production", "--cidr", "8.8.8.8", "--explain")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("deny by rule `deny-prod-public-ingress` (")
    assert lines[0].endswith(" (infra.policy:31:1)")
    assert "  tier: medium (fail mode closed)" in lines
    assert "  earlier rules that did not match:" in lines
    assert any(line.startswith("    allow-reads (") and line.endswith(
        "): `topic infra.**.read, infra.**.list` does not hold") for line in lines)
    document = json.loads(run("eval", str(bundle), "--topic", "infra.vm.read", "--env",
                              "dev", "--explain", "--format", "json").stdout)
    assert document["rule"] == "allow-reads"
    assert document["checked"][-1] == {"rule": "allow-reads", "matched": True,
                                       "failed_condition": None,
                                       "location": document["checked"][-1]["location"]}


def test_eval_refuses_a_policy_compile_refuses_unless_told_to_evaluate_it(
        tmp_path: Path) -> None:
    """`eval` on a source compiles it as `compile` does: analysis errors refuse it too."""
    shadowed = tmp_path / "s.policy"
    shadowed.write_text("policy s\nrule a\n  when topic x.*\n  then allow\n"
                        "rule b\n  when topic x.y\n  then deny\n")
    assert run("compile", str(shadowed), "-o", str(tmp_path / "s.json")).exit_code == 1
    request = ("--topic", "x.y", "--env", "production")
    refused = run("eval", str(shadowed), *request)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.splitlines()[-1].startswith(
        f"cannot evaluate `{shadowed}`: `dualgate compile` refuses it: 1 error")
    assert refused.stderr.splitlines()[-1].endswith(" (--allow-unsafe evaluates it anyway)")
    unsafe = run("eval", str(shadowed), *request, "--allow-unsafe", "--format", "json")
    assert unsafe.exit_code == 0
    assert unsafe.stderr.splitlines()[-1] == (
        f"warning: evaluating `{shadowed}` although `dualgate compile` refuses it: 1 error "
        "(--allow-unsafe)")
    assert json.loads(unsafe.stdout)["unsafe"] == "`dualgate compile` refuses it: 1 error"
    assert json.loads(unsafe.stdout)["rule"] == "a"
    lines = run("eval", str(shadowed), "--input", "-", "--allow-unsafe",
                input=json.dumps(dict(zip(["topic", "env"], request[1::2], strict=True))))
    assert json.loads(lines.stdout)["unsafe"] == json.loads(unsafe.stdout)["unsafe"]
    assert "the runtime refuses it" in run("eval", str(FLAWED), *request,
                                           "--allow-unsafe").stderr


def test_eval_explain_of_the_default(tmp_path: Path) -> None:
    policy = tmp_path / "d.policy"
    policy.write_text("policy d\nrule r\n  when topic a.b\n  then allow\n")
    result = run("eval", str(policy), "--topic", "c", "--env", "any", "--explain")
    assert result.stdout.splitlines()[0] == "deny by the default decision (no rule matched)"
    assert "    r (" in result.stdout and "): `topic a.b` does not hold" in result.stdout


def test_eval_usage_and_refusals(bundle: Path, tmp_path: Path) -> None:
    assert run("eval", str(bundle), "--topic", "a").exit_code == 2
    assert run("eval", str(bundle), "--input", "-", "--topic", "a", input="").exit_code == 2
    broken = tmp_path / "b.policy"
    broken.write_text("policy b\nrule r\n  when env prod\n  then deny\n")
    result = run("eval", str(broken), "--topic", "a", "--env", "x")
    assert result.exit_code == 1
    assert "cannot evaluate" in result.stderr
    assert run("eval", str(INFRA), "--topic", "a", "--env", "x", "--key", str(bundle)
               ).exit_code == 2
