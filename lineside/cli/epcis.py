"""``lineside epcis``: validate EPCIS 2.0 documents (JSON-LD or XML, or EPCIS 1.x XML read
as 2.0), compute event hashes, convert between the two bindings."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lineside.epcis.bindings import Binding, binding_for
from lineside.epcis.hashing import document_prehashes, hash_prehash
from lineside.epcis.models import parse_document
from lineside.epcis.validate import ValidationReport, check_document
from lineside.errors import EPCISError

# lineside.epcis.xml (and lxml) is imported only by the commands that read or write XML.

app = typer.Typer(
    name="epcis",
    help="EPCIS 2.0 documents (JSON-LD or XML; EPCIS 1.x XML is read as 2.0): validate, "
    "hash events, convert.",
    no_args_is_help=True,
)


class Target(StrEnum):
    """The binding ``convert`` writes (``json`` and ``jsonld`` are the same)."""

    JSONLD = "jsonld"
    JSON = "json"
    XML = "xml"


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(2)


def _read(path: Path, console: Console) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(console, f"{path}: cannot be read: {exc}") from exc


def _load(path: Path, console: Console) -> tuple[Any, Binding, bytes]:
    """The document as JSON-LD data, the binding it was written in, and its bytes."""
    raw = _read(path, console)
    binding = binding_for(raw)
    if binding is Binding.XML:
        from lineside.epcis.xml import xml_to_jsonld

        try:
            return xml_to_jsonld(raw), binding, raw
        except EPCISError as exc:
            raise _fail(console, f"{path}: {exc}") from exc
    try:
        return json.loads(raw), binding, raw
    except ValueError as exc:
        raise _fail(console, f"{path}: not valid JSON: {exc}") from exc


def _with_xsd(
    report: ValidationReport, raw: bytes, xsd: Path, console: Console
) -> ValidationReport:
    from lineside.epcis.xml import XMLSchemaCheck

    try:
        issues = XMLSchemaCheck(xsd).issues(raw)
    except EPCISError as exc:
        raise _fail(console, str(exc)) from exc
    return ValidationReport(report.issues + tuple(issues), (*report.checks, "xsd"))


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 document (JSON-LD or XML) or 1.x XML.")],
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="EPCIS 2.0 JSON Schema file (default: $LINESIDE_EPCIS_SCHEMA, if set).",
        ),
    ] = None,
    xsd: Annotated[
        Path | None,
        typer.Option("--xsd", help="Folder holding the EPCIS 2.0 XSD files (XML documents only)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every problem of FILE with its path; exit 1 when it is invalid.

    An XML document is checked in its JSON-LD form (paths are JSON-LD paths), and against
    the XSD when --xsd is given (paths are line numbers). An EPCIS 1.x document is checked
    in its 2.0 form.
    """
    console = Console(stderr=True, soft_wrap=True)
    data, binding, raw = _load(file, console)
    try:
        report = check_document(data, schema=schema)
    except EPCISError as exc:
        raise _fail(console, str(exc)) from exc
    if xsd is not None:
        if binding is not Binding.XML:
            raise _fail(console, f"--xsd: {file} is JSON, the XSD applies to XML documents")
        report = _with_xsd(report, raw, xsd, console)
    out = Console(soft_wrap=True)
    if as_json:
        payload = {
            "valid": report.valid,
            "binding": binding.value,
            "checks": list(report.checks),
            "issues": [
                {"path": i.path, "message": i.message, "check": i.check} for i in report.issues
            ],
        }
        out.print_json(json.dumps(payload))
    else:
        for issue in report.issues:
            out.print(f"[red]✗[/red] {escape(issue.path)}: {escape(issue.message)}")
        verdict = "[green]valid[/green]" if report.valid else "[red]invalid[/red]"
        out.print(
            f"{escape(str(file))} ({binding.value}): {verdict} (checks: {', '.join(report.checks)})"
        )
    if not report.valid:
        raise typer.Exit(1)


@app.command("hash")
def hash_command(
    file: Annotated[
        Path, typer.Argument(help="EPCIS 2.0 (query) document, JSON-LD or XML, or 1.x XML.")
    ],
    prehash: Annotated[
        bool, typer.Option("--prehash", help="Also show the canonical pre-hash string.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the CBV 2.0 event hash and event type of every event in FILE (an EPCIS 1.x
    document's events hash as their 2.0 form)."""
    console = Console(stderr=True, soft_wrap=True)
    data, _, _ = _load(file, console)
    try:
        prehashes = document_prehashes(data)
        events = _event_types(data)
    except EPCISError as exc:
        raise _fail(console, str(exc)) from exc
    rows = [
        {"hash": hash_prehash(p), "type": t, "prehash": p}
        for p, t in zip(prehashes, events, strict=True)
    ]
    out = Console(soft_wrap=True)
    if as_json:
        out.print_json(
            json.dumps([r if prehash else {k: r[k] for k in ("hash", "type")} for r in rows])
        )
        return
    for row in rows:
        out.print(f"{row['hash']} {row['type']}", markup=False, highlight=False)
        if prehash:
            out.print(f"  {row['prehash']}", markup=False, highlight=False)


@app.command()
def convert(
    file: Annotated[
        Path, typer.Argument(help="EPCIS 2.0 (query) document, JSON-LD or XML, or 1.x XML.")
    ],
    to: Annotated[Target, typer.Option("--to", help="The EPCIS 2.0 binding to write.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Rewrite FILE in the other binding (or the same one, normalised).

    The events keep their hashes; CBV terms are written bare in JSON-LD and as URNs in XML.
    An EPCIS 1.x XML document becomes EPCIS 2.0 by the standard's mapping (its header
    included, when written as XML).
    """
    from lineside.epcis.xml import document_to_xml, upgrade_xml

    console = Console(stderr=True, soft_wrap=True)
    data, binding, raw = _load(file, console)
    try:
        document = parse_document(data)
        upgraded = upgrade_xml(raw) if binding is Binding.XML and to is Target.XML else None
        if upgraded is not None:
            text = upgraded
        elif to is Target.XML:
            text = document_to_xml(document)
        else:
            text = (json.dumps(document.to_jsonld(), indent=2, ensure_ascii=False) + "\n").encode()
    except EPCISError as exc:
        raise _fail(console, f"{file}: {exc}") from exc
    if output is None:
        typer.echo(text.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(text)
    except OSError as exc:
        raise _fail(console, f"{output}: cannot be written: {exc}") from exc
    console.print(f"{escape(str(output))}: written ({to.value})")


def _event_types(data: Any) -> list[str]:
    body = data.get("epcisBody", {}) if isinstance(data, dict) else {}
    events = body.get("eventList")
    if events is None and "event" in body:
        events = [body["event"]]
    if events is None:
        events = body.get("queryResults", {}).get("resultsBody", {}).get("eventList", [])
    return [str(e.get("type")) for e in events]
