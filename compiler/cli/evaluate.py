"""``dualgate eval``: ask a policy or a bundle for decisions, one request or a stream.

A source policy is compiled in memory and evaluated by the same runtime that loads
bundles, so ``eval`` on a policy and on its compiled bundle always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from dualgate.compiler.backend import compile_policy
from dualgate.compiler.cli.bundles import open_bundle
from dualgate.compiler.diagnostics import render_text
from dualgate.compiler.frontend.loader import load_policy
from dualgate.compiler.reports.explanation import explanation_text, verdict_text
from dualgate.runtime import Bundle, Decision, load_bundle
from dualgate.runtime.explain import explain
from dualgate.runtime.verdict import MALFORMED_REQUEST

EXIT_OK, EXIT_REFUSED = 0, 1

#: The attributes a request line may carry; any other key makes the line malformed.
REQUEST_KEYS = frozenset({"topic", "env", "cidr"})

_MALFORMED = {"decision": Decision.DENY.value, "rule": None, "reason": MALFORMED_REQUEST,
              "tier": None, "fail_mode": None}


@click.command("eval", short_help="Decide requests with a policy or a bundle.")
@click.argument("source", metavar="POLICY_OR_BUNDLE",
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--topic", help="The job's topic.")
@click.option("--env", help="The job's env.")
@click.option("--cidr", help="The job's network (an address or a CIDR network).")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"),
              help="Read one JSON request per line ({\"topic\": ..., \"env\": ..., "
              "\"cidr\": ...}) from FILE (`-`: standard input) and write one JSON verdict "
              "per line.")
@click.option("--explain", "explained", is_flag=True,
              help="Say why: the deciding rule, the earlier rules and the condition each "
              "failed, the tier.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              help="Output format: text for a single request and JSON lines for --input "
              "by default; `--input ... --format text` prints one readable line each.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="For a bundle: require a valid signature by this Ed25519 public key.")
@click.pass_context
def eval_command(
    ctx: click.Context, *, source: Path, topic: str | None, env: str | None, cidr: str | None,
    input_file: IO[str] | None, explained: bool, output_format: str | None,
    key: Path | None,
) -> None:
    """Decide requests with POLICY_OR_BUNDLE: a bundle (a `.json` file from `dualgate
    compile`) or a policy source, which is compiled in memory first.

    Give one request with --topic and --env (and --cidr), or many with --input. A
    request that is malformed is denied with a reason naming the fault.

    Exit status: 0 decided (whatever the decisions), 1 the policy or bundle was refused,
    2 usage problem.
    """
    if input_file is None and (topic is None or env is None):
        raise click.UsageError("give --topic and --env, or --input FILE")
    if input_file is not None and (topic, env, cidr) != (None, None, None):
        raise click.UsageError("--input cannot be combined with --topic, --env or --cidr")
    bundle = _load(ctx, source, key)
    if input_file is not None:
        if explained:
            raise click.UsageError("--explain takes one request (--topic and --env)")
        render = _readable if output_format == "text" else _json_line
        for request, answer in _stream(bundle, input_file):
            click.echo(render(request, answer))
        return
    if explained:
        explanation = explain(bundle, topic, env, cidr)
        click.echo(json.dumps(explanation.to_json(), indent=2) if output_format == "json"
                   else explanation_text(bundle, explanation, (topic, env, cidr)))
        return
    verdict = bundle.decide(topic, env, cidr)
    click.echo(json.dumps(verdict.to_json(), indent=2) if output_format == "json"
               else verdict_text(bundle, verdict, (topic, env, cidr)))


def _load(ctx: click.Context, source: Path, key: Path | None) -> Bundle:
    if source.suffix.lower() == ".json":
        return open_bundle(ctx, source, key)
    if key is not None:
        raise click.UsageError("--key checks a bundle's signature; POLICY is a source policy")
    result = load_policy(source)
    if result.policy is None:
        sources = {result.path: result.source} if result.source else {}
        click.echo(render_text(result.diagnostics, sources, files=1), err=True,
                   color=ctx.color)
        click.echo(f"cannot evaluate `{source}`: it has errors", err=True)
        ctx.exit(EXIT_REFUSED)
    return load_bundle(compile_policy(result.policy, path=result.path))


def _stream(bundle: Bundle, lines: IO[str]) -> Iterator[tuple[dict[str, Any] | None,
                                                             dict[str, Any]]]:
    """Each input line's request (None when malformed) and its verdict as JSON, in order;
    a line that is no JSON object of request attributes is denied."""
    decide = bundle.decide
    for line in lines:
        request = _request(line)
        if request is None:
            yield None, _MALFORMED
            continue
        verdict = decide(request.get("topic"), request.get("env"), request.get("cidr"))
        yield request, {
            "decision": verdict.decision.value, "rule": verdict.rule, "reason": verdict.reason,
            "tier": None if verdict.tier is None else verdict.tier.value,
            "fail_mode": None if verdict.fail_mode is None else verdict.fail_mode.value,
        }


def _json_line(request: dict[str, Any] | None, verdict: dict[str, Any]) -> str:
    return json.dumps(verdict, separators=(",", ":"))


def _readable(request: dict[str, Any] | None, verdict: dict[str, Any]) -> str:
    """``deny           rule deny-iam                    infra.iam.role.read env=dev``"""
    why = f"rule {verdict['rule']}" if verdict["rule"] else verdict["reason"]
    if request is None:
        return f"{verdict['decision']:<14} {why:<38} (not a request)"
    cidr = request.get("cidr")
    where = f"env={request.get('env')}" + (f" cidr={cidr}" if cidr is not None else "")
    return f"{verdict['decision']:<14} {why:<38} {request.get('topic')} {where}"


def _request(line: str) -> dict[str, Any] | None:
    """The request on a line, or None when it is no JSON object of request attributes."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not value.keys() <= REQUEST_KEYS:
        return None
    return value
