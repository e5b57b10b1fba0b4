"""``dualgate verify``: check a bundle as a runtime would before loading it."""

from __future__ import annotations

from pathlib import Path

import click

from dualgate.compiler.cli.bundles import EXIT_REFUSED, open_bundle


@click.command(short_help="Check a bundle's format, hash and (with --key) signature.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="Ed25519 public key (PEM); the bundle must carry a valid signature by it.")
@click.option("--no-signature-check", "unchecked", is_flag=True,
              help="Accept a signed bundle without --key (its signature is not checked).")
@click.pass_context
def verify(ctx: click.Context, bundle: Path, key: Path | None, unchecked: bool) -> None:
    """Check BUNDLE: a known format version, a sound structure, a content hash that
    matches its content and, with --key, a valid signature by that key. A signed bundle
    without --key fails (its signature was not verified) unless --no-signature-check
    says the signature need not be checked.

    Exit status: 0 the bundle would be loaded, 1 it would be refused or its signature was
    not checked, 2 usage or I/O problem.
    """
    if key is not None and unchecked:
        raise click.UsageError("--key checks the signature; --no-signature-check skips it")
    loaded = open_bundle(ctx, bundle, key)
    if loaded.verified_key is not None:
        signature = f"signed by key {loaded.verified_key}"
    elif loaded.signed and not unchecked:
        click.echo(f"not verified `{bundle}`: it is signed but no --key was given to check "
                   "the signature (--no-signature-check accepts it unchecked)", err=True)
        ctx.exit(EXIT_REFUSED)
    elif loaded.signed:
        signature = "signed, signature not checked (--no-signature-check)"
    else:
        signature = "unsigned"
    click.echo(f"ok `{bundle}`: policy `{loaded.policy}`, content sha256 "
               f"{loaded.content_hash[:16]}, {signature}")
