"""The decision server under load on loopback, beside the in-process ``decide()``.

Run: ``.venv/bin/python benchmarks/bench_server.py [--write]`` (``--write`` also writes
``benchmarks/results/server.md``).

A ``dualgate serve`` process (Uvicorn, uvloop and httptools when installed, no access log,
no watcher) is pinned to one core; the load generator, pinned to the other, keeps
``--clients`` keep-alive HTTP/1.1 connections busy, each sending its next request as
soon as the answer to the last arrived (closed loop), for ``--seconds`` after a short
warm-up. Every answer is checked to be a 200. The generator is a minimal asyncio
protocol (pre-built requests, answers framed by ``Content-Length``) so that it can
outrun the server on one core; a Python HTTP client could not.

Rows: first the ceiling of the HTTP stack (Uvicorn answering every request with a
constant, no dualgate), then single decisions (``POST /v1/decide``, cycling through the requests of
``policies/requests/infra.jsonl`` against ``policies/infra.policy``) and batches of 100
(``POST /v1/decide/batch``), without and with the decision log (to a file); throughput
the same per CPU second of the server process (read from ``/proc``: what a core of its
own would give, since on this shared machine the server does not get a whole core), and
the p50/p99 latency of a request as the generator measured it. Beside them, in this
process: ``Bundle.decide`` alone, and the server's own work per request without HTTP
(``DecisionService.decide`` after ``parse_single``, ``decide_batch`` after
``parse_batch``), in CPU time, and a Python gate's ``RemoteDecider`` call against the
server (one thread, httpx, wall time).

The machine is shared: figures move from run to run, the load average is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "server.md"
RELATIVE = "benchmarks/results/server.md"
SINGLE_GOAL = 5_000.0
BATCH_GOAL = 200_000.0
BATCH = 100
MAIN = "from dualgate.compiler.cli.main import main; main()"
#: Uvicorn serving an ASGI application that answers every request with one constant
#: verdict: the ceiling the HTTP stack itself sets on this machine.
CONSTANT = """
import sys, uvicorn
ANSWER = b'{"decision":"allow","rule":"allow-reads","reason":"rule","tier":"low",' \\
         b'"fail_mode":"open","bundle":"0","decision_id":"0"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), lifespan="off", access_log=False,
            log_level="warning", server_header=False)
"""


def requests() -> list[dict[str, Any]]:
    lines = (ROOT / "policies" / "requests" / "infra.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]
    return [r for r in parsed if isinstance(r, dict) and r.keys() <= {"topic", "env", "cidr"}]


def bundle_file(directory: Path) -> Path:
    from dualgate.compiler.backend import compile_loaded
    from dualgate.compiler.frontend.loader import load_policy
    from dualgate.runtime.bundle_format import serialize

    source = ROOT / "policies" / "infra.policy"
    compiled = compile_loaded(load_policy(source), source=source.read_bytes())
    assert compiled.bundle is not None
    target = directory / "infra.bundle.json"
    target.write_bytes(serialize(compiled.bundle))
    return target


def http_request(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection in a closed loop: send, wait for the whole answer,
    record its latency, send the next, until ``deadline``."""

    def __init__(self, payloads: list[bytes], start: float, deadline: float,
                 latencies: list[float], done: asyncio.Future[int]) -> None:
        self.payloads = payloads
        self.start = start
        self.deadline = deadline
        self.latencies = latencies
        self.done = done
        self.buffer = b""
        self.sent_at = 0.0
        self.count = 0
        self.errors = 0
        self.transport: Any = None  # uvloop's transports are no asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.payloads[self.count % len(self.payloads)])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            marker = head.find(b"content-length:")
            length = int(head[marker + 15:head.find(b"\r\n", marker) if
                              head.find(b"\r\n", marker) > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            if not head.startswith(b"http/1.1 200"):
                self.errors += 1
            self.buffer = self.buffer[end + 4 + length:]
            now = time.perf_counter()
            if now >= self.start:
                self.latencies.append(now - self.sent_at)
            self.count += 1
            if now >= self.deadline:
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.errors)


async def _load(port: int, payloads: list[bytes], clients: int, warmup: float,
                seconds: float) -> tuple[list[float], float, int]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter() + warmup
    deadline = start + seconds
    latencies: list[float] = []
    waits = []
    for number in range(clients):
        done: asyncio.Future[int] = loop.create_future()
        rotated = payloads[number % len(payloads):] + payloads[:number % len(payloads)]
        await loop.create_connection(
            lambda rotated=rotated, done=done: _Connection(rotated, start, deadline,
                                                            latencies, done),
            "127.0.0.1", port)
        waits.append(done)
    errors = sum(await asyncio.gather(*waits))
    return latencies, seconds, errors


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, payloads: list[bytes], clients: int, *, warmup: float,
         seconds: float, server: int) -> dict[str, float]:
    """Requests per second, p50/p99 latency (ms) of a closed-loop run, and requests per
    CPU second of the server process ``server`` (what one core would do if it had
    nothing else to run: the machine is shared, so the wall clock undercounts it)."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    before = cpu_seconds(server)
    latencies, elapsed, errors = runner(_load(port, payloads, clients, warmup, seconds))
    used = cpu_seconds(server) - before
    if errors:
        raise SystemExit(f"{errors} answers were not 200")
    ordered = sorted(latencies)
    # Requests answered during the warm-up used CPU too: count them at the measured rate.
    answered = len(ordered) * (elapsed + warmup) / elapsed
    return {"rps": len(ordered) / elapsed, "cpu_rps": answered / used if used else 0.0,
            "p50": ordered[len(ordered) // 2] * 1000,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(argv: list[str], port: int, core: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.sched_setaffinity(process.pid, {core})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(process.stderr.read().decode() if process.stderr else
                                 "the server did not start") from None
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start in 30 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


def per_call(function: Any, arguments: list[Any], number: int,
             clock: Any = time.process_time) -> float:
    """Seconds per call by ``clock`` (CPU time by default: on a shared machine the wall
    clock also counts other processes' turns): the median of 5 passes of ``number``."""
    samples = []
    for _ in range(5):
        begin = clock()
        count = 0
        while count < number:
            for argument in arguments:
                function(argument)
            count += len(arguments)
        samples.append((clock() - begin) / count)
    return statistics.median(samples)


def in_process(bundle: Path, batch: list[dict[str, Any]]) -> dict[str, float]:
    from dualgate.runtime import load_bundle
    from dualgate.runtime.gates import BundleHolder
    from dualgate.runtime.telemetry import GateMetrics
    from dualgate.server import DecisionService
    from dualgate.server.requests import parse_batch, parse_single

    loaded = load_bundle(bundle)
    asked = [(r["topic"], r["env"], r.get("cidr")) for r in requests()]
    service = DecisionService(BundleHolder(bundle), metrics=GateMetrics(use_prometheus=True))
    single_bodies = [json.dumps(r).encode() for r in requests()]
    batch_body = json.dumps({"requests": batch}).encode()
    return {
        "decide": per_call(lambda a: loaded.decide(*a), asked, 60_000),
        "service": per_call(lambda b: service.decide(parse_single(b)), single_bodies, 20_000),
        "service_batch": per_call(
            lambda b: service.decide_batch(parse_batch(b, 1000)), [batch_body], 300) / BATCH,
    }


def remote_call(port: int) -> float:
    from dualgate.runtime.gates.remote import RemoteDecider

    asked = [(r["topic"], r["env"], r.get("cidr")) for r in requests()]
    with RemoteDecider(f"http://127.0.0.1:{port}", refresh_interval=None) as decider:
        return per_call(lambda a: decider(*a), asked, 600, time.perf_counter)


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = cores[0], cores[-1]
    os.sched_setaffinity(0, {client_core})
    bundle = bundle_file(directory)
    asked = requests()
    singles = [http_request("/v1/decide", json.dumps(r).encode()) for r in asked]
    batch = [asked[n % len(asked)] for n in range(BATCH)]
    batches = [http_request("/v1/decide/batch", json.dumps({"requests": batch}).encode())]
    rows: list[tuple[str, int, dict[str, float], int]] = []
    remote = 0.0
    port = free_port()
    server = start_server([sys.executable, "-c", CONSTANT, str(port)], port, server_core)
    try:
        ceiling = load(port, singles, args.clients, warmup=args.warmup, seconds=args.seconds,
                       server=server.pid)
    finally:
        stop_server(server)
    rows.append(("single, Uvicorn answering a constant (no dualgate)", args.clients, ceiling,
                 1))
    for log in (None, directory / "decisions.jsonl"):
        port = free_port()
        argv = [sys.executable, "-c", MAIN, "serve", str(bundle), "--port", str(port),
                "--poll-interval", "0"]
        if log is not None:
            argv += ["--decision-log", str(log)]
        server = start_server(argv, port, server_core)
        try:
            label = "" if log is None else ", decision log on"
            for name, payloads, clients, per in (
                    (f"single{label}", singles, args.clients, 1),
                    (f"batch of {BATCH}{label}", batches, args.batch_clients, BATCH)):
                result = load(port, payloads, clients, warmup=args.warmup,
                              seconds=args.seconds, server=server.pid)
                rows.append((name, clients, result, per))
            if log is None:
                remote = remote_call(port)
        finally:
            stop_server(server)
    return {"rows": rows, "in_process": in_process(bundle, batch), "remote": remote,
            "cores": (server_core, client_core), "requests": len(asked)}


def report(measured: dict[str, Any], args: argparse.Namespace, load_before: float) -> list[str]:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        parser = "httptools"
    except ImportError:
        parser = "h11"
    server_core, client_core = measured["cores"]
    inside = measured["in_process"]
    lines = [
        "# Decision server benchmark", "",
        f"- machine: {platform.machine()} ({platform.platform()}), {os.cpu_count()} CPUs; "
        f"server pinned to core {server_core}, load generator to core {client_core}",
        f"- Python {platform.python_version()}, Uvicorn with {loop} and {parser}, "
        "no access log, no watcher",
        f"- load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at "
        "the end (other work on this shared machine shows here)",
        f"- requests: `policies/requests/infra.jsonl` ({measured['requests']} requests) "
        f"against `policies/infra.policy`; closed loop, {args.seconds:g} s per row after "
        f"{args.warmup:g} s of warm-up; every answer checked to be 200",
        f"- run: `.venv/bin/python benchmarks/bench_server.py --write` on "
        f"{datetime.now(UTC).date()}", "",
        "| what | connections | requests/s | decisions/s | decisions per server CPU second "
        "| p50 | p99 |",
        "|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, clients, result, per in measured["rows"]:
        lines.append(f"| HTTP, {name} | {clients} | {result['rps']:,.0f} | "
                     f"{result['rps'] * per:,.0f} | {result['cpu_rps'] * per:,.0f} | "
                     f"{result['p50']:.2f} ms | {result['p99']:.2f} ms |")
    for name, seconds in (
            ("in process, `Bundle.decide` (CPU time)", inside["decide"]),
            ("in process, the server's work for one request without HTTP: parse, decide, "
             "count, encode (CPU time)", inside["service"]),
            (f"in process, the same per decision in a batch of {BATCH} (CPU time)",
             inside["service_batch"]),
            ("`RemoteDecider` call from one Python thread (httpx) to the server (wall time)",
             measured["remote"])):
        lines.append(f"| {name} | — | — | — | {1 / seconds:,.0f} | {seconds * 1e6:.2f} µs "
                     "| — |")
    lines += ["", "Goals, on one server core: at least 5,000 single decisions/s and at least "
              "200,000 decisions/s in batches of 100 (decision log off). Judged on both the "
              "wall clock and the server's CPU time (what a core of its own would give).", ""]
    for what, row, per, goal in (("single", measured["rows"][1], 1, SINGLE_GOAL),
                                 ("batch", measured["rows"][2], BATCH, BATCH_GOAL)):
        wall, cpu = row[2]["rps"] * per, row[2]["cpu_rps"] * per
        verdict = "met" if min(wall, cpu) >= goal else (
            "met per CPU second, **not met** on the wall clock" if cpu >= goal
            else "**not met**")
        lines.append(f"- {what}: {wall:,.0f} decisions/s by the wall clock, {cpu:,.0f} per "
                     f"server CPU second: {verdict}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds per row")
    parser.add_argument("--clients", type=int, default=16,
                        help="connections for single decisions")
    parser.add_argument("--batch-clients", type=int, default=4, help="connections for batches")
    parser.add_argument("--write", action="store_true", help=f"write {RELATIVE}")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as directory:
        measured = measure(args, Path(directory))
    lines = report(measured, args, load_before)
    print("\n".join(lines))
    if args.write:
        RESULTS.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
