"""A decider that asks a decision server (``dualgate serve``) over HTTP, behind a
circuit breaker, so that the gates can run where the policy is served remotely.

    remote = RemoteDecider("http://dualgate:8181", token=token, gate="submit")
    gate = SubmitGate(remote.holder, decider=remote)

``RemoteDecider`` has the signature of ``BundleHolder.decide``. Guarantees:

- every answer is the server's verdict (``POST /v1/decide``), with the bundle the client
  last fetched from ``GET /v1/bundle`` (verified like any bundle: hash, and signature
  with ``public_key``); that bundle is fetched at start, refreshed by ETag every
  ``refresh_interval`` and as soon as a verdict names another bundle, and it is what the
  gates read the tiers and fail modes from when the server cannot answer;
- a call that fails raises ``PolicyUnavailable`` with a bounded cause word: ``timeout``
  (no answer within ``timeout`` seconds), ``unreachable`` (no connection),
  ``connection-error`` (the connection broke), ``server-error`` (5xx),
  ``unauthorized`` (401 or 403: the token), ``rejected`` (another 4xx),
  ``bad-response`` (no verdict in the answer), ``no-bundle`` (the server has none, or
  the client could fetch none), ``circuit-open`` (not sent: see below). The gates then
  apply the tier's fail mode, and count and log every bypass;
- the circuit breaker (pybreaker) opens after ``fail_max`` consecutive failures; while
  open, calls fail at once with ``circuit-open`` without touching the network; after
  ``reset_timeout`` seconds it lets probes through (half-open): at most
  ``half_open_probes`` at a time (pybreaker itself admits any number: a semaphore here
  bounds them), and it closes after that many consecutive successes (pybreaker's
  ``success_threshold``, since pybreaker 1.4); a failed probe opens it again;
- a request the server cannot be sent (a topic or env that is not a string, a cidr that
  is neither a string nor None) is malformed whatever the rules: the last fetched bundle
  denies it with its reason, as the server would; with no bundle, ``no-bundle``.

Safe to share between threads: calls run concurrently (the breaker's lock is never held
across a request), on one pooled ``httpx.Client``.

httpx and pybreaker are imported by this module only (``pip install
'dualgate[remote]'``): ``import dualgate.runtime.gates`` stays free of them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pybreaker

from dualgate.runtime.gates.holder import ActiveBundle, BundleHolder, PolicyUnavailable
from dualgate.runtime.gates.sources import HttpSource
from dualgate.runtime.verdict import Verdict
from dualgate.runtime.vocabulary import Decision, FailMode, TierName

DEFAULT_TIMEOUT = 2.0
DEFAULT_FAIL_MAX = 3
DEFAULT_RESET_TIMEOUT = 30.0
DEFAULT_HALF_OPEN_PROBES = 3
DEFAULT_REFRESH_INTERVAL = 30.0
#: The shortest wait between two refreshes a verdict's unknown bundle triggers.
_REFRESH_SPACING = 1.0

TIMEOUT = "timeout"
UNREACHABLE = "unreachable"
CONNECTION_ERROR = "connection-error"
SERVER_ERROR = "server-error"
UNAUTHORIZED = "unauthorized"
REJECTED = "rejected"
BAD_RESPONSE = "bad-response"
NO_BUNDLE = "no-bundle"
CIRCUIT_OPEN = "circuit-open"

#: Verdicts kept, so that equal answers are one shared object (as the runtime's are) and
#: the gates' per-verdict caches work; past this many the cache starts over.
_MAX_VERDICTS = 4096
_DECISIONS = {d.value: d for d in Decision}
_TIERS = {t.value: t for t in TierName}
_FAIL_MODES = {m.value: m for m in FailMode}


class _Failed(Exception):  # noqa: N818 (internal: a failed call, for the breaker to count)
    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


class RemoteDecider:
    """A decider backed by a decision server at ``url`` (see the module docstring).

    ``token`` is sent as ``Authorization: Bearer TOKEN``; ``gate`` is the gate name the
    server counts and logs the decisions under (its default when None).
    ``public_key``, ``require_signature`` and ``persist_dir`` configure the holder of the
    fetched bundle as for ``BundleHolder`` (with ``persist_dir`` the tiers survive a
    restart of the client while the server is down). ``holder`` replaces that holder
    with one of the caller's (bundles from an object store, say; the caller starts its
    watcher). ``refresh_interval`` (seconds, None for never) is how often the holder's
    source is checked for a new bundle. ``transport`` replaces httpx's (for tests).
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 fail_max: int = DEFAULT_FAIL_MAX, reset_timeout: float = DEFAULT_RESET_TIMEOUT,
                 half_open_probes: int = DEFAULT_HALF_OPEN_PROBES, token: str | None = None,
                 gate: str | None = None, public_key: Any = None,
                 require_signature: bool = False,
                 persist_dir: str | os.PathLike[str] | None = None,
                 holder: BundleHolder | None = None,
                 refresh_interval: float | None = DEFAULT_REFRESH_INTERVAL,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"`{url}` is no http:// or https:// URL")
        if not timeout > 0 or fail_max < 1 or not reset_timeout > 0 or half_open_probes < 1:
            raise ValueError("the remote decider needs `timeout` > 0, `fail_max` >= 1, "
                             "`reset_timeout` > 0 and `half_open_probes` >= 1")
        self.url = url.rstrip("/")
        self.gate = gate
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout),
                                    headers={"Content-Type": "application/json", **headers},
                                    transport=transport)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout,
            success_threshold=half_open_probes, throw_new_error_on_trip=False,
            name=f"dualgate-remote {self.url}")
        self._probes = threading.BoundedSemaphore(half_open_probes)
        #: Where the tiers come from: the server's active bundle, fetched and verified.
        self._own_holder = holder is None
        if holder is None:
            holder = BundleHolder(
                HttpSource(f"{self.url}/v1/bundle", timeout=timeout, headers=headers),
                public_key=public_key, require_signature=require_signature,
                persist_dir=persist_dir)
            if refresh_interval is not None:
                holder.start(refresh_interval)
        elif public_key is not None or require_signature or persist_dir is not None:
            raise ValueError("`public_key`, `require_signature` and `persist_dir` configure "
                             "the decider's own holder: set them on the `holder` given")
        self.holder = holder
        self._verdicts: dict[tuple[Any, ...], Verdict] = {}
        self._refreshing = threading.Lock()
        self._last_refresh = time.monotonic()
        self._stats_lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self._calls = 0

    # -- deciding ------------------------------------------------------------------

    def __call__(self, topic: object, env: object,
                 cidr: object = None) -> tuple[Verdict, ActiveBundle]:
        """The server's verdict on a request, and the bundle last fetched from it;
        ``PolicyUnavailable`` when there is none (see the module docstring)."""
        if type(topic) is not str or type(env) is not str or not (
                cidr is None or type(cidr) is str):
            return self._malformed(topic, env, cidr)
        body = {"topic": topic, "env": env, "cidr": cidr}
        if self.gate is not None:
            body["gate"] = self.gate
        try:
            verdict = self._guarded(json.dumps(body, separators=(",", ":")).encode())
        except _Failed as failure:
            self._count(failure.cause)
            raise PolicyUnavailable(failure.cause, str(failure)) from None
        return verdict, self._bundle_for(verdict)

    decide = __call__

    def _guarded(self, body: bytes) -> Verdict:
        """One call through the breaker; ``_Failed`` with the cause when it fails."""
        probing = self.breaker.current_state != pybreaker.STATE_CLOSED
        if probing and not self._probes.acquire(blocking=False):
            raise _Failed(CIRCUIT_OPEN, "the circuit is half-open and its probes are busy")
        try:
            with self.breaker.calling():
                return self._post(body)
        except pybreaker.CircuitBreakerError:
            raise _Failed(CIRCUIT_OPEN, f"the circuit to `{self.url}` is open: not "
                          "asked") from None
        finally:
            if probing:
                self._probes.release()

    def _post(self, body: bytes) -> Verdict:
        with self._stats_lock:
            self._calls += 1
        try:
            response = self._client.post("/v1/decide", content=body)
        except httpx.TimeoutException:
            raise _Failed(TIMEOUT, f"`{self.url}` did not answer in time") from None
        except httpx.ConnectError as error:
            raise _Failed(UNREACHABLE, f"cannot reach `{self.url}`: {error}") from None
        except httpx.TransportError as error:
            raise _Failed(CONNECTION_ERROR, f"the connection to `{self.url}` broke: "
                          f"{type(error).__name__}") from None
        status = response.status_code
        if status != 200:
            raise _Failed(_status_cause(status, response), f"`{self.url}` answered {status}")
        return self._verdict(response.content)

    def _verdict(self, content: bytes) -> Verdict:
        """The shared verdict object an answer describes; ``_Failed`` if it is none."""
        try:
            answer = json.loads(content)
            key = (_DECISIONS[answer["decision"]], answer["rule"], answer["reason"],
                   _optional(_TIERS, answer["tier"]),
                   _optional(_FAIL_MODES, answer["fail_mode"]), answer["bundle"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise _Failed(BAD_RESPONSE, "the answer holds no verdict") from None
        verdict = self._verdicts.get(key)
        if verdict is None:
            rule, reason, bundle = key[1], key[2], key[5]
            if not (rule is None or type(rule) is str) or type(reason) is not str \
                    or type(bundle) is not str:
                raise _Failed(BAD_RESPONSE, "the answer's verdict is malformed")
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[key] = Verdict(*key)
        return verdict

    def _malformed(self, topic: object, env: object, cidr: object) -> tuple[Verdict, ActiveBundle]:
        active = self.holder.active
        if active is None:
            self._count(NO_BUNDLE)
            raise PolicyUnavailable(NO_BUNDLE, "no bundle was fetched from the server")
        return active.bundle.decide(topic, env, cidr), active

    def _bundle_for(self, verdict: Verdict) -> ActiveBundle:
        """The fetched bundle; refreshed first (once a ``_REFRESH_SPACING``, by one
        thread) when the verdict names another."""
        active = self.holder.active
        if active is None or active.content_hash != verdict.bundle:
            now = time.monotonic()
            due = active is None or now - self._last_refresh >= _REFRESH_SPACING
            if due and self._refreshing.acquire(blocking=False):
                try:
                    self._last_refresh = now
                    self.holder.reload()
                finally:
                    self._refreshing.release()
            active = self.holder.active
            if active is None:
                self._count(NO_BUNDLE)
                raise PolicyUnavailable(NO_BUNDLE, "no bundle was fetched from the server")
        return active

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The breaker's state: ``closed``, ``open`` or ``half-open``."""
        return str(self.breaker.current_state)

    def stats(self) -> dict[str, Any]:
        """``state``, the requests ``sent`` to the server, and the failed calls by cause
        (``circuit-open`` counts the calls the open breaker refused unsent)."""
        with self._stats_lock:
            return {"state": self.state, "sent": self._calls,
                    "failures": dict(self._failures)}

    def _count(self, cause: str) -> None:
        with self._stats_lock:
            self._failures[cause] += 1

    def close(self) -> None:
        """Close the connections, and stop the watcher of the decider's own holder."""
        if self._own_holder:
            self.holder.stop(timeout=5.0)
        self._client.close()

    def __enter__(self) -> RemoteDecider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _optional(values: dict[str, Any], value: object) -> Any:
    return None if value is None else values[value]  # type: ignore[index]


def _status_cause(status: int, response: httpx.Response) -> str:
    if status == 503:
        try:
            if response.json().get("cause") == NO_BUNDLE:
                return NO_BUNDLE
        except (ValueError, AttributeError):
            pass
    if status >= 500:
        return SERVER_ERROR
    if status in (401, 403):
        return UNAUTHORIZED
    return REJECTED
