"""Running the application on Uvicorn: in the foreground (``dualgate serve``) or in a
thread of the calling process (tests, benchmarks, a service embedding the server).

Shutdown is graceful either way: the server stops accepting connections, waits for the
requests in flight (at most ``shutdown_timeout`` seconds, then cancels them), and only
then runs the application's lifespan shutdown, which flushes the decision log.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

#: Seconds a shutdown waits for the requests in flight before cancelling them.
DEFAULT_SHUTDOWN_TIMEOUT = 30


def uvicorn_config(app: Any, *, host: str, port: int, access_log: bool = False,
                   shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT,
                   log_level: str = "info") -> uvicorn.Config:
    """Uvicorn's settings for the decision server: the fastest event loop and HTTP
    parser installed (uvloop and httptools with ``dualgate[server]``), the lifespan
    required (it flushes the decision log), no access log unless asked (standard output
    is the decision log's when it is ``-``)."""
    return uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=access_log,
                          timeout_graceful_shutdown=shutdown_timeout, log_level=log_level,
                          server_header=False)


def run(app: Any, *, host: str, port: int, access_log: bool = False,
        shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT) -> bool:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully; whether it
    started (False when it could not bind or its lifespan failed)."""
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port, access_log=access_log,
                                           shutdown_timeout=shutdown_timeout))
    try:
        server.run()
    except SystemExit:  # Uvicorn exits when it cannot bind, after logging why
        return False
    return server.started


class ServerThread:
    """The application served by Uvicorn on a daemon thread of this process.

    ``start()`` returns once the server accepts connections (``port`` is the bound
    port: pass 0 for a free one); ``stop()`` shuts it down gracefully and waits for the
    thread. Signals stay with the main thread's owner.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 shutdown_timeout: int = 5) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Serve from a new thread; raises ``RuntimeError`` unless it is up in ``timeout``."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn_config(self.app, host=self.host, port=self.port,
                                shutdown_timeout=self.shutdown_timeout, log_level="warning")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name="dualgate-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"the decision server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Shut down gracefully (drain, then the lifespan's flush) and wait for it."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
