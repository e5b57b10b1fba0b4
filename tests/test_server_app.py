"""The decision server's endpoints through Starlette's TestClient: answers equal the
runtime's verdicts, telemetry carries the request's gate, and bad input of every kind is
a 4xx JSON error, never a 500 or a traceback."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx serves
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from dualgate.runtime import load_bundle
from dualgate.runtime.gates import BundleHolder, reload_metrics
from dualgate.runtime.telemetry import CallableSink, DecisionLog, GateMetrics, parse_entry
from dualgate.server import DecisionService, create_app
from tests.gates_support import POLICY_REWORDED, Clock, bundle_bytes
from tests.profiles import examples

REQUESTS = [
    {"topic": "payments.refund", "env": "staging"},
    {"topic": "payments.refund", "env": "production", "cidr": "10.1.2.3"},
    {"topic": "infra.vm.scale", "env": "production"},
    {"topic": "infra.vm.delete", "env": "staging", "cidr": None},
    {"topic": "repo.file.read", "env": "production"},
    {"topic": "other.thing", "env": "production"},
    {"topic": "infra.vm.read", "env": "prod"},
    {"topic": "bad..topic", "env": "production"},
    {"topic": "infra.vm.read", "env": "staging", "cidr": "10.0.0.1/8"},
]


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return path


class Served:
    """A service over ``path`` with metrics and a decision log collected in ``lines``."""

    def __init__(self, path: Path, *, token: str | None = None, max_batch: int = 1000,
                 max_body_bytes: int = 1 << 20, **holder_options: Any) -> None:
        self.metrics = GateMetrics(use_prometheus=True)
        self.lines: list[str] = []
        self.log = DecisionLog(CallableSink(self.lines.append), metrics=self.metrics)
        self.holder = BundleHolder(path, on_reload=reload_metrics(self.metrics),
                                   **holder_options)
        self.service = DecisionService(self.holder, metrics=self.metrics,
                                       decision_log=self.log)
        self.app = create_app(self.service, token=token, max_batch=max_batch,
                              max_body_bytes=max_body_bytes)

    def entries(self) -> list[dict[str, Any]]:
        """The decision-log entries so far (a malformed batch item's has no topic)."""
        assert self.log.flush(5)
        return [json.loads(line) for line in self.lines]


@pytest.fixture(scope="module")
def shared_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shared") / "shop.bundle.json"
    path.write_bytes(bundle_bytes())
    return path


@pytest.fixture(scope="module")
def shared_client(shared_bundle: Path) -> Any:
    """One client for the property runs (their examples share it: they only read)."""
    with TestClient(Served(shared_bundle).app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def served(bundle_path: Path) -> Served:
    return Served(bundle_path)


@pytest.fixture
def client(served: Served) -> Any:
    with TestClient(served.app, raise_server_exceptions=False) as test_client:
        yield test_client


def _expected(bundle_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    bundle = load_bundle(bundle_path)
    verdict = bundle.decide(request["topic"], request["env"], request.get("cidr"))
    return verdict.to_json()


def _assert_error(response: Any, status: int) -> str:
    """The response is ``status`` with a one-line ``{"error": ...}`` and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"error"}
    message: str = document["error"]
    assert message and "\n" not in message and "Traceback" not in response.text
    assert message[0] == message[0].lower()
    return message


def test_decide_answers_the_runtime_verdict_with_a_decision_id(
        client: Any, served: Served, bundle_path: Path) -> None:
    ids = []
    for request in REQUESTS:
        response = client.post("/v1/decide", json={**request, "gate": "submit",
                                                   "job_id": "job-1"})
        assert response.status_code == 200
        answer = response.json()
        ids.append(answer.pop("decision_id"))
        assert answer == _expected(bundle_path, request)
    assert len(set(ids)) == len(ids)
    entries = served.entries()
    assert [e["decision_id"] for e in entries] == ids
    # What `review --replay` and `test add --from-log` read.
    assert [parse_entry(line)["topic"] for line in served.lines] == \
        [r["topic"] for r in REQUESTS]
    for entry, request in zip(entries, REQUESTS, strict=True):
        assert (entry["gate"], entry["job_id"], entry["topic"], entry["env"],
                entry["cidr"]) == ("submit", "job-1", request["topic"], request["env"],
                                   request.get("cidr"))
        assert entry["decision"] == _expected(bundle_path, request)["decision"]
        assert entry["bypass"] is False and entry["policy"] == "shop"


def test_metrics_count_under_the_gate_the_request_names(client: Any, served: Served) -> None:
    client.post("/v1/decide", json={"topic": "payments.refund", "env": "staging",
                                    "gate": "dispatch"})
    client.post("/v1/decide", json={"topic": "repo.file.read", "env": "staging"})
    snapshot = served.metrics.snapshot()
    assert snapshot["dualgate_jobs_received_total"] == {("dispatch",): 1.0, ("server",): 1.0}
    assert snapshot["dualgate_decisions_total"] == {
        ("dispatch", "deny", "high", "rule"): 1.0, ("server", "allow", "low", "rule"): 1.0}
    exposition = client.get("/metrics")
    assert exposition.status_code == 200
    assert 'dualgate_decisions_total{decision="deny",gate="dispatch",reason="rule",' \
           'tier="high"} 1.0' in exposition.text
    assert 'dualgate_bundle_reloads_total{result="activated"} 1.0' in exposition.text


def test_a_killed_topic_is_denied_and_counted_as_a_kill_switch(
        client: Any, served: Served) -> None:
    served.holder.kill("payments.**", "INC-7")
    batch = {"requests": [{"topic": "payments.refund", "env": "production", "gate": "submit"},
                          {"topic": "repo.file.read", "env": "staging", "gate": "submit"},
                          {"topic": "payments.charge", "env": "staging", "gate": "submit"}]}
    answers = client.post("/v1/decide/batch", json=batch).json()["results"]
    assert [(a["decision"], a["reason"]) for a in answers] == [
        ("deny", "kill-switch"), ("allow", "rule"), ("deny", "kill-switch")]
    snapshot = served.metrics.snapshot()
    assert snapshot["dualgate_kill_switch_total"] == {(): 2.0}
    assert snapshot["dualgate_jobs_received_total"] == {("submit",): 3.0}
    assert snapshot["dualgate_decisions_total"] == {
        ("submit", "deny", "high", "kill-switch"): 2.0, ("submit", "allow", "low", "rule"): 1.0}


def test_batch_answers_in_order_and_denies_malformed_items(
        client: Any, served: Served, bundle_path: Path) -> None:
    items: list[Any] = [*REQUESTS, 7, {"topic": "a.b", "env": "production", "colour": 1},
                        {"topic": 5, "env": "production"}, {"env": "staging"},
                        {"topic": "a", "env": "staging", "gate": "Not A Word"}]
    response = client.post("/v1/decide/batch", json={"requests": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(items)
    content_hash = load_bundle(bundle_path).content_hash
    ids = [result.pop("decision_id") for result in results]
    batch_id = ids[0].removesuffix(".0")
    assert ids == [f"{batch_id}.{index}" for index in range(len(items))]
    assert [entry["decision_id"] for entry in served.entries()] == ids
    for item, result in zip(items, results, strict=True):
        if item in REQUESTS:
            assert result == _expected(bundle_path, item)
        elif type(item) is dict and "error" not in result:
            # Objects of the known keys go to the runtime, which names the fault.
            assert result["decision"] == "deny"
            assert result["reason"] == "invalid-topic"
        else:
            error = result.pop("error")
            assert result == {"decision": "deny", "rule": None, "reason": "malformed-request",
                              "tier": None, "fail_mode": None, "bundle": content_hash}
            assert error and "\n" not in error
    assert len(served.entries()) == len(items)
    assert client.post("/v1/decide/batch", json={"requests": []}).json() == {"results": []}


def test_a_batch_is_bounded(bundle_path: Path) -> None:
    served = Served(bundle_path, max_batch=3)
    with TestClient(served.app) as client:
        request = {"topic": "repo.file.read", "env": "staging"}
        assert client.post("/v1/decide/batch", json={"requests": [request] * 3}).status_code \
            == 200
        message = _assert_error(
            client.post("/v1/decide/batch", json={"requests": [request] * 4}), 413)
        assert message == "a batch holds at most 3 requests, this one 4"


def test_bodies_over_the_limit_are_refused_unread(bundle_path: Path) -> None:
    served = Served(bundle_path, max_body_bytes=100)
    with TestClient(served.app) as client:
        small = {"topic": "repo.file.read", "env": "staging"}
        assert client.post("/v1/decide", json=small).status_code == 200
        huge = json.dumps({"topic": "a" * 200, "env": "staging"}).encode()
        assert "limit is 100" in _assert_error(client.post("/v1/decide", content=huge), 413)

        def chunked() -> Any:  # no Content-Length: the limit holds while reading
            for _ in range(50):
                yield b" " * 10
        assert "over the limit" in _assert_error(
            client.post("/v1/decide/batch", content=chunked()), 413)
        assert "not a number" in _assert_error(
            client.post("/v1/decide", content=b"{}", headers={"content-length": "x"}), 400)


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the body is empty; send a JSON object"),
    (b"garbage", "the body is not JSON: expecting value at line 1 column 1"),
    (b"\xff\xfe{", "the body is not UTF-8 text (byte 1)"),
    (b"[1, 2]", "the body is an array, not an object of `topic`, `env`, `cidr`, `gate` and "
                "`job_id`"),
    (b'{"topic": "a.b"}', "`env` is missing"),
    (b'{"topic": 5, "env": "x"}', "`topic` must be a string, not a number"),
    (b'{"topic": "a", "env": ["x"]}', "`env` must be a string, not an array"),
    (b'{"topic": "a", "env": "x", "cidr": 10}', "`cidr` must be a string or null, not a number"),
    (b'{"topic": "a", "env": "x", "evn": "y"}', "unknown key `evn` (the keys are `topic`, "
                                                "`env`, `cidr`, `gate` and `job_id`)"),
    (b'{"topic": "a", "env": "x", "gate": "GATE"}', "`gate` must be a short lowercase word "
     "such as `submit` (letters, digits and `-`, at most 32), not `GATE`"),
    (b'{"topic": "a", "env": "x", "job_id": 3}', "`job_id` must be a string of at most 256 "
                                                 "characters or null, not a number"),
    (b"[" * 100_000, "the body is not JSON this server reads: nested too deeply"),
])
def test_a_malformed_decide_body_is_a_400_naming_the_fault(
        client: Any, body: bytes, message: str) -> None:
    assert _assert_error(client.post("/v1/decide", content=body), 400) == message


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", 'the body is an array, not an object `{"requests": [...]}`'),
    (b"{}", "`requests` is missing"),
    (b'{"requests": {}}', "`requests` is an object, not an array"),
    (b'{"requests": [], "gate": "x"}', "unknown key `gate` (a batch has only `requests`)"),
])
def test_a_malformed_batch_envelope_is_a_400(client: Any, body: bytes, message: str) -> None:
    assert _assert_error(client.post("/v1/decide/batch", content=body), 400) == message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["topic", "env", "cidr", "gate", "job_id", "x"]) | st.text(max_size=4),
        inner, max_size=5),
    max_leaves=12)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(st.binary(max_size=64), _JSON.map(lambda v: json.dumps(v).encode())))
def test_no_body_causes_a_server_error(shared_client: Any, body: bytes) -> None:
    for path in ("/v1/decide", "/v1/decide/batch"):
        response = shared_client.post(path, content=body)
        assert response.status_code in (200, 400), response.text
        document = response.json()
        if response.status_code == 400:
            _assert_error(response, 400)
        elif path == "/v1/decide":
            assert document["decision"] in ("allow", "deny", "throttle", "require_human")
        else:
            assert len(document["results"]) == len(json.loads(body)["requests"])


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.text(max_size=12), env=st.text(max_size=10),
       cidr=st.none() | st.text(max_size=12))
def test_any_string_request_is_decided_as_the_runtime_decides(
        shared_client: Any, shared_bundle: Path, topic: str, env: str,
        cidr: str | None) -> None:
    request = {"topic": topic, "env": env, "cidr": cidr}
    answer = shared_client.post("/v1/decide", json=request).json()
    answer.pop("decision_id")
    assert answer == _expected(shared_bundle, request)


def test_unknown_paths_and_methods_are_json_errors(client: Any) -> None:
    assert _assert_error(client.get("/v1/nothing"), 404) == "no endpoint at `/v1/nothing`"
    assert _assert_error(client.get("/v1/decide"), 405) == \
        "`GET` is not allowed on `/v1/decide` (allowed: POST)"
    assert client.get("/v1/decide").headers["allow"] == "POST"


def test_an_internal_fault_is_a_json_500_without_traceback(
        client: Any, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: Any) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(served.service, "decide", broken)
    response = client.post("/v1/decide", json={"topic": "a", "env": "staging"})
    message = _assert_error(response, 500)
    assert "a bug" not in response.text and "RuntimeError" not in response.text
    assert message == "internal error in the decision server; it is logged on the server"


def test_the_bearer_token_guards_the_v1_endpoints(bundle_path: Path) -> None:
    served = Served(bundle_path, token="s3cret-token")
    request = {"topic": "repo.file.read", "env": "staging"}
    with TestClient(served.app) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                        {"Authorization": "Bearer s3cret-token2"}):
            for method, path in (("POST", "/v1/decide"), ("POST", "/v1/decide/batch"),
                                 ("GET", "/v1/bundle"), ("GET", "/v1/status")):
                response = client.request(method, path, json=request, headers=headers)
                assert _assert_error(response, 401).startswith("missing or wrong bearer token")
                assert response.headers["www-authenticate"] == 'Bearer realm="dualgate"'
        good = {"Authorization": "Bearer s3cret-token"}
        assert client.post("/v1/decide", json=request, headers=good).status_code == 200
        assert client.get("/v1/status", headers=good).status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 200
    assert served.entries()[0]["topic"] == "repo.file.read"
    assert len(served.entries()) == 1  # refused requests decide nothing


def test_the_bundle_endpoint_serves_the_active_bundle_by_etag(
        client: Any, served: Served, bundle_path: Path) -> None:
    response = client.get("/v1/bundle")
    assert response.status_code == 200
    served_bundle = load_bundle(response.content)
    assert served_bundle.content_hash == load_bundle(bundle_path).content_hash
    etag = response.headers["etag"]
    assert etag == f'"{served_bundle.content_hash}"'
    assert client.get("/v1/bundle", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/v1/bundle", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    bundle_path.write_bytes(bundle_bytes(POLICY_REWORDED))
    assert served.holder.reload().result == "activated"
    changed = client.get("/v1/bundle", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    answer = client.post("/v1/decide", json={"topic": "a.read", "env": "staging"}).json()
    assert answer["bundle"] == load_bundle(changed.content).content_hash


def test_health_and_status_report_the_holder(bundle_path: Path) -> None:
    clock = Clock()
    served = Served(bundle_path, max_age=60, clock=clock)
    with TestClient(served.app) as client:
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["stale"] is False
        clock.now += 61
        stale = client.get("/health")
        assert stale.status_code == 200  # the last good bundle still serves
        assert stale.json()["status"] == "stale" and stale.json()["stale"] is True
        status = client.get("/v1/status").json()
        assert status["active"]["policy"] == "shop" and status["stale"] is True
        assert status["decision_log"]["dropped"]["queue-full"] == 0


def test_without_a_bundle_the_server_is_unavailable_not_wrong(tmp_path: Path) -> None:
    served = Served(tmp_path / "missing.bundle.json")
    with TestClient(served.app) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        for path, body in (("/v1/decide", {"topic": "a", "env": "b", "gate": "submit"}),
                           ("/v1/decide/batch", {"requests": [{"topic": "a", "env": "b"}]})):
            response = client.post(path, json=body)
            assert response.status_code == 503
            assert response.json()["cause"] == "no-bundle"
            assert response.headers["retry-after"] == "5"
        assert client.get("/v1/bundle").status_code == 503
    snapshot = served.metrics.snapshot()
    assert snapshot["dualgate_policy_unavailable_total"] == {
        ("submit", "no-bundle"): 1.0, ("server", "no-bundle"): 1.0}
    assert served.entries() == []


def test_shutdown_flushes_the_decision_log(bundle_path: Path) -> None:
    served = Served(bundle_path)
    with TestClient(served.app) as client:
        for _ in range(50):
            client.post("/v1/decide/batch", json={"requests": REQUESTS})
    # The lifespan closed the log: everything answered is written, nothing later is.
    assert len(served.lines) == 50 * len(REQUESTS)
    assert served.log.stats()["queued"] == 0


def _record_line(entry: dict[str, Any]) -> str:
    """The line ``DecisionLog.record`` writes for ``entry`` (the server's way before it
    logged through ``record_decision``)."""
    lines: list[str] = []
    log = DecisionLog(CallableSink(lines.append))
    log.record(entry)
    log.close()
    return lines[0]


def _without_timestamp(line: str) -> str:
    stamp, rest = line.split(",", 1)
    assert re.fullmatch(r'\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"', stamp)
    return rest


def test_logged_lines_are_those_record_wrote_with_the_answered_ids(
        bundle_path: Path) -> None:
    """Each line is, but for its timestamp, the line ``record`` wrote for the entry the
    server built as a dict (``action`` and ``cause`` null, as for every gate's entry
    ``record_decision`` writes), with the decision id the client got: for requests of
    several gates and job ids, runtime-denied and malformed items, with and without a
    kill switch (the holder's path)."""
    served = Served(bundle_path)
    content_hash = load_bundle(bundle_path).content_hash
    items: list[Any] = [
        *REQUESTS, {"topic": "payments.refund", "env": "staging", "gate": "submit",
                    "job_id": "job-\u00e9\"7"},
        {"topic": "repo.file.read", "env": "production", "cidr": None, "job_id": "j"},
        {"topic": 5, "env": "production"}, {"env": ["x"]}, 7,
        {"topic": "a.b", "env": "staging", "colour": 1}]
    with TestClient(served.app) as client:
        answers = client.post("/v1/decide/batch", json={"requests": items}).json()["results"]
        single = client.post("/v1/decide", json={**REQUESTS[1], "gate": "dispatch"}).json()
        served.holder.kill("payments.**", "INC-7")
        killed = client.post("/v1/decide/batch", json={"requests": REQUESTS[:2]}).json()
    asked: list[tuple[Any, dict[str, Any]]] = [
        *zip(items, answers, strict=True), ({**REQUESTS[1], "gate": "dispatch"}, single),
        *zip(REQUESTS[:2], killed["results"], strict=True)]
    lines = served.lines
    assert len(lines) == len(asked)
    for line, (item, answer) in zip(lines, asked, strict=True):
        request = item if "error" not in answer else {}
        expected = {
            "timestamp": 0.0, "decision_id": answer["decision_id"],
            "gate": request.get("gate") or "server", "job_id": request.get("job_id"),
            "topic": request.get("topic"), "env": request.get("env"),
            "cidr": request.get("cidr"), "decision": answer["decision"],
            "rule": answer["rule"], "reason": answer["reason"], "tier": answer["tier"],
            "fail_mode": answer["fail_mode"], "bypass": False, "bundle": content_hash,
            "policy": "shop", "approval": None, "action": None, "cause": None}
        assert _without_timestamp(line) == _without_timestamp(_record_line(expected))
    assert [json.loads(line)["reason"] for line in lines[-2:]] == ["kill-switch"] * 2
