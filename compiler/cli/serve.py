"""``dualgate serve``: the decision server (``dualgate.server``) over one bundle holder.

The server stack (Starlette, Uvicorn, prometheus_client) is an optional extra, imported
only when the command runs: without it the command says how to install it (exit 2).
"""

from __future__ import annotations

import gc
import ipaddress
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dualgate.runtime import BundleError

if TYPE_CHECKING:
    from dualgate.runtime.gates import ReloadResult
    from dualgate.runtime.telemetry import DecisionLog, GateMetrics, Sink

EXIT_REFUSED, EXIT_USAGE = 1, 2
#: Where the bearer token is read from when no --token-file is given.
TOKEN_VARIABLE = "DUALGATE_SERVER_TOKEN"
#: The modules the server extra brings; a missing one is reported with the pip command.
_EXTRA_MODULES = frozenset({"starlette", "uvicorn", "prometheus_client", "anyio", "h11"})
_EXTRA_HINT = "pip install 'dualgate[server]'"


@click.command("serve", short_help="Serve decisions over HTTP from a bundle file or URL.")
@click.argument("source", metavar="BUNDLE_OR_URL")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (loopback by default; 0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8181, show_default=True,
              help="The port to listen on.")
@click.option("--public-key", type=click.Path(path_type=Path, dir_okay=False),
              help="Serve only bundles with a valid signature by this Ed25519 public key.")
@click.option("--require-signature", is_flag=True,
              help="Refuse to start without --public-key.")
@click.option("--persist-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Keep the last activated bundle here, and serve it at start when the "
              "source cannot give one.")
@click.option("--kill-switch-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A JSON kill-switch file, read at start and at every poll.")
@click.option("--poll-interval", type=click.FloatRange(min=0), default=30.0,
              show_default=True, metavar="SECONDS",
              help="Check the source (and the kill-switch file) this often; 0: never.")
@click.option("--max-age", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Report the bundle stale (in /health and /v1/status) when the source "
              "was not checked successfully for this long.")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Require `Authorization: Bearer TOKEN` on /v1/ with the token in this "
              f"file (default: the {TOKEN_VARIABLE} variable, if set).")
@click.option("--decision-log", metavar="PATH",
              help="Write one JSON line per decision to PATH (rotated at 64 MiB, 5 kept), "
              "or to standard output with `-`.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=1 << 20,
              show_default=True, help="The largest request body read.")
@click.option("--max-batch", type=click.IntRange(min=1), default=1000, show_default=True,
              help="The most requests one batch may hold.")
@click.option("--shutdown-timeout", type=click.IntRange(min=0), default=30,
              show_default=True, metavar="SECONDS",
              help="On SIGTERM or SIGINT, wait this long for requests in flight.")
@click.option("--access-log", is_flag=True, help="Log every HTTP request (standard output).")
@click.pass_context
def serve(ctx: click.Context, *, source: str, host: str, port: int,
          public_key: Path | None, require_signature: bool, persist_dir: Path | None,
          kill_switch_file: Path | None, poll_interval: float, max_age: float | None,
          token_file: Path | None, decision_log: str | None, max_body_bytes: int,
          max_batch: int, shutdown_timeout: int, access_log: bool) -> None:
    """Serve decisions over HTTP from BUNDLE_OR_URL (a bundle file, or an http(s) URL
    polled with If-None-Match): POST /v1/decide and /v1/decide/batch, GET /v1/bundle,
    /v1/status, /health and /metrics (see docs/server.md).

    A bundle is served only once fully verified; a refused reload keeps the last good
    one serving. Stops gracefully on SIGTERM or SIGINT: requests in flight are answered
    and the decision log is flushed.

    Exit status: 0 after a clean shutdown, 1 no bundle could be activated at start,
    2 usage or I/O problem (the server extra missing, a port in use).
    """
    if require_signature and public_key is None:
        raise click.UsageError("--require-signature needs --public-key")
    token = _token(ctx, token_file)
    try:
        from dualgate.runtime.gates import BundleHolder, reload_metrics
        from dualgate.runtime.telemetry import GateMetrics
        from dualgate.server import DecisionService, create_app, run
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in _EXTRA_MODULES:
            raise
        click.echo(f"`dualgate serve` needs the server extra (`{missing}` is not installed): "
                   f"{_EXTRA_HINT}", err=True)
        ctx.exit(EXIT_USAGE)
    metrics = GateMetrics(use_prometheus=True)
    try:
        holder = BundleHolder(source, public_key=public_key,
                              require_signature=require_signature,
                              persist_dir=persist_dir, max_age=max_age,
                              kill_switch_file=kill_switch_file,
                              on_reload=_announce(reload_metrics(metrics)))
    except BundleError as error:
        click.echo(f"cannot serve: {error}", err=True)
        ctx.exit(EXIT_USAGE)
    active = holder.active
    if active is None:
        status = holder.status()
        why = (status["last_failed_load"] or {}).get("reason", "no bundle")
        click.echo(f"cannot serve `{source}`: no bundle could be activated: {why}", err=True)
        ctx.exit(EXIT_REFUSED)
    log = _decision_log(ctx, decision_log, metrics)
    service = DecisionService(holder, metrics=metrics, decision_log=log,
                              watch_interval=poll_interval or None)
    app = create_app(service, token=token, max_body_bytes=max_body_bytes,
                     max_batch=max_batch)
    if token is None and not _loopback(host):
        click.echo(f"warning: serving on `{host}` without a bearer token: anyone who can "
                   f"reach it can ask for decisions (--token-file or {TOKEN_VARIABLE})",
                   err=True)
    click.echo(f"serving policy `{active.policy}`, bundle `{active.content_hash[:12]}`, "
               f"on http://{host}:{port}", err=True)
    # main() pauses the cyclic collector for one-shot commands; a server runs for days.
    gc.enable()
    gc.freeze()
    # Uvicorn handles SIGINT and SIGTERM while it serves, then raises the signal again
    # under the handlers it found: these make that a clean exit.
    for received in (signal.SIGINT, signal.SIGTERM):
        signal.signal(received, lambda number, frame: None)
    started = run(app, host=host, port=port, access_log=access_log,
                  shutdown_timeout=shutdown_timeout)
    if not started:
        service.close()
        click.echo(f"cannot serve on {host}:{port} (see the message above)", err=True)
        ctx.exit(EXIT_USAGE)


def _token(ctx: click.Context, token_file: Path | None) -> str | None:
    """The bearer token: the file's first line, else the variable's value, else None."""
    if token_file is None:
        value = os.environ.get(TOKEN_VARIABLE)
        if value is None:
            return None
        where = f"the {TOKEN_VARIABLE} variable"
    else:
        try:
            value = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            click.echo(f"cannot read `{token_file}`: {(reason or str(error)).lower()}",
                       err=True)
            ctx.exit(EXIT_USAGE)
        where = f"`{token_file}`"
    token = value.strip()
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        click.echo(f"the bearer token in {where} is empty or holds spaces or control "
                   "characters", err=True)
        ctx.exit(EXIT_USAGE)
    return token


def _decision_log(ctx: click.Context, target: str | None,
                  metrics: GateMetrics) -> DecisionLog | None:
    if target is None:
        return None
    from dualgate.runtime.telemetry import DecisionLog, RotatingFileSink, StdoutSink

    try:
        sink: Sink = StdoutSink() if target == "-" else RotatingFileSink(target, 64 << 20, 5)
    except OSError as error:
        click.echo(f"cannot write `{target}`: {(error.strerror or str(error)).lower()}",
                   err=True)
        ctx.exit(EXIT_USAGE)
    return DecisionLog(sink, metrics=metrics)


def _announce(observe: Callable[[ReloadResult], None]) -> Callable[[ReloadResult], None]:
    """``observe`` (the reload metrics), and one line on standard error per activation
    or refusal, so that an operator sees every bundle change."""

    def on_reload(result: ReloadResult) -> None:
        observe(result)
        if result.result.value != "unchanged":
            click.echo(f"reload: {result.result.value} - {result.reason}", err=True)

    return on_reload


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
