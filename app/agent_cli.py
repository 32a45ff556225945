"""``lineside edge run``: the agent on its line's devices, or on the simulated line.

The command sits in the edge's ``edge`` group, but it is defined here, in the application
layer, because ``--simulate`` composes the agent with the simulators (see
:mod:`app.simulated_line`), which the edge does not import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def run(
    *,
    config: Annotated[Path, typer.Option("--config", "-c", help="The line's configuration.")],
    simulate: bool = typer.Option(
        False,
        "--simulate",
        help="Drive the in-process simulated line (printer, conveyor, verify camera) "
        "instead of the devices in the configuration.",
    ),
    miss: float = typer.Option(0.0, help="Simulated camera: probability of no read."),
    garbage: float = typer.Option(0.0, help="Simulated camera: probability of garbage."),
    rate: float = typer.Option(0.0, help="Simulated printer: labels per second (0: flat out)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the agent until SIGTERM (graceful: finishes units in flight, flushes the outbox).

    --simulate: the simulated line of the simulators package, composed by the application layer.
    """
    from edge.cli.agent import run_agent

    devices = None
    if simulate:
        from app.simulated_line import SimulationOptions, simulated_line
        from simulators.line import ReadScript

        try:
            script = ReadScript(travel_s=0.005, miss=miss, garbage=garbage)
        except ValueError as exc:
            Console(stderr=True).print(f"--simulate: {exc}", markup=False)
            raise typer.Exit(2) from exc
        print_s = 1 / rate if rate > 0 else 0.0
        devices = simulated_line(SimulationOptions(script, print_s=print_s)).devices
    run_agent(config, devices=devices, verbose=verbose)
