"""``lineside codes``: parse scans, build Digital Links, draw serials, check keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lineside.errors import GS1Error
from lineside.gs1.digital_link import GS1_RESOLVER_ROOT, key_and_qualifiers, to_digital_link
from lineside.gs1.keys import Gln, Gtin, Sscc
from lineside.gs1.message import GS, GS1Message
from lineside.gs1.scan import ScanResult, parse_scan
from lineside.gs1.serials import SerialGenerator

app = typer.Typer(
    name="codes",
    help="GS1 codes: parse scan data, build Digital Links, draw serials, check keys.",
    no_args_is_help=True,
)


def _unescape_gs(text: str) -> str:
    """Let a shell user type GS as ``\\x1d``, ``<GS>`` or ``^`` (after the first place)."""
    text = text.replace("\\x1d", GS).replace("\\x1D", GS).replace("<GS>", GS)
    if text.startswith("^"):
        text = text[1:]
    if not text.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        text = text.replace("^", GS)
    return text


def _interpret(text: str) -> ScanResult:
    """What ``codes parse`` shows: a scan, or the bracketed form people type from a label's
    human-readable text, ``(01)...(10)...``, which no scanner sends."""
    if not text.startswith("("):
        return parse_scan(text)
    try:
        message = GS1Message.parse(text)
        message.validate()
    except GS1Error as exc:
        raise GS1Error(f"bracketed element string: {exc}") from None
    key, qualifiers = key_and_qualifiers(message)
    return ScanResult(
        raw=text.encode(),
        symbology=None,
        symbology_name="bracketed element string",
        is_gs1=True,
        message=message,
        digital_link=None,
        primary_key=key,
        qualifiers=qualifiers,
        text=text,
    )


def _fail(console: Console, message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.command("parse")
def parse_command(
    raw: Annotated[
        str,
        typer.Argument(help="Scan data (']d2010893...10LOT^21SER') or '(01)...(10)...'."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Interpret scan data (with or without an AIM symbology identifier), or an element
    string in the bracketed form of a label's human-readable text."""
    console = Console()
    try:
        result = _interpret(_unescape_gs(raw.strip()))
    except GS1Error as exc:
        raise _fail(Console(stderr=True), str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_json_dict(), ensure_ascii=False))
        return
    console.print(
        f"symbology: {result.symbology or '-'} {result.symbology_name or ''}".rstrip(),
        highlight=False,
    )
    console.print(f"GS1: {'yes' if result.is_gs1 else 'no'}", highlight=False)
    if result.message is None:
        console.print(f"text: {result.text}", highlight=False, markup=False)
        return
    table = Table("AI", "title", "value")
    for element in result.message.elements:
        table.add_row(element.ai, element.title, element.value)
    console.print(table)
    if result.digital_link:
        console.print(f"digital link: {result.digital_link}", highlight=False, markup=False)
    if result.primary_key is not None:
        console.print(
            f"primary key: ({result.primary_key.ai}) {result.primary_key.value}",
            highlight=False,
            markup=False,
        )
    for warning in result.warnings:
        console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)


@app.command("dl")
def digital_link_command(
    element_string: Annotated[str, typer.Argument(help="Bracketed or raw element string.")],
    stem: Annotated[str, typer.Option(help="Resolver: scheme, domain, path.")] = GS1_RESOLVER_ROOT,
) -> None:
    """Build the GS1 Digital Link URI for an element string."""
    try:
        message = GS1Message.parse(_unescape_gs(element_string))
        uri = to_digital_link(message, stem=stem)
    except GS1Error as exc:
        raise _fail(Console(stderr=True), str(exc)) from None
    typer.echo(uri)


@app.command("serials")
def serials_command(
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many serials.")] = 10,
    length: Annotated[int, typer.Option(min=1, max=20, help="Characters per serial.")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Draw random serials and show the chance of guessing one of them."""
    try:
        generator = SerialGenerator(length=length)
    except GS1Error as exc:
        raise _fail(Console(stderr=True), str(exc)) from None
    serials = [generator.generate() for _ in range(count)]
    probability = generator.guess_probability(count)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "serials": serials,
                    "space_size": generator.space_size,
                    "guess_probability": probability,
                }
            )
        )
        return
    for serial in serials:
        typer.echo(serial)
    Console(stderr=True).print(
        f"{count} serials from {len(generator.symbols)} symbols x {length}: "
        f"guess probability {probability:.3e}",
        highlight=False,
    )


@app.command("check")
def check_command(
    key: Annotated[str, typer.Argument(help="GTIN-8/12/13/14, GLN (13) or SSCC (18).")],
) -> None:
    """Verify the check digit of a GTIN, GLN or SSCC (exit 1 when it is wrong)."""
    text = key.strip()
    if not text.isascii() or not text.isdigit():
        raise _fail(Console(stderr=True), f"key {text!r}: expected digits only")
    try:
        if len(text) == 18:
            kind, value = "SSCC", Sscc.parse(text).value
        elif len(text) in (8, 12, 13, 14):
            kind, value = "GTIN", Gtin.parse(text).value
            if len(text) == 13:
                # A 13-digit key is both a GTIN-13 and a GLN; the check digit is the same.
                kind = "GTIN-13 / GLN"
                Gln.parse(text)
        else:
            raise _fail(
                Console(stderr=True),
                f"key {text}: {len(text)} digits is not a GTIN (8/12/13/14), GLN (13) or SSCC (18)",
            )
    except GS1Error as exc:
        raise _fail(Console(stderr=True), str(exc), code=1) from None
    typer.echo(f"{kind} {value}: check digit OK")
