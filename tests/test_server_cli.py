"""``dualgate serve``: its refusals (one line, the documented exit codes), the server
stack imported only when it runs, and a real process served, reloaded and stopped by
SIGTERM with its decision log flushed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dualgate.runtime import load_bundle
from tests.gates_support import POLICY_REWORDED, bundle_bytes
from tests.imports import imported_after

ROOT = Path(__file__).resolve().parent.parent
MAIN = "from dualgate.compiler.cli.main import main; main()"


def dualgate(*argv: str, env: dict[str, str] | None = None,
             prelude: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", prelude + MAIN, *argv], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_command_module_imports_no_server_stack() -> None:
    modules = imported_after("import dualgate.compiler.cli.serve")
    assert not [m for m in modules
                if m.split(".")[0] in ("starlette", "uvicorn", "httpx", "prometheus_client")
                or m.startswith("dualgate.server")]


def test_a_missing_extra_is_one_line_with_the_pip_command(bundle_path: Path) -> None:
    done = dualgate("serve", str(bundle_path),
                    prelude="import sys; sys.modules['uvicorn'] = None; ")
    assert done.returncode == 2
    assert done.stderr == ("`dualgate serve` needs the server extra (`uvicorn` is not "
                           "installed): pip install 'dualgate[server]'\n")


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--require-signature"], 2, "--require-signature needs --public-key"),
    (["--public-key", "missing.pub"], 2,
     "cannot serve: cannot read public key `missing.pub`: No such file or directory"),
])
def test_refusals_before_serving(bundle_path: Path, argv: list[str], code: int,
                                 message: str) -> None:
    done = dualgate("serve", str(bundle_path), *argv)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr


def test_no_bundle_at_start_is_a_failed_start(tmp_path: Path) -> None:
    done = dualgate("serve", str(tmp_path / "missing.bundle.json"))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"cannot serve `{tmp_path / 'missing.bundle.json'}`: no bundle could be activated: "
        f"cannot read `{tmp_path / 'missing.bundle.json'}`: no such file or directory")


@pytest.mark.parametrize("token", ["", "  \n", "two words"])
def test_an_unusable_token_is_refused(bundle_path: Path, tmp_path: Path, token: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token)
    done = dualgate("serve", str(bundle_path), "--token-file", str(token_file))
    assert done.returncode == 2
    assert done.stderr == (f"the bearer token in `{token_file}` is empty or holds spaces "
                           "or control characters\n")
    from_env = dualgate("serve", str(bundle_path), env={"DUALGATE_SERVER_TOKEN": token})
    assert from_env.returncode == 2
    assert "the bearer token in the DUALGATE_SERVER_TOKEN variable" in from_env.stderr


def test_a_port_in_use_is_a_usage_error(bundle_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = dualgate("serve", str(bundle_path), "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"cannot serve on 127.0.0.1:{port} (see the message above)")


def test_serve_answers_reloads_and_stops_cleanly_on_sigterm(
        bundle_path: Path, tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text("t0ken\n")
    log_path = tmp_path / "decisions.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "serve", str(bundle_path), "--port", str(port),
         "--token-file", str(token_file), "--decision-log", str(log_path),
         "--poll-interval", "0.1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer t0ken"}
    try:
        _wait_until_healthy(url, process)
        request = {"topic": "payments.refund", "env": "staging", "gate": "submit",
                   "job_id": "job-7"}
        assert httpx.post(f"{url}/v1/decide", json=request).status_code == 401
        first = httpx.post(f"{url}/v1/decide", json=request, headers=auth).json()
        assert (first["decision"], first["rule"]) == ("deny", "deny-staging-refunds")
        bundle_path.write_bytes(bundle_bytes(POLICY_REWORDED))
        newer = load_bundle(bundle_path).content_hash
        deadline = time.monotonic() + 10
        while httpx.post(f"{url}/v1/decide", json=request,
                         headers=auth).json()["bundle"] != newer:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        metrics = httpx.get(f"{url}/metrics").text
        assert 'dualgate_jobs_received_total{gate="submit"}' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"serving policy `shop`, bundle `{first['bundle'][:12]}`, on {url}" in stderr
    assert f"reload: activated - activated `{newer[:12]}`" in stderr
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert entries and all(e["gate"] == "submit" and e["job_id"] == "job-7" for e in entries)
    assert entries[0]["decision_id"] == first["decision_id"]
    assert entries[-1]["bundle"] == newer
    assert stdout == ""


def test_serve_follows_a_bundle_url_by_etag(bundle_path: Path) -> None:
    """A replica serving from another server's ``/v1/bundle`` picks up its reloads."""
    from dualgate.runtime.gates import BundleHolder
    from dualgate.runtime.telemetry import GateMetrics
    from dualgate.server import DecisionService, ServerThread, create_app

    origin_holder = BundleHolder(bundle_path)
    origin = ServerThread(create_app(DecisionService(
        origin_holder, metrics=GateMetrics(use_prometheus=True)))).start()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "serve", f"{origin.url}/v1/bundle", "--port", str(port),
         "--poll-interval", "0.1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    request = {"topic": "repo.file.read", "env": "staging"}
    try:
        _wait_until_healthy(url, process)
        first = httpx.post(f"{url}/v1/decide", json=request).json()["bundle"]
        assert first == load_bundle(bundle_path).content_hash
        bundle_path.write_bytes(bundle_bytes(POLICY_REWORDED))
        assert origin_holder.reload().result == "activated"
        newer = load_bundle(bundle_path).content_hash
        deadline = time.monotonic() + 10
        while httpx.post(f"{url}/v1/decide", json=request).json()["bundle"] != newer:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = httpx.get(f"{url}/v1/status").json()
        assert status["etag"] == f'"{newer}"' and status["source"] == f"{origin.url}/v1/bundle"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        origin.stop()
    assert process.returncode == 0, stderr


def _wait_until_healthy(url: str, process: subprocess.Popen[str]) -> None:
    """Poll ``/health`` until the served bundle is active (at most 30 s, while it runs)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
