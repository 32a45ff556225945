"""``lineside epcis``: validate EPCIS 2.0 documents and compute event hashes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lineside.epcis.hashing import document_prehashes, hash_prehash
from lineside.epcis.validate import check_document
from lineside.errors import EPCISError

app = typer.Typer(
    name="epcis",
    help="EPCIS 2.0 documents: validate them, compute event hashes.",
    no_args_is_help=True,
)


def _load(path: Path, console: Console) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        console.print(f"[red]{escape(str(path))}: cannot be read: {escape(str(exc))}[/red]")
    except ValueError as exc:
        console.print(f"[red]{escape(str(path))}: not valid JSON: {escape(str(exc))}[/red]")
    raise typer.Exit(2)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD document.")],
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="EPCIS 2.0 JSON Schema file (default: $LINESIDE_EPCIS_SCHEMA, if set).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every problem of FILE with its JSON path; exit 1 when it is invalid."""
    console = Console(stderr=True, soft_wrap=True)
    data = _load(file, console)
    try:
        report = check_document(data, schema=schema)
    except EPCISError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    out = Console(soft_wrap=True)
    if as_json:
        payload = {
            "valid": report.valid,
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
        out.print(f"{escape(str(file))}: {verdict} (checks: {', '.join(report.checks)})")
    if not report.valid:
        raise typer.Exit(1)


@app.command("hash")
def hash_command(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD (query) document.")],
    prehash: Annotated[
        bool, typer.Option("--prehash", help="Also show the canonical pre-hash string.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the CBV 2.0 event hash and event type of every event in FILE."""
    console = Console(stderr=True, soft_wrap=True)
    data = _load(file, console)
    try:
        prehashes = document_prehashes(data)
        events = _event_types(data)
    except EPCISError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
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


def _event_types(data: Any) -> list[str]:
    body = data.get("epcisBody", {}) if isinstance(data, dict) else {}
    events = body.get("eventList")
    if events is None and "event" in body:
        events = [body["event"]]
    if events is None:
        events = body.get("queryResults", {}).get("resultsBody", {}).get("eventList", [])
    return [str(e.get("type")) for e in events]
