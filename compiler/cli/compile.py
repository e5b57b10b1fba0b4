"""``dualgate compile``: a policy into a (signed) decision-table bundle.

The policy gets the checks of ``dualgate lint``; a policy with error-severity findings
is refused, with the findings printed as ``lint`` prints them. Everything but the
bundle itself goes to standard error, so ``-o -`` can pipe the bundle.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from dualgate.compiler.backend import compile_loaded, recorded_source_path
from dualgate.compiler.backend.signing import SigningKeyError, load_private_key, sign_bundle
from dualgate.compiler.cli.bundles import read_input, refuse_bundle_as_policy
from dualgate.compiler.cli.options import analysis_options, clock_options
from dualgate.compiler.codes import Severity
from dualgate.compiler.diagnostics import render_text
from dualgate.compiler.frontend.loader import load_policy_bytes
from dualgate.runtime.bundle_format import class_count, serialize

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def default_output(policy: Path) -> Path:
    """``infra.policy`` -> ``infra.bundle.json`` (``.policy.yaml`` and ``.yml`` likewise)."""
    name = policy.name
    for suffix in (".policy.yaml", ".policy.yml", ".policy", ".yaml", ".yml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return policy.with_name(f"{name}.bundle.json")


@click.command("compile", short_help="Compile a policy into a decision-table bundle.")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the bundle (`-` for standard output; default: "
              "POLICY's name with .bundle.json).")
@click.option("--sign-key", type=click.Path(path_type=Path, dir_okay=False),
              help="Sign the bundle with this Ed25519 private key (from `dualgate keygen`).")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False),
              help="Record POLICY's path relative to this directory (default: its file "
              "name only), so the bundle does not depend on the working directory.")
@clock_options
@click.pass_context
def compile_command(
    ctx: click.Context, *, policy: Path, output: Path | None, sign_key: Path | None,
    root: Path | None, now: datetime | None, override_window_limit: timedelta | None,
) -> None:
    """Compile POLICY into a bundle that the runtime loads.

    The bundle holds the decision table, the tiers and fail modes, the rules with their
    locations, an analysis summary and a content hash; with --sign-key also an Ed25519
    signature. The same policy always gives the same bytes, from any working directory:
    the bundle records the file name (or, with --root, the path relative to the root).

    Exit status: 0 compiled, 1 refused (the policy has errors), 2 usage or I/O problem.
    """
    try:
        recorded = recorded_source_path(policy, root)
    except ValueError:
        raise click.BadParameter(f"`{policy}` is not under `{root}`",
                                 param_hint="--root") from None
    data = read_input(ctx, policy)
    refuse_bundle_as_policy(ctx, policy, data)
    private_key = None
    if sign_key is not None:
        try:
            private_key = load_private_key(sign_key)
        except SigningKeyError as error:
            raise click.BadParameter(str(error), param_hint="--sign-key") from None
    result = load_policy_bytes(data, str(policy))
    compilation = compile_loaded(result, analysis_options(now, override_window_limit),
                                 source=data, recorded_path=recorded)
    report = compilation.report
    shown = [d for d in report.diagnostics if d.severity is not Severity.INFO]
    sources = {result.path: result.source} if result.source else {}
    if compilation.bundle is None:
        click.echo(render_text(shown, sources, files=1), err=True, color=ctx.color)
        errors = sum(d.is_error for d in report.diagnostics)
        click.echo(f"refused to compile `{policy}`: {errors} error{'s' * (errors != 1)}",
                   err=True)
        ctx.exit(EXIT_REFUSED)
    if shown:
        click.echo(render_text(shown, sources, files=1), err=True, color=ctx.color)
    document = compilation.bundle
    if private_key is not None:
        document = sign_bundle(document, private_key)
    payload = serialize(document)
    target = output or default_output(policy)
    if str(target) == "-":
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
    else:
        try:
            target.write_bytes(payload)
        except OSError as error:
            click.echo(f"cannot write `{target}`: {(error.strerror or str(error)).lower()}",
                       err=True)
            ctx.exit(EXIT_USAGE)
    table = document["content"]["table"]
    signed = f", signed by key {document['signature']['key_id']}" if private_key else ""
    click.echo(
        f"compiled `{policy}` -> `{target}`: {len(document['content']['rules']['id'])} rules, "
        f"{len(table['topics']['other'])} topic states, {class_count(table)} classes, "
        f"{len(payload):,} bytes, sha256 {document['content_sha256'][:16]}{signed}",
        err=True,
    )
