"""The decision log: nothing dropped without a count, bypasses never dropped, nothing lost
on close; the sinks; the entry helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime.telemetry import (
    ENTRY_KEYS,
    CallableSink,
    DecisionLog,
    GateMetrics,
    RotatingFileSink,
    StdoutSink,
    decision_stamp,
    format_timestamp,
    parse_entry,
)
from dualgate.runtime.telemetry.metrics import DECISION_LOGS_DROPPED
from tests.profiles import examples


def entry(number: int, *, bypass: bool = False) -> dict[str, object]:
    timestamp, decision_id = decision_stamp()
    return {
        "timestamp": timestamp, "decision_id": decision_id, "gate": "submit",
        "job_id": f"job-{number}", "topic": "infra.vm.read", "env": "production",
        "cidr": "10.0.0.1", "decision": "allow", "rule": None, "reason": "policy-unavailable",
        "tier": "low", "fail_mode": "open", "bypass": bypass, "bundle": "ab12",
        "policy": "infra", "approval": None,
    }


class StalledSink:
    """Takes lines only once released; meanwhile the writer is stuck in ``write``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = False

    def write(self, line: str) -> None:
        self.entered.set()
        self.release.wait()
        self.lines.append(line)

    def close(self) -> None:
        self.closed = True


class RefusingSink:
    """Raises on every line until ``accept`` is set."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.accept = False
        self.attempts = 0

    def write(self, line: str) -> None:
        self.attempts += 1
        if not self.accept:
            raise OSError("disk full")
        self.lines.append(line)

    def close(self) -> None:
        raise OSError("close failed too")


def jobs(lines: list[str]) -> list[str]:
    return [json.loads(line)["job_id"] for line in lines]


def test_a_stalled_sink_drops_counted_keeps_bypasses_and_loses_nothing_on_close() -> None:
    sink, metrics = StalledSink(), GateMetrics(use_prometheus=False)
    log = DecisionLog(sink, max_queue=10, metrics=metrics, flush_interval=0.01)
    log.record(entry(0))
    assert sink.entered.wait(5)  # the writer now holds entry 0, stuck in the sink
    for number in range(1, 41):
        log.record(entry(number, bypass=number % 4 == 0))
    kept = [f"job-{n}" for n in range(1, 41) if n <= 10 or n % 4 == 0]
    dropped = 40 - len(kept)
    assert log.stats()["dropped"] == {"queue-full": dropped, "sink-error": 0,
                                      "encode-error": 0, "closed": 0}
    assert metrics.snapshot()[DECISION_LOGS_DROPPED] == {("queue-full",): dropped}
    assert not log.flush(timeout=0.05)
    sink.release.set()
    log.close()
    assert jobs(sink.lines) == ["job-0", *kept]
    assert sink.closed
    assert log.stats()["written"] == 1 + len(kept)
    assert log.stats()["queued"] == 0


def test_entries_after_close_are_counted() -> None:
    lines: list[str] = []
    metrics = GateMetrics(use_prometheus=False)
    log = DecisionLog(CallableSink(lines.append), metrics=metrics)
    log.close()
    log.close()
    log.record(entry(1, bypass=True))
    assert lines == []
    assert metrics.snapshot()[DECISION_LOGS_DROPPED] == {("closed",): 1.0}
    assert log.flush(timeout=1)


def test_a_raising_sink_is_counted_and_bypasses_are_offered_again() -> None:
    sink, metrics = RefusingSink(), GateMetrics(use_prometheus=False)
    log = DecisionLog(sink, metrics=metrics, flush_interval=0.01)
    log.record(entry(1))
    log.record(entry(2, bypass=True))
    log.record(entry(3))
    assert not log.flush(timeout=0.2)  # the bypass waits for the sink
    assert log.stats()["dropped"]["sink-error"] == 2
    assert log.stats()["retrying"] == 1
    sink.accept = True
    assert log.flush(timeout=5)
    assert jobs(sink.lines) == ["job-2"]
    log.close()  # the sink's own close error does not propagate either
    assert metrics.snapshot()[DECISION_LOGS_DROPPED] == {("sink-error",): 2.0}


def test_a_bypass_the_sink_never_takes_is_counted_at_close() -> None:
    sink = RefusingSink()
    log = DecisionLog(sink, flush_interval=0.01)
    log.record(entry(1, bypass=True))
    log.close()
    assert sink.attempts >= 2
    assert log.stats()["dropped"]["sink-error"] == 1


def test_unencodable_entries_are_counted_and_bypasses_still_written() -> None:
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    log.record({"job_id": "nan", "latency": float("nan")})
    log.record({"job_id": "object", "approval": object()})
    log.record(None)  # type: ignore[arg-type]
    log.record({"job_id": "bypass", "bypass": True, "approval": object()})
    log.close()
    assert log.stats()["dropped"]["encode-error"] == 3
    assert jobs(lines) == ["bypass"]
    assert json.loads(lines[0])["approval"].startswith("<object object")


def test_a_line_is_one_json_object_with_an_rfc3339_microsecond_timestamp() -> None:
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    recorded = entry(7)
    log.record(recorded)
    log.close()
    (line,) = lines
    assert "\n" not in line
    written = json.loads(line)
    assert list(written) == list(ENTRY_KEYS)
    assert written["timestamp"] == format_timestamp(float(recorded["timestamp"]))  # type: ignore[arg-type]
    assert parse_entry(line) == written
    assert parse_entry(line)["topic"] == "infra.vm.read"


def test_format_timestamp_is_rfc3339_utc_with_microseconds() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000Z"
    assert format_timestamp(1764581400.000001) == "2025-12-01T09:30:00.000001Z"


@settings(max_examples=examples(50), deadline=None)
@given(st.floats(min_value=0, max_value=4102444800, allow_nan=False))
def test_format_timestamp_round_trips_to_the_microsecond(seconds: float) -> None:
    text = format_timestamp(seconds)
    assert text.endswith("Z") and len(text) == 27
    parsed = datetime.fromisoformat(text)
    assert abs(parsed.timestamp() - seconds) <= 1e-6 + 1e-9 * seconds


def test_decision_ids_are_unique_across_threads() -> None:
    ids: list[str] = []

    def stamp() -> None:
        ids.extend(decision_stamp()[1] for _ in range(5000))

    workers = [threading.Thread(target=stamp) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(ids)) == len(ids) == 20000


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "not a JSON object"),
    ("[1]", "not a JSON object"),
    ('{"env": "dev"}', "`topic` is missing"),
    ('{"topic": "a.b", "env": 3}', "`env` is missing or not a string"),
    ('{"topic": "a.b", "env": "dev", "cidr": 5}', "`cidr` is neither"),
])
def test_parse_entry_refuses_what_is_not_a_request(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_entry(line)


def test_the_rotating_file_sink_rotates_and_keeps_backups(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    sink = RotatingFileSink(path, max_bytes=60, backups=2)
    for number in range(10):
        sink.write(f'{{"n":{number},"pad":"{"x" * 10}"}}')  # 27 bytes with the newline
    sink.close()
    numbers = {name: [json.loads(line)["n"] for line in (tmp_path / name).read_text().splitlines()]
               for name in ("decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2")}
    assert numbers == {"decisions.jsonl": [8, 9], "decisions.jsonl.1": [6, 7],
                       "decisions.jsonl.2": [4, 5]}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(numbers)
    assert all((tmp_path / name).stat().st_size <= 60 for name in numbers)


def test_the_rotating_file_sink_appends_and_without_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text('{"old":1}\n')
    sink = RotatingFileSink(path, max_bytes=30, backups=0)
    sink.write('{"new":2}')
    assert path.read_text() == '{"old":1}\n{"new":2}\n'
    sink.write('{"newer":3}' + " " * 10)
    sink.close()
    assert path.read_text() == '{"newer":3}          \n'
    assert [p.name for p in tmp_path.iterdir()] == ["log"]
    with pytest.raises(ValueError, match="max_bytes"):
        RotatingFileSink(path, max_bytes=0, backups=1)
    with pytest.raises(ValueError, match="backups"):
        RotatingFileSink(path, max_bytes=10, backups=-1)


def test_a_file_log_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(RotatingFileSink(path, max_bytes=1 << 20, backups=1))
    for number in range(100):
        log.record(entry(number, bypass=number == 50))
    assert log.flush(timeout=5)
    log.close()
    lines = path.read_text().splitlines()
    assert [parse_entry(line)["job_id"] for line in lines] == [f"job-{n}" for n in range(100)]


def test_the_stdout_sink_writes_lines(capsys: pytest.CaptureFixture[str]) -> None:
    log = DecisionLog(StdoutSink())
    log.record(entry(1))
    log.close()
    assert jobs(capsys.readouterr().out.splitlines()) == ["job-1"]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_queue"):
        DecisionLog(CallableSink(print), max_queue=0)
    with pytest.raises(ValueError, match="flush_interval"):
        DecisionLog(CallableSink(print), flush_interval=0)


def test_under_concurrent_load_every_entry_is_written_or_counted() -> None:
    written: list[str] = []
    lock = threading.Lock()

    def slow(line: str) -> None:  # slower than the producers: the queue fills up
        with lock:
            written.append(line)
        threading.Event().wait(0.00005)

    metrics = GateMetrics(use_prometheus=False)
    log = DecisionLog(CallableSink(slow), max_queue=50, metrics=metrics, flush_interval=0.005)
    threads, per_thread = 6, 400

    def produce(index: int) -> None:
        for number in range(per_thread):
            log.record(entry(index * per_thread + number, bypass=number % 10 == 0))

    workers = [threading.Thread(target=produce, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    log.close()
    stats = log.stats()
    dropped = stats["dropped"]
    assert isinstance(dropped, dict)
    assert len(written) + sum(dropped.values()) == threads * per_thread
    assert dropped["sink-error"] == dropped["encode-error"] == dropped["closed"] == 0
    assert dropped["queue-full"] > 0
    bypasses = {f"job-{i * per_thread + n}" for i in range(threads)
                for n in range(0, per_thread, 10)}
    assert bypasses <= set(jobs(written))
    assert metrics.snapshot()[DECISION_LOGS_DROPPED] == {("queue-full",): dropped["queue-full"]}


def test_entries_still_queued_at_exit_are_written(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    code = (
        "from dualgate.runtime.telemetry import DecisionLog, RotatingFileSink\n"
        f"log = DecisionLog(RotatingFileSink({str(path)!r}, 1 << 20, 1), flush_interval=3600)\n"
        "for n in range(500):\n"
        "    log.record({'job_id': f'job-{n}', 'topic': 'a.b', 'env': 'dev', 'cidr': None,"
        " 'bypass': n == 7})\n"
    )  # no close(): the writer sleeps for an hour, so only the exit hook can write them
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert jobs(path.read_text().splitlines()) == [f"job-{n}" for n in range(500)]


def test_record_decision_writes_the_line_record_writes_for_the_same_entry() -> None:
    from dualgate.runtime.telemetry.decision_log import DECISION_FIELDS

    values = ("submit", "job-1", "infra.vm.read", "production", None, "allow", "r1",
              "allow", "low", "open", False, "sha256:x", "infra", None, "admit", None)
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    log.record_decision(values)
    log.close()
    written = json.loads(lines[0])
    assert list(written) == ["timestamp", "decision_id", *DECISION_FIELDS]
    again: list[str] = []
    other = DecisionLog(CallableSink(again.append))
    other.record({"timestamp": datetime.fromisoformat(
        written["timestamp"].replace("Z", "+00:00")).timestamp(),
        "decision_id": written["decision_id"], **dict(zip(DECISION_FIELDS, values, strict=True))})
    other.close()
    assert again == lines
