"""``lineside scanner``: watch a scanner's reads live, run the calibration self-test."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape

from edge.scanners import ScannerState, ScannerStatus, ScanRead, open_scanner
from edge.scanners.selftest import CALIBRATION_MESSAGE, check_calibration
from lineside.errors import ConfigError, DeviceError

app = typer.Typer(
    name="scanner",
    help="Barcode scanners: print reads live, run the calibration self-test.",
    no_args_is_help=True,
)

URL_HELP = (
    "Scanner URL: serial:///dev/ttyACM0, tcp://host:port, tcp-listen://0.0.0.0:port, "
    "hid:///dev/input/eventN, camera://0, camera:///path/video.mp4"
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace").replace("\x1d", "<GS>")


def _present(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    return ", ".join(found[:8]) if found else "none"


def missing_device_hint(url: str, detail: str) -> str:
    """What to check when the scanner at ``url`` cannot be reached (``detail``: why)."""
    parts = urlsplit(url)
    scheme, lowered = parts.scheme, detail.lower()
    if scheme in ("serial", "hid"):
        path = Path(parts.path)
        if "permission" in lowered:
            group = "dialout" if scheme == "serial" else "input"
            return (
                f"no permission on {path}: add the user to the '{group}' group "
                f"(sudo usermod -aG {group} $USER) and sign in again"
            )
        if not path.exists():
            if scheme == "serial":
                return (
                    f"{path} does not exist: is the scanner plugged in? USB scanners appear "
                    f"as /dev/ttyACM* (present: {_present('/dev/ttyACM*')}), USB-serial cables "
                    f"as /dev/ttyUSB* (present: {_present('/dev/ttyUSB*')}); "
                    "lineside devices lists them"
                )
            return (
                f"{path} does not exist: is the scanner plugged in? lineside devices lists "
                "the input devices"
            )
    if scheme == "tcp" and any(w in lowered for w in ("refused", "unreachable", "connect")):
        return (
            f"nothing answers at {parts.netloc}: is the scanner on the network, in TCP server "
            "mode, on this port? (a scanner that connects to us needs tcp-listen://)"
        )
    return "check the cable and the URL; lineside devices lists what is connected"


def read_to_json(read: ScanRead) -> dict[str, Any]:
    """One read as JSON-ready data (what ``listen --json`` prints per line)."""
    return {
        "device_id": read.device_id,
        "wall_time": read.wall_time.isoformat(),
        "monotonic": read.monotonic,
        "symbology": read.symbology,
        "raw": read.raw.decode("utf-8", errors="backslashreplace"),
        "ok": read.ok,
        "error": read.error,
        "result": read.result.to_json_dict() if read.result is not None else None,
    }


@app.command("listen")
def listen_command(
    url: Annotated[str, typer.Argument(help=URL_HELP)],
    device_id: Annotated[str, typer.Option("--device-id", help="Name in the output.")] = "scanner",
    count: Annotated[
        int, typer.Option("--count", min=0, help="Stop after N reads (0: never).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per read.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for a scanner that is not there yet (retry)."),
    ] = False,
) -> None:
    """Print every read, parsed, as it arrives (Ctrl+C to stop).

    A scanner that cannot be reached at the start is reported once, with what to check,
    and the command exits 1 (``--wait`` retries until it appears). Once connected, a lost
    link is reported once and retried.
    """
    try:
        scanner = open_scanner(url, device_id)
    except (ConfigError, DeviceError) as exc:
        raise _fail(str(exc)) from None
    console = Console()
    # The command reports the link itself: the scanner's own retry warnings would say
    # every failure a second time.
    logging.getLogger("edge.scanners").setLevel(logging.ERROR)
    missing: list[str] = []

    async def listen() -> None:
        seen = 0
        reached = False
        last_state: ScannerState | None = None
        async with contextlib.aclosing(scanner.events()) as events:
            async for event in events:
                if isinstance(event, ScannerStatus):
                    if event.state in (ScannerState.CONNECTED, ScannerState.LISTENING):
                        reached = True
                    elif event.state is ScannerState.DISCONNECTED and not reached and not wait:
                        missing.append(event.detail)
                        return
                    if not as_json and event.state is not last_state:
                        retry = (
                            f" (retrying every {event.retry_in:.1f} s or more)"
                            if event.retry_in
                            else ""
                        )
                        console.print(
                            f"[dim]{event.state.value}: {escape(event.detail)}{retry}[/dim]",
                            highlight=False,
                        )
                    last_state = event.state
                    continue
                seen += 1
                if as_json:
                    typer.echo(json.dumps(read_to_json(event), ensure_ascii=False))
                elif event.result is not None:
                    result = event.result
                    body = (
                        result.message.as_bracketed() if result.message is not None else result.text
                    )
                    console.print(
                        f"[green]{escape(result.symbology or '-')}[/green] "
                        f"{escape(result.symbology_name or '')} {escape(body)}",
                        highlight=False,
                    )
                else:
                    console.print(
                        f"[red]bad read[/red] {escape(_shown(event.raw))}: "
                        f"{escape(event.error or '')}",
                        highlight=False,
                    )
                if count and seen >= count:
                    return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(listen())
    if missing:
        hint = missing_device_hint(url, missing[0])
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/red] {escape(missing[0])}\nhint: {escape(hint)}",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command("selftest")
def selftest_command(
    url: Annotated[str, typer.Argument(help=URL_HELP)],
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the scan.")
    ] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Ask for a scan of the calibration code and say what did not survive (exit 1)."""
    try:
        scanner = open_scanner(url, "selftest")
    except (ConfigError, DeviceError) as exc:
        raise _fail(str(exc)) from None
    console = Console(stderr=as_json)
    console.print(
        f"Scan the calibration label now: GS1 DataMatrix {escape(CALIBRATION_MESSAGE)}",
        highlight=False,
    )

    async def first_read() -> ScanRead | None:
        async with contextlib.aclosing(scanner.reads()) as reads:
            try:
                async with asyncio.timeout(timeout):
                    async for read in reads:
                        return read
            except TimeoutError:
                return None
        return None

    read = asyncio.run(first_read())
    if read is None:
        raise _fail(f"no read within {timeout:g} s: is the scanner connected and triggered?", 1)
    report = check_calibration(read.raw, wedge=url.startswith("hid:"))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "passed": report.passed,
                    "received": report.received,
                    "expected": report.expected,
                    "findings": [{"ok": f.ok, "message": f.message} for f in report.findings],
                },
                ensure_ascii=False,
            )
        )
    else:
        out = Console()
        out.print(f"received: {escape(_shown(read.raw))}", highlight=False)
        for finding in report.findings:
            mark = "[green]ok[/green]  " if finding.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {escape(finding.message)}", highlight=False)
        out.print("[green]PASS[/green]" if report.passed else "[red]FAILED[/red]", highlight=False)
    if not report.passed:
        raise typer.Exit(1)


@app.command("grade")
def grade_command(
    image: Annotated[str, typer.Argument(help="A picture from the verify camera (PNG, JPEG...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Grade the print quality of every code in IMAGE, A (best) to F.

    ISO/IEC 15415-style parameters for DataMatrix and QR, 15416-style for Code 128; a
    symbol's grade is its lowest parameter's. These are process-control grades from an
    uncalibrated camera, not a certified verification. Exit 1 when no code is found.
    """
    from PIL import Image, UnidentifiedImageError

    from edge.scanners.grading import GRADES, NOTE, grade_image

    try:
        with Image.open(image) as picture:
            symbols = grade_image(picture)
    except (OSError, UnidentifiedImageError) as exc:
        raise _fail(f"{image}: cannot read the picture: {exc}") from exc
    if not symbols:
        raise _fail(f"{image}: no DataMatrix, QR or Code 128 found", code=1)
    overall = min((s.grade for s in symbols), key=GRADES.index)
    console = Console()
    if as_json:
        report = {"grade": overall, "note": NOTE, "symbols": [s.as_dict() for s in symbols]}
        console.print_json(json.dumps(report, ensure_ascii=False))
        return
    console.print(f"grade {overall}  ({NOTE})", markup=False, soft_wrap=True)
    for symbol in symbols:
        console.print(
            f"{symbol.symbology} {symbol.grade}  {_shown(symbol.text.encode())}", markup=False
        )
        for p in symbol.parameters:
            console.print(f"  {p.name:25} {p.value:7.3f}  {p.grade}", markup=False)
