"""``lineside label``: preview a label template without a printer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from lineside.errors import ConfigError

app = typer.Typer(name="label", help="Preview and check label templates.", no_args_is_help=True)


@app.command()
def preview(
    template: Annotated[Path, typer.Argument(help="A .zpl template (or .toml ESC/POS layout).")],
    data: Annotated[str, typer.Option("--data", help="Unit data as JSON, or @file.json.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("label.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Render TEMPLATE filled with --data to a PNG and list the codes it carries, and
    the problems the preflight finds (see ``label check``)."""
    from edge.printers.label_data import LabelData
    from edge.printers.preflight import application_of, check_label
    from edge.printers.templates import ZplTemplate, load_template
    from lineside.codecs.render import render_zpl

    err = Console(stderr=True)
    try:
        text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
        unit = LabelData.model_validate(json.loads(text))
        loaded = load_template(template)
        check = check_label(loaded, unit, application=application_of(Path(template).name))
        image = render_zpl(loaded.render(unit)) if isinstance(loaded, ZplTemplate) else check.image
    except (ConfigError, ValidationError, json.JSONDecodeError, OSError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    image.save(out)
    import zxingcpp

    codes = [
        {"symbology": r.symbology_identifier, "text": r.text} for r in zxingcpp.read_barcodes(image)
    ]
    console = Console()
    problems = [p.as_dict() for p in check.problems]
    if as_json:
        console.print_json(json.dumps({"out": str(out), "codes": codes, "problems": problems}))
    else:
        console.print(f"wrote {out} ({image.width}x{image.height})")
        for code in codes:
            console.print(f"  {code['symbology']}  {code['text']}", markup=False)
        for problem in check.problems:
            console.print(f"  problem: {problem}", markup=False, highlight=False, soft_wrap=True)


def _read_data(data: str | None, application: str) -> object:
    from edge.printers.label_data import LabelData
    from edge.printers.preflight import SAMPLE_CASE, SAMPLE_UNIT

    if data is None:
        return SAMPLE_CASE if application == "case" else SAMPLE_UNIT
    spec = data.removeprefix("@")
    text = data if data.lstrip().startswith("{") else Path(spec).read_text(encoding="utf-8")
    return LabelData.model_validate(json.loads(text))


@app.command()
def check(
    template: Annotated[
        str, typer.Argument(help="A .zpl template, a .toml ESC/POS layout, or builtin:NAME.")
    ],
    *,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Unit data: a JSON file (default: a demanding sample)."),
    ] = None,
    application: Annotated[
        str | None,
        typer.Option(
            "--application", help="unit or case (default: case for templates named case*)."
        ),
    ] = None,
    dpi: Annotated[int, typer.Option("--dpi", help="The printer's resolution.")] = 203,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the rendered label (PNG).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Preflight TEMPLATE: render it and list every problem; exit 1 when there is any.

    Checks that every symbol decodes back to its data, quiet zones, the label's edges,
    overlaps, truncated text, font glyphs, GS1 syntax and check digits, human-readable
    text against the encoded data, and X-dimensions against GS1's specification.
    """
    from edge.printers.label_data import LabelData
    from edge.printers.preflight import application_of, check_label
    from edge.printers.templates import builtin_or_path, load_template

    err = Console(stderr=True)
    name = builtin_or_path(template).name
    applied = application or application_of(name)
    if applied not in ("unit", "case"):
        err.print(f"error: --application {applied!r}: expected unit or case", markup=False)
        raise typer.Exit(2)
    try:
        unit = _read_data(data, applied)
        loaded = load_template(template)
    except (ConfigError, ValidationError, json.JSONDecodeError, OSError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    assert isinstance(unit, LabelData)
    result = check_label(loaded, unit, application=applied, dpi=dpi)  # type: ignore[arg-type]
    if out is not None:
        result.image.save(out)
    console = Console()
    if as_json:
        problems = [p.as_dict() for p in result.problems]
        report = {"template": template, "ok": result.ok, "problems": problems}
        console.print_json(json.dumps(report))
    elif result.ok:
        console.print(f"[green]OK[/green] {template}: the label passes its preflight")
    else:
        summary = f"{template}: {len(result.problems)} problem(s)"
        console.print(summary, markup=False, soft_wrap=True)
        for problem in result.problems:
            line = f"  {problem.kind:12} {problem}"
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)
