"""The ``lineside`` command line.

Each group of commands lives in its own module and is mounted here with
``app.add_typer``; a module owns its group's name and help text.
"""

from __future__ import annotations

import typer

from lineside import __version__
from lineside.cli import bench, codes, devices, edge, epcis, label, printer, scanner, server, sim
from lineside.cli import demo as demo

app = typer.Typer(
    name="lineside",
    help="Product traceability for packing lines: codes, devices, the edge agent and the server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(bench.app)
app.add_typer(codes.app)
app.add_typer(edge.app)
app.add_typer(epcis.app)
app.add_typer(server.app)
app.add_typer(scanner.app)
app.add_typer(devices.app)
app.add_typer(printer.app)
app.add_typer(label.app)
app.add_typer(sim.app)
app.add_typer(demo.app)


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
