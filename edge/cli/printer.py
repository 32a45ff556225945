"""``lineside printer``: ask a label printer for its status, print a test label."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineside.codecs.zpl_status import StatusReplyError
from lineside.errors import ConfigError, DeviceError, DeviceTimeout, InvalidInput, TransportError

app = typer.Typer(
    name="printer", help="Check and test label printers (ZPL, ESC/POS).", no_args_is_help=True
)


class Kind(StrEnum):
    """The printer's language."""

    zpl = "zpl"
    escpos = "escpos"


UrlArg = Annotated[str, typer.Argument(help="Transport URL, e.g. tcp://10.0.0.5:9100.")]
KindOpt = Annotated[Kind, typer.Option("--kind", help="Printer language.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for answers.")]


async def _run(url: str, kind: Kind, timeout: float, test: bool) -> dict[str, object]:
    from edge.drivers import open_transport
    from edge.printers.driver import EscposPrinter, ZplPrinter
    from edge.printers.testlabel import CALIBRATION, escpos_test_template, zpl_test_template

    async with open_transport(url, timeout=timeout) as link:
        printer: ZplPrinter | EscposPrinter
        if kind is Kind.zpl:
            printer = ZplPrinter(link, zpl_test_template(), status_timeout=timeout)
        else:
            printer = EscposPrinter(link, escpos_test_template(), status_timeout=timeout)
        status = await printer.status()
        result: dict[str, object] = {
            "url": url,
            "ready": status.ready,
            "faults": list(status.faults),
            "warnings": list(status.warnings),
            "formats_in_buffer": status.formats_in_buffer,
            "labels_remaining": status.labels_remaining,
        }
        if test:
            receipt = await printer.print_label(CALIBRATION)
            result["printed"] = receipt.sequence
            result["confirmed"] = receipt.confirmed
            result["calibration"] = CALIBRATION.gs1_message().as_bracketed()
        return result


def _report(result: dict[str, object], as_json: bool) -> None:
    console = Console()
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)


def likely_fix(exc: Exception, kind: Kind) -> str | None:
    """What a technician should try after ``exc``, when the error suggests it.

    >>> likely_fix(DeviceTimeout("tcp://p:9100: no complete ~HS reply within 3 s"), Kind.zpl)
    'no ZPL status answer: if this is an ESC/POS printer, try --kind escpos'
    """
    if isinstance(exc, DeviceTimeout | StatusReplyError):
        other = Kind.escpos if kind is Kind.zpl else Kind.zpl
        names = {Kind.zpl: "ZPL", Kind.escpos: "ESC/POS"}
        return (
            f"no {names[kind]} status answer: if this is an {names[other]} printer, "
            f"try --kind {other.value}"
        )
    if isinstance(exc, TransportError) and "refused" in str(exc).lower():
        return "nothing listens there: is the printer on, and is the port right (raw TCP: 9100)?"
    return None


def _execute(url: str, kind: Kind, timeout: float, test: bool, as_json: bool) -> None:
    console = Console(stderr=True)
    try:
        result = asyncio.run(_run(url, kind, timeout, test))
    except (ConfigError, InvalidInput, DeviceError) as exc:
        title = "printer failed" if isinstance(exc, DeviceError) else "error"
        console.print(f"[red]{title}:[/red] {escape(str(exc))}", markup=True, highlight=False)
        fix = likely_fix(exc, kind)
        if fix is not None:
            console.print(f"hint: {fix}", markup=False, highlight=False)
        code = 1 if isinstance(exc, DeviceError) and not isinstance(exc, InvalidInput) else 2
        raise typer.Exit(code) from exc
    _report(result, as_json)
    if not result["ready"]:
        raise typer.Exit(1)


@app.command()
def status(
    url: UrlArg,
    kind: KindOpt = Kind.zpl,
    timeout: TimeoutOpt = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the printer's status (~HS and ~HQES, or DLE EOT); exit 1 if it cannot print."""
    _execute(url, kind, timeout, False, as_json)


@app.command("test")
def print_test(
    url: UrlArg,
    kind: KindOpt = Kind.zpl,
    timeout: TimeoutOpt = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the test label: every symbology, Vietnamese text and a calibration code."""
    _execute(url, kind, timeout, True, as_json)
