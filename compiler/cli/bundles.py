"""Loading a bundle for a command: a refused bundle is a one-line error, exit status 1."""

from __future__ import annotations

from pathlib import Path

import click

from dualgate.runtime import Bundle, BundleError, load_bundle

EXIT_REFUSED = 1


def open_bundle(ctx: click.Context, path: Path, key: Path | None = None) -> Bundle:
    """The verified bundle at ``path`` (signature checked when ``key`` is given)."""
    try:
        return load_bundle(path, public_key=key)
    except BundleError as error:
        click.echo(f"refused `{path}`: {error}", err=True)
        ctx.exit(EXIT_REFUSED)
