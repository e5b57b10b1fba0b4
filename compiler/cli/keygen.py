"""``dualgate keygen``: a new Ed25519 key pair for signing bundles."""

from __future__ import annotations

import os
from pathlib import Path

import click

from dualgate.compiler.backend.signing import generate_key_pair


@click.command(short_help="Make an Ed25519 key pair for signing bundles.")
@click.option("-o", "--output", "name", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("dualgate-signing"), show_default=True,
              help="Write NAME.key (private, mode 0600) and NAME.pub (public).")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(name: Path, force: bool) -> None:
    """Write a new Ed25519 key pair: NAME.key signs (`compile --sign-key`), NAME.pub
    verifies (`verify --key`, and the runtime's `public_key`).

    Keep NAME.key secret (a CI secret, not the repository); ship NAME.pub with the gates.
    """
    private_path, public_path = Path(f"{name}.key"), Path(f"{name}.pub")
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise click.UsageError(f"`{path}` exists; pass --force to overwrite it")
    pair = generate_key_pair()
    try:
        # Created with mode 0600 from the start: never readable by others, even briefly.
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pair.private_pem)
        os.chmod(private_path, 0o600)
        public_path.write_bytes(pair.public_pem)
    except OSError as error:  # an I/O problem: exit status 2, as for every command
        click.echo(f"cannot write `{error.filename or name}`: "
                   f"{(error.strerror or str(error)).lower()}", err=True)
        raise SystemExit(2) from None
    click.echo(f"wrote `{private_path}` (private, keep it secret) and `{public_path}` "
               f"(public); key id {pair.key_id}")
