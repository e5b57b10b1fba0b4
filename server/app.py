"""The HTTP layer over one ``DecisionService``: the two decide endpoints on plain ASGI
(they are the hot path), everything else a Starlette application.

- ``POST /v1/decide``: one verdict (``dualgate eval --format json``'s object) with its
  ``decision_id``;
- ``POST /v1/decide/batch``: ``{"results": [...]}``, one answer per request, in order;
- ``GET /v1/bundle``: the active bundle's file, its content hash as ``ETag`` (304 to a
  matching ``If-None-Match``);
- ``GET /v1/status``: the holder's status and the decision log's counts;
- ``GET /health``: 200 while a verified bundle is active (``stale`` reported), else 503;
- ``GET /metrics``: the gates' metrics in Prometheus text format.

Guarantees:

- request data never causes a 500: a body that is no request is answered 400 (413 when
  it is over ``max_body_bytes`` or its batch over ``max_batch``) with ``{"error": "..."}``,
  one lowercase line; an unknown path is 404, a wrong method 405, both JSON too; an
  internal fault is a JSON 500 that carries no traceback (it is logged on the server);
- with a ``token``, every ``/v1/`` endpoint needs ``Authorization: Bearer TOKEN``,
  compared in constant time (``hmac.compare_digest``); ``/health`` and ``/metrics`` stay
  open for load balancers and Prometheus;
- while no bundle was ever activated, the decide endpoints answer 503 with
  ``{"error": ..., "cause": "no-bundle"}`` (the caller's gate then applies its fail mode);
- the lifespan starts the service's watcher and, at shutdown (after the server has
  drained the requests in flight), stops it and flushes the decision log.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dualgate.runtime.gates import PolicyUnavailable
from dualgate.server.requests import BadRequestError, parse_batch, parse_single
from dualgate.server.service import DecisionService

#: The largest request body read, in bytes (a batch of 1,000 requests fits easily).
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: The most requests one batch may hold.
DEFAULT_MAX_BATCH = 1000
JSON = "application/json"

logger = logging.getLogger("dualgate.server")


def create_app(service: DecisionService, *, token: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH) -> DecisionApp:
    """The application serving ``service`` (see the module docstring)."""
    if token is not None and not token:
        raise ValueError("the bearer token is empty")
    if max_body_bytes <= 0 or max_batch <= 0:
        raise ValueError("`max_body_bytes` and `max_batch` must be positive")
    endpoints = _Endpoints(service, token, max_body_bytes, max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    routes = [
        Route("/v1/bundle", endpoints.bundle, methods=["GET"]),
        Route("/v1/status", endpoints.status, methods=["GET"]),
        Route("/health", endpoints.health, methods=["GET"]),
        Route("/metrics", endpoints.metrics, methods=["GET"]),
    ]
    starlette = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        HTTPException: http_error, Exception: internal_error})
    return DecisionApp(starlette, endpoints)


class DecisionApp:
    """The ASGI application. The decide endpoints are the hot path: they are answered
    straight from the ASGI messages (no routing, no request or response objects); every
    other path, and the lifespan, go to the Starlette application ``starlette``."""

    def __init__(self, starlette: Starlette, endpoints: _Endpoints) -> None:
        self.starlette = starlette
        self.service = endpoints.service
        self._endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            batch = _DECIDE_PATHS.get(scope["path"])
            if batch is not None:
                await self._endpoints.decide(scope, receive, send, batch=batch)
                return
        await self.starlette(scope, receive, send)


#: The decide endpoints, and whether each takes a batch.
_DECIDE_PATHS = {"/v1/decide": False, "/v1/decide/batch": True}
_JSON_HEADER = (b"content-type", b"application/json")
_UNAUTHORIZED = (b'{"error":"missing or wrong bearer token: send `Authorization: Bearer '
                 b'TOKEN`"}')
_CHALLENGE = (b"www-authenticate", b'Bearer realm="dualgate"')
_INTERNAL = "internal error in the decision server; it is logged on the server"


class _Endpoints:
    """The handlers, sharing the service, the expected ``Authorization`` value and the
    limits."""

    def __init__(self, service: DecisionService, token: str | None, max_body_bytes: int,
                 max_batch: int) -> None:
        self.service = service
        self.expected = None if token is None else f"Bearer {token}".encode()
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch

    def authorized(self, given: bytes | None) -> bool:
        """Whether ``given`` (the ``Authorization`` header) carries the bearer token, when
        one is configured; compared in constant time."""
        return self.expected is None or hmac.compare_digest(given or b"", self.expected)

    def refused(self, request: Request) -> Response | None:
        """A 401 unless the request carries the bearer token (when one is configured)."""
        if self.authorized(request.headers.get("authorization", "").encode("latin-1")):
            return None
        return Response(_UNAUTHORIZED, status_code=401, media_type=JSON,
                        headers={"WWW-Authenticate": 'Bearer realm="dualgate"'})

    async def decide(self, scope: Scope, receive: Receive, send: Send, *,
                     batch: bool) -> None:
        """``POST /v1/decide`` and ``/v1/decide/batch``, on the ASGI messages."""
        headers: list[tuple[bytes, bytes]] = [_JSON_HEADER]
        try:
            status, answer = await self._decide(scope, receive, batch, headers)
        except Exception as exc:  # a fault of the server: logged, never shown
            logger.error("internal error serving %s %s", scope.get("method"),
                         scope.get("path"), exc_info=exc)
            status, answer = 500, _error_body(_INTERNAL)
        headers.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _decide(self, scope: Scope, receive: Receive, batch: bool,
                      headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        path, method = scope["path"], scope["method"]
        if method != "POST":
            headers.append((b"allow", b"POST"))
            return 405, _error_body(f"`{method[:16]}` is not allowed on `{path}` "
                                    "(allowed: POST)")
        authorization = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
        if not self.authorized(authorization):
            headers.append(_CHALLENGE)
            return 401, _UNAUTHORIZED
        try:
            body = await _read_body(receive, length, self.max_body_bytes)
            if batch:
                return 200, self.service.decide_batch(parse_batch(body, self.max_batch))
            return 200, self.service.decide(parse_single(body))
        except BadRequestError as fault:
            return fault.status, _error_body(str(fault))
        except PolicyUnavailable as unavailable:
            headers.append((b"retry-after", b"5"))
            return 503, _json_body({"error": str(unavailable), "cause": unavailable.cause})

    async def bundle(self, request: Request) -> Response:
        denied = self.refused(request)
        if denied is not None:
            return denied
        active = self.service.bundle()
        if active is None:
            return unavailable_answer(PolicyUnavailable("no-bundle", "no bundle is active"))
        content_hash, data = active
        etag = f'"{content_hash}"'
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag})
        return Response(data, media_type=JSON, headers={"ETag": etag})

    async def status(self, request: Request) -> Response:
        denied = self.refused(request)
        if denied is not None:
            return denied
        return json_response(200, self.service.status())

    async def health(self, request: Request) -> Response:
        code, document = self.service.health()
        return json_response(code, document)

    async def metrics(self, request: Request) -> Response:
        registry = self.service.metrics.registry
        if registry is None:
            return error(404, "metrics need prometheus_client: install `dualgate[server]`")
        import prometheus_client

        return Response(prometheus_client.generate_latest(registry),
                        media_type=prometheus_client.CONTENT_TYPE_LATEST)


async def _read_body(receive: Receive, length: bytes | None, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; ``BadRequestError`` (413) past it, read
    no further than that."""
    if length is not None:
        if not length.isdigit():
            shown = length[:20].decode("latin-1")
            raise BadRequestError(f"`Content-Length: {shown}` is not a number")
        if int(length) > limit:
            raise BadRequestError(f"the body is {int(length)} bytes; the limit is {limit}",
                                  status=413)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequestError(f"the body is over the limit of {limit} bytes", status=413)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak or strong) or is ``*``."""
    if header is None:
        return False
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _json_body(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _error_body(message: str) -> bytes:
    return _json_body({"error": message})


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(_json_body(document), status_code=status, media_type=JSON,
                    headers=headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """``{"error": message}`` with ``status``."""
    return json_response(status, {"error": message}, headers)


def unavailable_answer(unavailable: PolicyUnavailable) -> Response:
    """503: the policy cannot decide now (no bundle was ever activated)."""
    return json_response(503, {"error": str(unavailable), "cause": unavailable.cause},
                         {"Retry-After": "5"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, wrong method) as JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    allowed = {key.lower(): value for key, value in headers.items()}.get("allow", "none")
    path = request.url.path[:80]
    if status == 404:
        message = f"no endpoint at `{path}`"
    elif status == 405:
        message = f"`{request.method[:16]}` is not allowed on `{path}` (allowed: {allowed})"
    else:
        detail = exc.detail if isinstance(exc, HTTPException) else ""
        message = str(detail).lower() or "the request cannot be served"
    return error(status, message, headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A fault of the server itself: logged here, answered without its traceback."""
    logger.error("internal error serving %s %s", request.method, request.url.path,
                 exc_info=exc)
    return error(500, _INTERNAL)
