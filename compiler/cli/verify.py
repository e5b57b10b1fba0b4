"""``dualgate verify``: check a bundle as a runtime would before loading it."""

from __future__ import annotations

from pathlib import Path

import click

from dualgate.compiler.cli.bundles import open_bundle


@click.command(short_help="Check a bundle's format, hash and (with --key) signature.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="Ed25519 public key (PEM); the bundle must carry a valid signature by it.")
@click.pass_context
def verify(ctx: click.Context, bundle: Path, key: Path | None) -> None:
    """Check BUNDLE: a known format version, a sound structure, a content hash that
    matches its content and, with --key, a valid signature by that key.

    Exit status: 0 the bundle would be loaded, 1 it would be refused.
    """
    loaded = open_bundle(ctx, bundle, key)
    if loaded.verified_key is not None:
        signature = f"signed by key {loaded.verified_key}"
    elif loaded.signed:
        signature = "signed, signature not checked (pass --key)"
    else:
        signature = "unsigned"
    click.echo(f"ok `{bundle}`: policy `{loaded.policy}`, content sha256 "
               f"{loaded.content_hash[:16]}, {signature}")
