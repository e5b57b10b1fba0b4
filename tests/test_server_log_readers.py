"""A real decision server's log, read back by the log's readers: ``parse_entry``,
``review --replay``'s reading, ``test add --from-log`` and ``eval --input``. A batch item
that was no request is logged as the entry of a malformed request (``reason``
``malformed-request``, null request fields); every reader passes it over in those
words (counted as a bad line by the replay, refused by ``test add``), and reads every
other line as the request the server decided."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from dualgate.compiler.cli.main import cli
from dualgate.compiler.review.replay import parse_log
from dualgate.runtime.gates import BundleHolder
from dualgate.runtime.telemetry import DecisionLog, GateMetrics, RotatingFileSink
from dualgate.runtime.telemetry.decision_log import MALFORMED_ENTRY, parse_entry
from dualgate.server import DecisionService, ServerThread, create_app
from tests.gates_support import POLICY, bundle_bytes

DECIDED = [{"topic": "payments.refund", "env": "staging", "gate": "submit", "job_id": "j-1"},
           {"topic": "repo.file.read", "env": "production", "cidr": "10.1.2.3"},
           {"topic": 5, "env": "production"}]  # decided by the runtime: invalid-topic
MALFORMED = [7, {"topic": "repo.file.read", "env": "staging", "colour": 1},
             {"topic": "repo.file.read", "env": "staging", "gate": "Not A Word"}]


@pytest.fixture(scope="module")
def served_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """The decision log of a server on a loopback port (written as `dualgate serve
    --decision-log` writes it) after one batch, and the answers it gave."""
    directory = tmp_path_factory.mktemp("served")
    bundle = directory / "shop.bundle.json"
    bundle.write_bytes(bundle_bytes())
    (directory / "shop.policy").write_text(POLICY)
    log_path = directory / "decisions.jsonl"
    log = DecisionLog(RotatingFileSink(log_path, 64 << 20, 5))
    service = DecisionService(BundleHolder(bundle), metrics=GateMetrics(), decision_log=log)
    server = ServerThread(create_app(service)).start()
    try:
        items = [DECIDED[0], MALFORMED[0], DECIDED[1], MALFORMED[1], DECIDED[2], MALFORMED[2]]
        response = httpx.post(f"{server.url}/v1/decide/batch", json={"requests": items})
        assert response.status_code == 200
    finally:
        server.stop()
    log.close()
    return log_path, response.json()["results"]


def test_parse_entry_reads_the_decided_lines_and_names_the_malformed(
        served_log: tuple[Path, list[dict[str, Any]]]) -> None:
    log_path, answers = served_log
    lines = log_path.read_text().splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == \
        [answer["decision_id"] for answer in answers]
    read = []
    for line, answer in zip(lines, answers, strict=True):
        if answer["reason"] == "malformed-request":
            with pytest.raises(ValueError, match=r"^the entry of a malformed request"):
                parse_entry(line)
        elif answer["reason"] == "invalid-topic":
            with pytest.raises(ValueError, match="`topic` is missing or not a string"):
                parse_entry(line)
        else:
            read.append(parse_entry(line))
    assert [(e["topic"], e["env"], e["cidr"]) for e in read] == [
        ("payments.refund", "staging", None), ("repo.file.read", "production", "10.1.2.3")]


def test_the_replay_counts_the_malformed_entries_in_their_own_words(
        served_log: tuple[Path, list[dict[str, Any]]]) -> None:
    log_path, _answers = served_log
    replay = parse_log(log_path.read_bytes().split(b"\n"), "decisions.jsonl")
    assert [r.request.topic for r in replay.requests] == ["payments.refund", "repo.file.read"]
    assert replay.lines == 6 and replay.bad == 4
    assert [(bad.line, bad.message) for bad in replay.bad_examples] == [
        (2, MALFORMED_ENTRY), (4, MALFORMED_ENTRY), (5, "`topic` is missing or not a string"),
        (6, MALFORMED_ENTRY)]


def test_test_add_takes_a_decided_entry_and_refuses_a_malformed_one(
        served_log: tuple[Path, list[dict[str, Any]]]) -> None:
    log_path, answers = served_log
    directory = log_path.parent
    runner = CliRunner()
    base = ["--no-color", "test", "add", str(directory / "shop.test.yaml"), "--from-log",
            str(log_path), "--policy", str(directory / "shop.policy")]
    refused = runner.invoke(cli, [*base, "--decision-id", answers[1]["decision_id"],
                                  "--expect", "deny"])
    assert refused.exit_code == 2
    assert f"line 2 of `{log_path}` is {MALFORMED_ENTRY}" in refused.output
    assert not (directory / "shop.test.yaml").exists()
    added = runner.invoke(cli, [*base, "--decision-id", answers[0]["decision_id"],
                                "--expect", "deny"])
    assert added.exit_code == 0, added.output
    assert "payments.refund" in (directory / "shop.test.yaml").read_text()


def test_eval_input_decides_the_log_as_the_server_did(
        served_log: tuple[Path, list[dict[str, Any]]]) -> None:
    """Each decided line gets the server's answer; a malformed entry (null request
    fields) is denied too."""
    log_path, answers = served_log
    result = CliRunner().invoke(cli, ["eval", str(log_path.parent / "shop.bundle.json"),
                                      "--input", str(log_path)])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in result.output.splitlines()]
    assert len(verdicts) == len(answers)
    for verdict, answer in zip(verdicts, answers, strict=True):
        if answer["reason"] == "malformed-request":
            assert verdict["decision"] == "deny"
        else:
            assert verdict == {k: v for k, v in answer.items() if k != "decision_id"}
