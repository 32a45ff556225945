"""``lineside sim line``: a simulated physical line on TCP ports."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.console import Console


def sim_line_command(  # noqa: PLR0917 - one parameter per command-line option
    printer_port: Annotated[
        int, typer.Option("--printer-port", help="Unit printer TCP port.")
    ] = 9100,
    scanner_port: Annotated[
        int, typer.Option("--scanner-port", help="Verify scanner port.")
    ] = 9200,
    case_printer_port: Annotated[
        int | None, typer.Option("--case-printer-port", help="Case printer TCP port.")
    ] = None,
    case_scanner_port: Annotated[
        int | None, typer.Option("--case-scanner-port", help="Case scanner TCP port.")
    ] = None,
    travel: Annotated[float, typer.Option("--travel", help="Conveyor seconds.")] = 0.05,
    miss: Annotated[float, typer.Option("--miss", help="Probability of no read.")] = 0.0,
    misread: Annotated[float, typer.Option("--misread", help="Probability of a misread.")] = 0.0,
    garbage: Annotated[float, typer.Option("--garbage", help="Probability of garbage.")] = 0.0,
    foreign: Annotated[
        float, typer.Option("--foreign", help="Probability of a foreign code.")
    ] = 0.0,
    ips: Annotated[float, typer.Option("--ips", help="Printer speed, inches per second.")] = 6.0,
) -> None:
    """Run a simulated line: printer(s) → conveyor → scanner(s), on TCP ports."""
    from simulators.line import Conveyor, PhysicalLine, ReadScript

    err = Console(stderr=True)
    try:
        script = ReadScript(
            travel_s=travel, miss=miss, misread=misread, garbage=garbage, foreign=foreign
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if ips <= 0:
        err.print("[red]error:[/red] --ips must be positive")
        raise typer.Exit(2)
    if (case_printer_port is None) != (case_scanner_port is None):
        err.print("[red]error:[/red] give both --case-printer-port and --case-scanner-port")
        raise typer.Exit(2)
    console = Console()

    async def run() -> None:
        from simulators.printers.engines import ZplEngine
        from simulators.printers.server import PrinterSimulator
        from simulators.scanners.line import TcpScannerSimulator

        unit_engine = ZplEngine(ips=ips, render_images=False)
        async with (
            PrinterSimulator(unit_engine, port=printer_port) as unit_sim,
            TcpScannerSimulator(port=scanner_port) as verify,
            contextlib.AsyncExitStack() as stack,
        ):
            case: Conveyor | None = None
            if case_printer_port is not None and case_scanner_port is not None:
                case_engine = ZplEngine(ips=ips, render_images=False)
                case_sim = await stack.enter_async_context(
                    PrinterSimulator(case_engine, port=case_printer_port)
                )
                case_scanner = await stack.enter_async_context(
                    TcpScannerSimulator(port=case_scanner_port)
                )
                case = Conveyor.on_the_wire(
                    case_engine, case_scanner, ReadScript(travel_s=travel), aim_at="00"
                )
                console.print(
                    f"case printer tcp://127.0.0.1:{case_sim.port} → case scanner "
                    f"{case_scanner.url}",
                    markup=False,
                )
            console.print(
                f"unit printer tcp://127.0.0.1:{unit_sim.port} → verify scanner {verify.url}",
                markup=False,
            )
            await PhysicalLine(
                unit=Conveyor.on_the_wire(unit_engine, verify, script, aim_at="01"), case=case
            ).run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
