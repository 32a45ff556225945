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
    """Render TEMPLATE filled with --data to a PNG and list the codes it carries."""
    from edge.printers.label_data import LabelData
    from edge.printers.templates import ZplTemplate, load_template
    from lineside.codecs.render import render_zpl

    err = Console(stderr=True)
    try:
        text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
        unit = LabelData.model_validate(json.loads(text))
        loaded = load_template(template)
        if not isinstance(loaded, ZplTemplate):
            raise ConfigError(f"{template}: preview renders ZPL templates only")
        image = render_zpl(loaded.render(unit))
    except (ConfigError, ValidationError, json.JSONDecodeError, OSError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    image.save(out)
    import zxingcpp

    codes = [
        {"symbology": r.symbology_identifier, "text": r.text} for r in zxingcpp.read_barcodes(image)
    ]
    console = Console()
    if as_json:
        console.print_json(json.dumps({"out": str(out), "codes": codes}))
    else:
        console.print(f"wrote {out} ({image.width}x{image.height})")
        for code in codes:
            console.print(f"  {code['symbology']}  {code['text']}", markup=False)
