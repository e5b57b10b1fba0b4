"""Reading a command's input file and loading a bundle: one-line errors, shared exit codes.

A file that cannot be read is a usage or I/O problem (exit status 2); a bundle the runtime
refuses is a failed check (exit status 1). Whether a file is a bundle is decided by its
content, not its name, so a bundle passed where a policy belongs (or the reverse) gets a
one-line message instead of a screen of diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import click

from dualgate.runtime import Bundle, BundleError, load_bundle
from dualgate.runtime.bundle_format import looks_like_bundle
from dualgate.runtime.signatures import load_public_key

EXIT_REFUSED, EXIT_USAGE = 1, 2



def read_input(ctx: click.Context, path: Path) -> bytes:
    """The bytes of ``path``, or a one-line error and exit status 2."""
    try:
        return path.read_bytes()
    except OSError as error:
        click.echo(f"cannot read `{path}`: {(error.strerror or str(error)).lower()}", err=True)
        ctx.exit(EXIT_USAGE)


def is_bundle(data: bytes) -> bool:
    """True when ``data`` is laid out as a bundle document (whatever the file is called)."""
    return looks_like_bundle(data)


def refuse_bundle_as_policy(ctx: click.Context, path: Path, data: bytes) -> None:
    """Exit with status 2 and a one-line message when the policy at ``path`` is a bundle."""
    if is_bundle(data):
        click.echo(f"`{path}` is a compiled bundle, not a policy source: `dualgate inspect` "
                   "shows what it holds", err=True)
        ctx.exit(EXIT_USAGE)


def open_bundle(ctx: click.Context, path: Path, key: Path | None = None,
                data: bytes | None = None) -> Bundle:
    """The verified bundle at ``path`` (signature checked when ``key`` is given).

    ``data`` is the file's bytes when the caller has read them already.
    """
    if data is None:
        data = read_input(ctx, path)
    if not is_bundle(data) and not data.lstrip().startswith(b"{"):
        click.echo(f"refused `{path}`: it is no bundle (not a JSON document); a policy "
                   "source becomes one with `dualgate compile`", err=True)
        ctx.exit(EXIT_REFUSED)
    public_key = None
    if key is not None:
        try:
            public_key = load_public_key(key)
        except BundleError as error:
            raise click.BadParameter(f"`{key}`: {error}", param_hint="--key") from None
    try:
        return load_bundle(data, public_key=public_key)
    except BundleError as error:
        click.echo(f"refused `{path}`: {error}", err=True)
        ctx.exit(EXIT_REFUSED)
