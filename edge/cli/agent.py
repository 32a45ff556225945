"""``lineside edge``: check a line's configuration, load work orders, run the agent.

The ``run`` command is added to this group by the application layer (``app.agent_cli``):
its ``--simulate`` puts the agent on the simulated line, which only that layer may
compose with the edge. It runs through :func:`run_agent`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from lineside.contract import WorkOrder
from lineside.errors import ConfigError, LinesideError

if TYPE_CHECKING:
    from edge.line_devices import LineDevices

app = typer.Typer(
    name="edge", help="The line agent: configuration, work orders, running.", no_args_is_help=True
)
order_app = typer.Typer(name="order", help="Work orders on this line.", no_args_is_help=True)
app.add_typer(order_app)

console = Console()
errors = Console(stderr=True)


def _config(path: Path):  # type: ignore[no-untyped-def]
    from edge.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        errors.print(str(exc), markup=False)
        errors.print(
            f"hint: lineside edge check-config {path} lists every problem at once",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from exc


@app.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(help="The line's TOML configuration.")],
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    demo: bool = typer.Option(
        False, "--demo", help="A demo or test file: allow the demo PIN and URL passwords."
    ),
    file_only: bool = typer.Option(
        False,
        "--file-only",
        help="Check the file alone, not what it needs from this machine (secrets, "
        "journal directory, GPIO): for a configuration written for another machine.",
    ),
) -> None:
    """Check everything ``edge run`` would: keys, URLs, check digits, templates and their
    preflight, devices, secrets, paths, and no demo PIN or inline password outside a demo.
    Every problem is listed at once, with its key path."""
    from edge.config import load_config
    from edge.config_check import check_config

    problems = check_config(file, this_machine=not file_only, demo=demo)
    if problems:
        if as_json:
            console.print_json(json.dumps({"ok": False, "errors": problems}, ensure_ascii=False))
        else:
            for problem in problems:
                errors.print(problem, markup=False, soft_wrap=True)
            errors.print(f"{len(problems)} problem(s): edge run would refuse this", markup=False)
        raise typer.Exit(2)
    cfg = load_config(file)
    if as_json:
        console.print_json(
            json.dumps(
                {"ok": True, "line": cfg.line.line_id, "devices": [d.id for d in cfg.devices]}
            )
        )
        return
    console.print(
        f"[green]OK[/green] {file.name}: line {cfg.line.site}/{cfg.line.line_id}, "
        f"{len(cfg.devices)} devices, reject output {cfg.reject.kind}"
    )
    for device in cfg.devices:
        console.print(f"  {device.role:15} {device.id:20} {device.url}", markup=False)


@app.command("hash-pin")
def hash_pin_command(
    pin: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="The operator's PIN (4-12 digits).",
    ),
) -> None:
    """Print the hash of an operator PIN for the [[operators]] section."""
    from edge.config import hash_pin

    try:
        console.print(hash_pin(pin), markup=False)
    except ConfigError as exc:
        errors.print(str(exc), markup=False)
        raise typer.Exit(2) from exc


def read_work_order(file: Path) -> WorkOrder:
    """A work order from a TOML or JSON file; raises ``ConfigError`` naming file and key."""
    try:
        raw = file.read_bytes()
        data = tomllib.loads(raw.decode()) if file.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{file.name}: cannot read work order: {exc}") from exc
    try:
        return WorkOrder.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{file.name}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("\n".join(problems)) from exc


@order_app.command("load")
def order_load(
    file: Annotated[Path, typer.Argument(help="Work order (TOML or JSON).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The line's configuration.")],
) -> None:
    """Load a work order into the line's journal (the agent starts it from the screen)."""
    from edge.journal import Journal, WorkOrderState

    cfg = _config(config)
    try:
        order = read_work_order(file)
    except ConfigError as exc:
        errors.print(str(exc), markup=False)
        raise typer.Exit(2) from exc
    journal = Journal.open(cfg.outbox.path)
    try:
        open_orders = [o for o, _ in journal.work_orders.open_orders() if o.id != order.id]
        if open_orders:
            errors.print(
                f"work order {open_orders[0].id!r} is still open on this line; close it first",
                markup=False,
            )
            raise typer.Exit(1)
        journal.work_orders.save(order, WorkOrderState.LOADED)
    finally:
        journal.close()
    console.print(
        f"loaded work order {order.id}: {order.quantity} x {order.product.gtin} lot {order.lot}",
        markup=False,
    )


@app.command("report")
def report(
    work_order: Annotated[str, typer.Argument(help="Work order id.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The line's configuration.")],
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a closed work order's reconciliation report (exit 1 if it does not balance)."""
    from edge.journal import Journal
    from edge.reports import report_json, report_text
    from lineside.contract import ReconciliationReport

    cfg = _config(config)
    journal = Journal.open(cfg.outbox.path)
    try:
        body = journal.work_orders.report(work_order)
    finally:
        journal.close()
    if body is None:
        errors.print(f"no reconciliation report for work order {work_order!r}", markup=False)
        raise typer.Exit(2)
    rep = ReconciliationReport.model_validate_json(body)
    console.print(report_json(rep) if as_json else report_text(rep), markup=False)
    if not rep.balanced:
        raise typer.Exit(1)


def run_agent(config: Path, *, devices: LineDevices | None = None, verbose: bool = False) -> None:
    """Run the agent of the line ``config`` describes until SIGTERM: ``lineside edge run``.

    ``devices`` replaces the devices the configuration names (the application layer's
    simulated line). Exits 2 on a bad configuration, with the agent's exit status after
    a journal failure.
    """
    from edge.agent import Agent

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cfg = _config(config)
    try:
        agent = Agent(cfg, devices=devices)
        asyncio.run(agent.run())
    except LinesideError as exc:
        errors.print(str(exc), markup=False)
        raise typer.Exit(2) from exc
    if agent.exit_code:
        errors.print(f"agent stopped: {agent.engine.failure}", markup=False)
        raise typer.Exit(agent.exit_code)


@app.command("audit")
def audit(
    *,
    config: Annotated[Path, typer.Option("--config", "-c", help="The line's configuration.")],
    verify: bool = typer.Option(False, "--verify", help="Check the hash chain (exit 1 if broken)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Print the line's audit trail (void, reprint, override, close), optionally verified."""
    from rich.table import Table
    from rich.text import Text

    from edge.journal import Journal

    cfg = _config(config)
    if not cfg.outbox.path.exists():
        errors.print(f"{cfg.outbox.path}: no journal (the agent never ran here)", markup=False)
        raise typer.Exit(2)
    journal = Journal.open(cfg.outbox.path)
    try:
        problems = journal.audit.verify() if verify else []
        try:
            records = journal.audit.records()
        except LinesideError:
            records = []  # a row no longer parses; the problems name it
            if not verify:
                problems = journal.audit.verify()
    finally:
        journal.close()
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "records": [json.loads(r.model_dump_json()) for r in records],
                    "verified": verify,
                    "problems": problems,
                },
                ensure_ascii=False,
            )
        )
    else:
        table = Table("seq", "at", "actor", "action", "target", "reason")
        for r in records:
            cells = (str(r.seq), r.at.isoformat(timespec="seconds"), r.actor, r.action)
            table.add_row(*(Text(c) for c in (*cells, r.target, r.reason)))
        console.print(table)
        for problem in problems:
            errors.print(f"BROKEN: {problem}", markup=False)
        if verify and not problems:
            console.print(f"[green]chain intact[/green]: {len(records)} records")
    if problems:
        raise typer.Exit(1)
