"""The holder's sources and watcher: a file polled by its hash, a real local HTTP server
with ETag / If-None-Match and 304, a failing server and backoff, a prompt stop."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dualgate.runtime.gates import BundleHolder, ReloadOutcome, ReloadResult
from dualgate.runtime.gates.holder import watch_delay
from dualgate.runtime.gates.sources import HttpSource, SourceError
from tests.gates_support import eventually
from tests.test_holder import hash_of, infra_bytes


class BundleServer:
    """A local HTTP server serving ``body`` with a strong ETag (its hash), answering 304
    to a matching If-None-Match, or ``status`` when it is set to an error."""

    def __init__(self) -> None:
        self.body = infra_bytes()
        self.status = 200
        self.etags = True
        self.requests: list[str | None] = []  # the If-None-Match of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.headers.get("If-None-Match"))
                if server.status != 200:
                    self.send_error(server.status)
                    return
                etag = f'"{hashlib.sha256(server.body).hexdigest()[:16]}"'
                if server.etags and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                if server.etags:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/infra.bundle.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[BundleServer]:
    running = BundleServer()
    yield running
    running.close()



def test_a_url_is_fetched_with_if_none_match_and_304_is_unchanged(
        server: BundleServer) -> None:
    holder = BundleHolder(server.url)
    active = holder.active
    assert active is not None and active.source == server.url
    etag = holder.status()["etag"]
    assert etag is not None and etag.startswith('"')
    result = holder.reload()
    assert (result.result, result.reason) == (ReloadOutcome.UNCHANGED,
                                              "the source answered not modified")
    assert server.requests == [None, etag]
    server.body = infra_bytes(1)
    result = holder.reload()
    assert result.result is ReloadOutcome.ACTIVATED
    assert holder.active is not None
    assert holder.active.content_hash == hash_of(infra_bytes(1))
    assert holder.status()["etag"] != etag


def test_a_url_without_etags_is_compared_by_its_hash(server: BundleServer) -> None:
    server.etags = False
    holder = BundleHolder(server.url)
    assert holder.reload().reason == "the source has not changed"
    assert server.requests == [None, None]


def test_an_error_answer_is_refused_and_the_active_bundle_serves(server: BundleServer) -> None:
    holder = BundleHolder(server.url)
    active = holder.active
    server.status = 503
    result = holder.reload()
    assert result.result is ReloadOutcome.REFUSED
    assert result.reason == f"`{server.url}` answered 503 service unavailable"
    assert holder.active is active
    server.status = 200
    server.body = b'{"broken'
    assert "not JSON" in holder.reload().reason
    assert holder.active is active


def test_an_unreachable_url_says_so(server: BundleServer) -> None:
    url = server.url
    server.close()
    with pytest.raises(SourceError, match="cannot reach"):
        HttpSource(url, timeout=2).fetch(None)


def test_a_restart_during_a_server_outage_serves_the_persisted_bundle(
        tmp_path: Path) -> None:
    server = BundleServer()
    BundleHolder(server.url, persist_dir=tmp_path)
    server.close()
    results: list[ReloadResult] = []
    holder = BundleHolder(server.url, persist_dir=tmp_path, on_reload=results.append)
    assert [r.result for r in results] == [ReloadOutcome.REFUSED, ReloadOutcome.ACTIVATED]
    assert "cannot reach" in results[0].reason
    assert holder.decide("infra.vm.read", "dev")[0].decision == "allow"


def test_the_delay_doubles_per_failure_up_to_the_cap_with_bounded_jitter() -> None:
    assert [watch_delay(10, 0, n, 100, 0.5) for n in range(6)] == [10, 20, 40, 80, 100, 100]
    assert watch_delay(10, 0.2, 0, 100, 0.0) == pytest.approx(8.0)
    assert watch_delay(10, 0.2, 0, 100, 0.999999) == pytest.approx(12.0, rel=1e-5)
    assert watch_delay(10, 0.2, 10_000, 100, 0.5) == 100
    assert watch_delay(10, 0, 3, 5, 0.5) == 10  # a cap below the interval: the interval


def test_the_watcher_picks_up_a_changed_file(tmp_path: Path) -> None:
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    kills = tmp_path / "kills.json"
    results: list[ReloadResult] = []
    holder = BundleHolder(source, kill_switch_file=kills, on_reload=results.append)
    holder.start(interval=0.02, jitter=0.5)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            holder.start()
        assert holder.status()["watching"] is True
        source.write_bytes(infra_bytes(1))
        assert eventually(lambda: holder.active is not None and
                           holder.active.content_hash == hash_of(infra_bytes(1)))
        kills.write_text(json.dumps({"kills": [{"topic": "infra.**", "reason": "INC"}]}))
        assert eventually(lambda: holder.decide("infra.vm.read", "dev")[0].reason
                           == "kill-switch")
        assert eventually(lambda: results[-1].result is ReloadOutcome.UNCHANGED)
    finally:
        holder.stop(timeout=5)
    assert holder.watching is False


def test_the_watcher_backs_off_while_the_server_fails(server: BundleServer) -> None:
    holder = BundleHolder(server.url)
    server.status = 500
    server.requests.clear()
    holder.start(interval=0.05, jitter=0, max_backoff=60)
    time.sleep(1.2)
    holder.stop(timeout=5)
    # Without backoff, ~24 requests; with it, waits of 0.05, 0.1, 0.2, 0.4, 0.8 s.
    assert 2 <= len(server.requests) <= 6
    status = holder.status()
    assert status["consecutive_failures"] == len(server.requests)
    assert "answered 500" in status["last_failed_load"]["reason"]
    # Once the server answers again, the count resets.
    server.status = 200
    assert holder.reload().result is ReloadOutcome.UNCHANGED
    assert holder.status()["consecutive_failures"] == 0


def test_kill_switches_do_not_wait_for_the_bundle_backoff(
        server: BundleServer, tmp_path: Path) -> None:
    kills = tmp_path / "kills.json"
    holder = BundleHolder(server.url, kill_switch_file=kills)
    server.status = 500
    holder.start(interval=0.05, jitter=0, max_backoff=60)
    try:
        assert eventually(lambda: holder.status()["consecutive_failures"] >= 4)
        # The bundle now waits 0.8 s and more between attempts; the file, 0.05 s.
        kills.write_text(json.dumps({"kills": [{"topic": "infra.**", "reason": "INC"}]}))
        written = time.monotonic()
        assert eventually(lambda: holder.decide("infra.vm.read", "dev")[0].reason
                           == "kill-switch", timeout=5)
        assert time.monotonic() - written < 0.6
    finally:
        holder.stop(timeout=5)


def test_a_source_object_carries_headers(server: BundleServer) -> None:
    seen: list[str | None] = []
    original = server.httpd.RequestHandlerClass.do_GET  # type: ignore[attr-defined]

    def do_get(handler: BaseHTTPRequestHandler) -> None:
        seen.append(handler.headers.get("Authorization"))
        original(handler)

    server.httpd.RequestHandlerClass.do_GET = do_get  # type: ignore[attr-defined]
    holder = BundleHolder(HttpSource(server.url, headers={"Authorization": "Bearer t"}))
    assert holder.active is not None and holder.source == server.url
    assert seen == ["Bearer t"]
    with pytest.raises(ValueError, match="no http"):
        HttpSource("ftp://example.org/b.json")


def test_stop_ends_a_waiting_watcher_at_once(tmp_path: Path) -> None:
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    holder = BundleHolder(source)
    holder.start(interval=3600)
    started = time.monotonic()
    holder.stop(timeout=5)
    assert holder.watching is False
    assert time.monotonic() - started < 2
    holder.start(interval=3600)  # it can be started again
    holder.stop(timeout=5)
    assert holder.watching is False


def test_a_holder_dropped_without_stop_ends_its_watcher(tmp_path: Path) -> None:
    source = tmp_path / "infra.bundle.json"
    source.write_bytes(infra_bytes())
    reloads: list[ReloadResult] = []
    holder = BundleHolder(source, on_reload=reloads.append)
    holder.start(interval=0.02, jitter=0)
    assert eventually(lambda: len(reloads) >= 2)  # the watcher reloaded
    thread = holder._thread
    assert thread is not None and thread.is_alive()
    gone = weakref.ref(holder)
    del holder
    gc.collect()
    assert gone() is None  # the watcher does not keep it alive
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_the_watcher_rejects_a_bad_schedule(tmp_path: Path) -> None:
    holder = BundleHolder(tmp_path / "missing")
    for options in ({"interval": 0}, {"jitter": 1.0}, {"jitter": -0.1}):
        with pytest.raises(ValueError, match="`interval` > 0"):
            holder.start(**options)  # type: ignore[arg-type]


def redirected(url: str, to: str, headers: dict[str, str]) -> Any:
    from dualgate.runtime.gates.sources import SafeRedirects

    request = urllib.request.Request(url, headers=headers)
    return SafeRedirects(tuple(headers)).redirect_request(request, None, 302, "Found", {}, to)


def test_a_redirect_from_https_to_http_is_refused() -> None:
    with pytest.raises(urllib.error.URLError, match="refused a redirect from https to `http`"):
        redirected("https://bundles.example/a.json", "http://bundles.example/a.json", {})
    kept = redirected("https://bundles.example/a.json", "https://mirror.example/a.json", {})
    assert kept.full_url == "https://mirror.example/a.json"
    upgraded = redirected("http://bundles.example/a.json", "https://bundles.example/a.json",
                          {})
    assert upgraded.full_url == "https://bundles.example/a.json"


def test_the_source_headers_do_not_follow_a_redirect_to_another_origin() -> None:
    token = {"Authorization": "Bearer secret", "X-Team": "gates"}
    same = redirected("https://bundles.example/a", "https://bundles.example:443/b", token)
    assert same.get_header("Authorization") == "Bearer secret"
    assert same.get_header("X-team") == "gates"
    other = redirected("https://bundles.example/a", "https://elsewhere.example/b", token)
    assert other.get_header("Authorization") is None and other.get_header("X-team") is None
    port = redirected("https://bundles.example/a", "https://bundles.example:8443/b", token)
    assert port.get_header("Authorization") is None


def test_a_redirect_is_followed_end_to_end(server: BundleServer) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", server.url)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    front = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{front.server_address[1]}/bundle"
        fetched = HttpSource(url, headers={"Authorization": "Bearer x"}).fetch(None)
        assert fetched.data == server.body
    finally:
        front.shutdown()
        front.server_close()
