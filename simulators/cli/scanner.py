"""``lineside sim scanner``: a scripted serial or TCP scanner for tests and demos.

Mounted on the ``sim`` group by :func:`register`.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulators.scanners import (
    ScanFaults,
    SerialScannerSimulator,
    SimCode,
    TcpClientScannerSimulator,
    TcpScannerSimulator,
    code_from_text,
)


class SimKind(StrEnum):
    """Which wire the simulated scanner speaks on."""

    SERIAL = "serial"
    TCP = "tcp"
    TCP_CLIENT = "tcp-client"


class Terminator(StrEnum):
    """Line terminator the simulated scanner sends."""

    CRLF = "crlf"
    CR = "cr"
    LF = "lf"


_TERMINATORS = {Terminator.CRLF: b"\r\n", Terminator.CR: b"\r", Terminator.LF: b"\n"}


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(2)


def load_codes(path: Path) -> list[SimCode]:
    """One code per line (see :func:`code_from_text`); blank lines and ``#`` comments skipped."""
    codes: list[SimCode] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            codes.append(code_from_text(line))
        except ValueError as exc:
            raise _fail(f"{path}:{number}: {exc}") from None
    if not codes:
        raise _fail(f"{path}: no codes")
    return codes


def scanner_command(  # noqa: PLR0917 - one parameter per command-line option
    codes_file: Annotated[Path, typer.Option("--codes", help="File with one code per line.")],
    kind: Annotated[
        SimKind, typer.Option("--kind", help="serial, tcp (we listen), tcp-client.")
    ] = (SimKind.SERIAL),
    rate: Annotated[float, typer.Option("--rate", min=0.0, help="Reads per second.")] = 10.0,
    miss: Annotated[float, typer.Option("--miss", min=0.0, max=1.0)] = 0.0,
    misread: Annotated[float, typer.Option("--misread", min=0.0, max=1.0)] = 0.0,
    drop_gs: Annotated[bool, typer.Option("--drop-gs", help="Drop GS separators.")] = False,
    aim: Annotated[bool, typer.Option("--aim/--no-aim", help="Send AIM prefixes.")] = True,
    terminator: Annotated[Terminator, typer.Option("--terminator")] = Terminator.CRLF,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 0,
    loop: Annotated[bool, typer.Option("--loop", help="Repeat the codes for ever.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Play codes from a file as a serial (pty) or TCP scanner, with scripted faults."""
    if not codes_file.is_file():
        raise _fail(f"--codes {codes_file}: no such file")
    codes = load_codes(codes_file)
    faults = ScanFaults(
        miss=miss,
        misread=misread,
        drop_gs=drop_gs,
        aim_prefix=aim,
        terminator=_TERMINATORS[terminator],
    )
    console = Console()

    async def play() -> None:
        sim: SerialScannerSimulator | TcpScannerSimulator | TcpClientScannerSimulator
        if kind is SimKind.SERIAL:
            sim = SerialScannerSimulator(faults, seed)
        elif kind is SimKind.TCP:
            sim = TcpScannerSimulator(faults, seed, host=host, port=port)
        else:
            if not port:
                raise _fail("--kind tcp-client needs --port (where the driver listens)")
            sim = TcpClientScannerSimulator(host, port, faults, seed)
        async with sim:
            console.print(f"scanner simulator at {escape(sim.url)}", highlight=False)
            if isinstance(sim, TcpScannerSimulator):
                console.print("waiting for a driver to connect...")
                await sim.wait_for_client(timeout=3600)
            while True:
                stats = await sim.play(codes, rate)
                if not loop:
                    break
            console.print(
                f"scanned {stats.scanned}, missed {stats.missed}, misread {stats.misread}"
            )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(play())


def register(app: typer.Typer) -> None:
    """Add ``scanner`` to the ``sim`` command group."""
    app.command("scanner")(scanner_command)
