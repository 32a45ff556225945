"""``lineside sim``: run device simulators (one command per device kind)."""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from simulators.cli import scanner as sim_scanner
from simulators.cli.line import sim_line_command
from simulators.printers.server import CONTROL_COMMANDS


def _help() -> str:
    commands = "\n".join(f"  {name:24} {what}" for name, what in CONTROL_COMMANDS)
    return (
        "Run simulated devices for tests and demos.\n\n"
        "Faults are injected into a simulated printer through its control channel "
        "(sim printer --control-port 9300; then e.g. printf 'paper_out\\n' | nc 127.0.0.1 "
        "9300), one command per line, one JSON line back:\n\n"
        f"{commands}\n\n"
        "A simulated scanner's faults are options of sim scanner (--miss, --misread, "
        "--drop-gs...) and the line's are options of sim line (--miss, --misread, --garbage, "
        "--foreign...)."
    )


app = typer.Typer(name="sim", help=_help(), no_args_is_help=True, rich_markup_mode=None)


class PrinterKind(StrEnum):
    """The simulated printer's language."""

    zpl = "zpl"
    escpos = "escpos"


@app.command("printer")
def printer_command(  # noqa: PLR0917 - typer options, all keyword on the command line
    kind: Annotated[
        PrinterKind, typer.Option("--kind", help="Printer language.")
    ] = PrinterKind.zpl,
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 9100,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    use_pty: Annotated[
        bool, typer.Option("--pty", help="Also serve on a pseudo-terminal.")
    ] = False,
    control_port: Annotated[
        int | None,
        typer.Option(
            "--control-port",
            help="Fault-injection control channel port (commands: lineside sim --help).",
        ),
    ] = None,
    ips: Annotated[float, typer.Option("--ips", help="Print speed, inches per second.")] = 6.0,
    label_dots: Annotated[int, typer.Option("--label-dots", help="Label length in dots.")] = 320,
) -> None:
    """Run a simulated ZPL or ESC/POS printer until interrupted."""
    from simulators.printers import EscposEngine, PrinterSimulator, ZplEngine

    if ips <= 0 or label_dots <= 0:
        Console(stderr=True).print("error: --ips and --label-dots must be positive")
        raise typer.Exit(2)
    engine: ZplEngine | EscposEngine = (
        ZplEngine(ips=ips, label_length_dots=label_dots)
        if kind is PrinterKind.zpl
        else EscposEngine()
    )
    console = Console()

    async def run() -> None:
        sim = PrinterSimulator(engine, host=host, port=port, pty=use_pty, control_port=control_port)
        async with sim:
            console.print(f"{kind.value} printer on tcp://{host}:{sim.port}", markup=False)
            if sim.pty_path:
                console.print(f"pty: serial://{sim.pty_path}", markup=False)
            if control_port is not None:
                console.print(f"control: tcp://{host}:{sim.control_port}", markup=False)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


sim_scanner.register(app)
app.command("line")(sim_line_command)
