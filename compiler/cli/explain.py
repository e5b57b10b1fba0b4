"""``dualgate explain``: print the documentation of a diagnostic code."""

from __future__ import annotations

import click

from dualgate.compiler.codes import CODES, lookup
from dualgate.compiler.diagnostics import suggest


@click.command(short_help="Explain a diagnostic code, or list them all.")
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain diagnostic CODE (e.g. DG101 or undeclared-env); list all codes without one."""
    if code is None:
        for entry in CODES.values():
            click.echo(f"{entry.code}  {entry.name:<26} {entry.severity:<8} {entry.summary}")
        return
    found = lookup(code)
    if found is None:
        hint = suggest(code.upper(), CODES) or suggest(code.lower(), (c.name for c in
                                                                       CODES.values()))
        raise click.BadParameter(
            f"unknown code `{code}`" + (f"; {hint}" if hint else "")
            + " (run `dualgate explain` for the list)",
            param_hint="CODE",
        )
    click.echo(found.doc())
