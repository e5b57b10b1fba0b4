"""``dualgate eval --input`` reads a gate's decision log as it is written: every entry's
request is decided again, and an entry's keys are checked as strictly as a request's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from dualgate.compiler.cli.main import cli
from dualgate.runtime.gates.submit import SubmitGate
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics
from dualgate.runtime.telemetry.decision_log import DECISION_FIELDS, ENTRY_KEYS
from tests.gates_support import bundle_bytes, make_holder

JOBS = [
    ("infra.vm.create", "staging", None),
    ("payments.refund", "staging", "10.1.2.3"),
    ("infra.cluster.scale", "production", None),
    ("payments.refund", "production", "203.0.113.9"),
    ("payments.charge", "staging", None),
    ("bad topic", "staging", None),
    ("infra.vm.create", "prod", None),
    ("orders.item.read", "production", "::1"),
]


def _decision_log(tmp_path: Path) -> tuple[Path, list[str]]:
    """The bundle the gate used, and the decision-log lines it wrote for ``JOBS``."""
    bundle = tmp_path / "shop.bundle.json"
    bundle.write_bytes(bundle_bytes())
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append), metrics=GateMetrics(use_prometheus=False))
    gate = SubmitGate(make_holder(bundle), decision_log=log)
    for number, (topic, env, cidr) in enumerate(JOBS):
        gate.check(topic, env, cidr, job_id=f"job-{number}", job_hash=f"sha256:{number}")
    assert log.flush(5)
    log.close()
    return bundle, lines


def _eval(bundle: Path, lines: list[str], tmp_path: Path) -> Any:
    source = tmp_path / "decisions.jsonl"
    source.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return CliRunner().invoke(cli, ["--no-color", "eval", str(bundle), "--input", str(source)])


def test_every_entry_of_a_gate_decision_log_is_decided_again_as_the_gate_decided(
        tmp_path: Path) -> None:
    bundle, lines = _decision_log(tmp_path)
    entries = [json.loads(line) for line in lines]
    assert len(entries) == len(JOBS) and all(
        set(entry) == {*ENTRY_KEYS, *DECISION_FIELDS} for entry in entries)
    result = _eval(bundle, lines, tmp_path)
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(v["decision"], v["rule"], v["reason"], v["tier"]) for v in verdicts] == [
        (e["decision"], e["rule"], e["reason"], e["tier"]) for e in entries]
    assert {v["bundle"] for v in verdicts} == {e["bundle"] for e in entries}


def test_a_misspelled_key_is_malformed_in_an_entry_and_log_keys_without_an_id_in_a_request(
        tmp_path: Path) -> None:
    bundle, lines = _decision_log(tmp_path)
    entry = json.loads(lines[0])
    misspelled = {**entry, "tire": entry["tier"]}
    del misspelled["tier"]
    without_id = {key: entry[key] for key in ("topic", "env", "cidr", "gate")}
    result = _eval(bundle, [lines[0], json.dumps(misspelled), json.dumps(without_id)], tmp_path)
    assert result.exit_code == 1
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers[0]["reason"] == "rule"
    assert [(a["reason"], a["line"]) for a in answers[1:]] == [
        ("malformed-request", 2), ("malformed-request", 3)]
    assert answers[1]["error"].startswith("unknown key `tire` in a decision-log entry (the "
                                          "keys are `timestamp`, `decision_id`,")
    assert answers[1]["error"].endswith("did you mean `tier`?")
    assert answers[2]["error"].startswith(
        "unknown key `gate` (the keys are `topic`, `env` and `cidr`, or those of a "
        "decision-log entry with a `decision_id`)")
