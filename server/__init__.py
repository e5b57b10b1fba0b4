"""dualgate.server: the decision server, for gates that are not written in Python.

A thin HTTP layer over ``dualgate.runtime.gates``: one ``BundleHolder`` (hot reload,
persistence, kill switches) and the gates' metrics and decision logs, served by
Starlette on Uvicorn (``pip install 'dualgate[server]'``)::

    holder = BundleHolder("infra.bundle.json", on_reload=reload_metrics(metrics))
    service = DecisionService(holder, metrics=metrics, decision_log=log, watch_interval=30)
    run(create_app(service, token=token), host="127.0.0.1", port=8181)

``dualgate serve BUNDLE_OR_URL`` does exactly this; ``docs/server.md`` has the endpoints.
Nothing in ``dualgate.runtime`` imports this package or its dependencies.
"""

from dualgate.server.app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DecisionApp, create_app
from dualgate.server.requests import DEFAULT_GATE, BadRequestError, DecideRequest
from dualgate.server.run import ServerThread, run
from dualgate.server.service import DecisionService

__all__ = [
    "DEFAULT_GATE",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "BadRequestError",
    "DecideRequest",
    "DecisionApp",
    "DecisionService",
    "ServerThread",
    "create_app",
    "run",
]
