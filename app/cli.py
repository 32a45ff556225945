"""The ``lineside`` command line, assembled from every layer's command groups.

Each layer owns its groups (the core: ``codes`` and ``epcis``; the edge: ``printer``,
``label``, ``scanner``, ``devices`` and ``edge``; the simulators: ``sim``; the server:
``server``); the application adds ``demo`` and ``bench``, which compose the others, and
``edge run``, whose ``--simulate`` puts the agent on the simulated line.
"""

from __future__ import annotations

import typer

from app import agent_cli
from app.bench import cli as bench
from app.demo import cli as demo
from edge.cli import agent as edge
from edge.cli import devices, label, printer, scanner
from lineside import __version__
from lineside.cli import codes, epcis
from server import cli as server
from simulators.cli import sim

app = typer.Typer(
    name="lineside",
    help="Product traceability for packing lines: codes, devices, the edge agent and the server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# `edge run` composes the agent with the simulated line (--simulate): the application adds it.
edge.app.command("run")(agent_cli.run)

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
