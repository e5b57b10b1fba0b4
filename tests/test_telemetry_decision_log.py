"""The decision log: nothing dropped without a count, bypasses never dropped, nothing lost
on close; the sinks; the entry helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
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
    format_timestamp_ns,
    parse_entry,
)
from dualgate.runtime.telemetry.decision_log import (
    DECISION_FIELDS,
    REQUEST_FIELDS,
    SHARED_FIELDS,
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


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(0, 253402300799 * 10**9 + 999_999_999))
def test_format_timestamp_ns_cuts_to_the_microsecond(nanoseconds: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanoseconds // 1000)
    assert format_timestamp_ns(nanoseconds) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


class Word(StrEnum):
    ALLOW = "allow"
    ODD = "é\u2028\x00"


WORDS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(list(Word)))
SCALARS = st.one_of(WORDS, st.booleans(), st.integers(), st.floats(allow_nan=True))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                   st.dictionaries(st.text(max_size=4), SCALARS, max_size=2))
SHARED = st.tuples(*[VALUES] * (len(SHARED_FIELDS) - 1), st.booleans()).map(
    lambda values: (*values[:6], values[-1], *values[6:-1]))  # bypass in its place


def lines_of(record: Callable[[DecisionLog], None]) -> tuple[list[str], dict[str, int]]:
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    record(log)
    log.close()
    return lines, log.stats()["dropped"]  # type: ignore[return-value]


@settings(max_examples=examples(150), deadline=None)
@given(shared=SHARED, request=st.tuples(VALUES, VALUES, VALUES, VALUES),
       stamp=st.integers(0, 4 * 10**18))
def test_record_decision_writes_the_line_record_writes_for_the_same_entry(
    shared: tuple[object, ...], request: tuple[object, ...], stamp: int,
) -> None:
    """The writer's line from cached shared fields is byte for byte the line the same
    entry as a dict gives, odd values and unencodable ones (a NaN) included: written
    alike, or dropped alike (a bypass never)."""
    from dualgate.runtime.telemetry import decision_log

    job_id, topic, env, cidr = request
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decision_log, "_now", lambda: stamp)  # the time record_decision takes
        fast, fast_dropped = lines_of(lambda log: [
            log.record_decision(shared, job_id, topic, env, cidr) for _ in range(2)])
    ids = [json.loads(line)["decision_id"] for line in fast]
    assert len(set(ids)) == len(ids)
    assert {json.loads(line)["timestamp"] for line in fast} <= {format_timestamp_ns(stamp)}
    values = dict(zip(SHARED_FIELDS, shared, strict=True))
    values.update(zip(REQUEST_FIELDS, request, strict=True))
    entries = [{"timestamp": format_timestamp_ns(stamp), "decision_id": decision_id,
                **{key: values[key] for key in DECISION_FIELDS}} for decision_id in ids]
    slow, slow_dropped = lines_of(lambda log: [log.record(e) for e in entries])
    assert fast == slow
    if not fast:  # not encodable: both dropped, counted the same
        assert shared[SHARED_FIELDS.index("bypass")] is not True
        assert fast_dropped == {**slow_dropped, "encode-error": 2}
    else:
        assert list(json.loads(fast[0])) == ["timestamp", "decision_id", *DECISION_FIELDS]


@settings(max_examples=examples(60), deadline=None)
@given(shared=SHARED, request=st.tuples(VALUES, VALUES, VALUES, VALUES),
       decision_id=st.text(max_size=12) | st.integers(), stamp=st.integers(0, 4 * 10**18))
def test_record_decision_with_an_id_writes_the_line_record_writes_with_it(
    shared: tuple[object, ...], request: tuple[object, ...], decision_id: object, stamp: int,
) -> None:
    """A caller's decision id (the server answers with it) is the one written, escaped as
    the encoder escapes it; an id that is not a string is written as ``record`` would."""
    from dualgate.runtime.telemetry import decision_log

    job_id, topic, env, cidr = request
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decision_log, "_now", lambda: stamp)
        fast, fast_dropped = lines_of(lambda log: log.record_decision(
            shared, job_id, topic, env, cidr, decision_id=decision_id))  # type: ignore[arg-type]
    values = dict(zip(SHARED_FIELDS, shared, strict=True))
    values.update(zip(REQUEST_FIELDS, request, strict=True))
    entry = {"timestamp": format_timestamp_ns(stamp), "decision_id": decision_id,
             **{key: values[key] for key in DECISION_FIELDS}}
    slow, slow_dropped = lines_of(lambda log: log.record(entry))
    assert (fast, fast_dropped) == (slow, slow_dropped)


def test_record_decision_drops_like_record() -> None:
    shared = ("submit", "allow", None, "rule", "low", "open", False, "h", "p", None,
              "admit", None)
    bypass = (*shared[:6], True, *shared[7:])
    sink = StalledSink()
    log = DecisionLog(sink, max_queue=2, flush_interval=0.01)
    log.record_decision(shared, "job-0", "a.b", "dev", None)
    assert sink.entered.wait(5)
    for number in range(1, 6):
        log.record_decision(bypass if number == 5 else shared, f"job-{number}", "a.b", "dev",
                            None)
    assert log.stats()["dropped"]["queue-full"] == 2
    sink.release.set()
    log.close()
    log.record_decision(bypass, "job-6", "a.b", "dev", None)
    assert jobs(sink.lines) == ["job-0", "job-1", "job-2", "job-5"]
    assert log.stats()["dropped"] == {"queue-full": 2, "sink-error": 0, "encode-error": 0,
                                      "closed": 1}


class BatchSink:
    """Takes batches, refusing the lines whose job is in ``refuse`` (each once)."""

    def __init__(self, refuse: set[str], *, raising: bool = False) -> None:
        self.refuse = refuse
        self.raising = raising
        self.lines: list[str] = []
        self.batches = 0

    def write(self, line: str) -> None:
        raise AssertionError("a batch sink gets batches")

    def write_lines(self, lines: list[str]) -> int:
        self.batches += 1
        for index, line in enumerate(lines):
            job = json.loads(line)["job_id"]
            if job in self.refuse:
                self.refuse.discard(job)
                if self.raising and index == 0:
                    raise OSError("refused")
                return index
            self.lines.append(line)
        return len(lines)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("raising", [False, True])
def test_a_batch_sink_gets_batches_and_each_refused_line_is_counted(raising: bool) -> None:
    sink = BatchSink({"job-3", "job-4", "job-7"}, raising=raising)
    log = DecisionLog(sink, flush_interval=3600)
    for number in range(10):
        log.record(entry(number, bypass=number == 7))
    assert not log.flush(0.2)  # one batch, cut at each refused line; the bypass waits
    assert log.flush(5)  # the next cycle offers the bypass again
    log.close()
    # The refused bypass is offered again (and taken); the others are counted.
    assert jobs(sink.lines) == [f"job-{n}" for n in range(10) if n not in (3, 4, 7)] + [
        "job-7"]
    assert log.stats()["dropped"]["sink-error"] == 2
    assert log.stats()["written"] == 8
    assert sink.batches == 5  # from lines 0, 4, 5 and 8; then the bypass again


def test_the_rotating_file_sink_writes_a_batch_as_lines_would_be(tmp_path: Path) -> None:
    lines = [f'{{"n":{number},"pad":"{"x" * (number % 7)}"}}' for number in range(40)]
    one, batch = tmp_path / "one", tmp_path / "batch"
    one.mkdir()
    batch.mkdir()
    single = RotatingFileSink(one / "log", max_bytes=100, backups=3)
    for line in lines:
        single.write(line)
    single.close()
    batched = RotatingFileSink(batch / "log", max_bytes=100, backups=3)
    assert batched.write_lines(lines[:25]) == 25
    assert batched.write_lines(lines[25:]) == 15
    assert batched.write_lines([]) == 0
    batched.close()
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in batch.iterdir()) == [
        "log", "log.1", "log.2", "log.3"]
    for name in names:
        assert (one / name).read_bytes() == (batch / name).read_bytes()


def test_the_rotating_file_sink_counts_only_whole_lines_of_a_failed_write(
    tmp_path: Path,
) -> None:
    class Short:
        """A file that takes 25 bytes, then refuses (a disk filling up)."""

        def __init__(self) -> None:
            self.data = b""

        def write(self, data: memoryview) -> int:
            room = 25 - len(self.data)
            if room <= 0:
                raise OSError("no space left on device")
            taken = bytes(data[:min(room, 10)])
            self.data += taken
            return len(taken)

        def close(self) -> None:
            pass

    sink = RotatingFileSink(tmp_path / "log", max_bytes=1 << 20, backups=1)
    sink._file.close()
    short = Short()
    sink._file = short  # type: ignore[assignment]
    assert sink.write_lines(["aaaaaaa", "bbbbbbb", "ccccccc", "ddddddd"]) == 3
    assert short.data == b"aaaaaaa\nbbbbbbb\nccccccc\nd"


def test_a_function_sink_refuses_exactly_the_lines_its_function_raises_on() -> None:
    taken: list[str] = []

    def take(line: str) -> None:
        if json.loads(line)["job_id"] in ("job-2", "job-5"):
            raise ValueError("no")
        taken.append(line)

    log = DecisionLog(CallableSink(take), flush_interval=3600)
    for number in range(8):
        log.record(entry(number))
    log.close()
    assert jobs(taken) == ["job-0", "job-1", "job-3", "job-4", "job-6", "job-7"]
    assert log.stats()["dropped"]["sink-error"] == 2
    assert log.stats()["written"] == 6


def test_the_stdout_sink_writes_a_batch(capsys: pytest.CaptureFixture[str]) -> None:
    sink = StdoutSink()
    assert sink.write_lines(["a", "b"]) == 2
    assert sink.write_lines([]) == 0
    assert capsys.readouterr().out == "a\nb\n"
