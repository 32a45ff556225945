"""The ``lineside`` command line.

Each group of commands lives in its own module and is mounted here with
``app.add_typer``; a module owns its group's name and help text.
"""

from __future__ import annotations

import typer

from lineside import __version__
from lineside.cli import (
    bench,
    codes,
    demo,
    devices,
    edge,
    epcis,
    label,
    printer,
    scanner,
    server,
    sim,
)

app = typer.Typer(
    name="lineside",
    help="Product traceability for packing lines: codes, devices, the edge agent and the server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# In the order a user meets them: codes and events, devices, the line, the server, the rest.
for _group in (codes, epcis, printer, label, scanner, devices, sim, edge, server, demo, bench):
    app.add_typer(_group.app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lineside {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Lineside command line."""


def main() -> None:
    """Entry point of the ``lineside`` console script."""
    app()
