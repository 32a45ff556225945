"""``lineside demo``: the whole system on this machine, and ``lineside sim line``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lineside.errors import LinesideError

if TYPE_CHECKING:
    from app.demo.stack import DemoOptions, DemoStack, RunSummary

app = typer.Typer(
    name="demo",
    help="Run the whole system on this machine: broker, server, simulated lines, agents.",
    invoke_without_command=True,
)


@app.callback()
def demo(  # noqa: PLR0917 - one parameter per command-line option
    units: Annotated[int, typer.Option("--units", "-n", help="Units per line.")] = 1000,
    lines: Annotated[int, typer.Option("--lines", help="Packing lines (1-4).")] = 1,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Exit after the work order; print a JSON summary.")
    ] = False,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where the database, configs and logs go.")
    ] = Path("var/demo"),
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="Use this MQTT 5 broker (mqtt://host:port)."),
    ] = None,
    embedded_broker: Annotated[
        bool,
        typer.Option(
            "--embedded-broker",
            help="Use the embedded amqtt broker (MQTT 3.1.1) even when Mosquitto is installed.",
        ),
    ] = False,
    database: Annotated[
        str | None, typer.Option("--database", help="Database URL (default: SQLite in workdir).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="HTTP port of the server (0: free).")] = 0,
    paper_out: Annotated[
        bool,
        typer.Option("--paper-out/--no-paper-out", help="Run out of paper mid-run, then refill."),
    ] = True,
    rate: Annotated[
        float,
        typer.Option("--ips", help="Printer speed in inches per second (default: flat out)."),
    ] = 1e6,
) -> None:
    """Start everything, run a work order per line, show where to look; Ctrl+C stops it."""
    from app.demo.stack import DemoOptions

    options = DemoOptions(
        units=units,
        lines=lines,
        workdir=workdir,
        broker_url=broker,
        embedded_broker=embedded_broker,
        database_url=database,
        http_port=port,
        paper_out_after=max(1, units // 2) if paper_out else None,
        ips=rate,
    )
    err = Console(stderr=True)
    try:
        options.check()
    except LinesideError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    # Progress goes to stderr with --exit so that stdout is the JSON summary alone.
    console = err if exit_after else Console()
    try:
        code = asyncio.run(_main(options, console, exit_after))
    except LinesideError as exc:
        err.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


async def _main(options: DemoOptions, console: Console, exit_after: bool) -> int:
    from app.demo.stack import DemoStack

    loop = asyncio.get_running_loop()
    body = asyncio.current_task()
    assert body is not None
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            console.print("\n[yellow]stopping: agents finish their units and flush…[/yellow]")
            body.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    stack = DemoStack(options)
    try:
        with console.status("starting broker, server, ingestors, simulators and agents…"):
            await stack.start()
        _where_to_look(stack, console)
        await stack.start_work_orders()
        await _progress(stack, console)
        if exit_after:
            await stack.stop_agents()
            summary = await stack.summary(agents_stopped=True)
            sys.stdout.write(json.dumps(summary.to_json_dict(), ensure_ascii=False) + "\n")
            return 0 if summary.ok else 1
        summary = await stack.summary()
        _print_summary(summary, console, "[green]work orders closed[/green]")
        _consumer_qr(stack, console)
        console.print("Everything keeps running; [bold]Ctrl+C[/bold] stops it.")
        await asyncio.Event().wait()
        return 0
    except asyncio.CancelledError:
        body.uncancel()  # stopped on purpose: the summary below still has to run
        await _summary_when_stopped(stack, console, exit_after)
        return 130
    finally:
        # Shutting down must finish even when the run itself was cancelled.
        stopping = asyncio.ensure_future(stack.stop())
        while not stopping.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stopping)
        stopping.result()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_summary(summary: RunSummary, console: Console, title: str) -> None:
    console.print(
        f"{title}: {summary.commissioned} commissioned, "
        f"{summary.rejected} rejected, {summary.cases} cases; "
        f"{summary.events_stored}/{summary.events_published} events stored, "
        f"lost {summary.lost}, reconciled {summary.reconciled}, "
        f"{summary.seconds:.0f} s"
    )


async def _summary_when_stopped(stack: DemoStack, console: Console, exit_after: bool) -> None:
    """What the run made until Ctrl+C: the agents stop first (they flush their outboxes)."""
    if stack.observer is None:
        return  # stopped while starting: nothing was made
    try:
        async with asyncio.timeout(30):
            await stack.stop_agents()
            summary = await stack.summary(agents_stopped=True)
    except (TimeoutError, LinesideError, OSError) as exc:
        console.print(f"[yellow]no summary: {exc or 'timed out'}[/yellow]")
        return
    if exit_after:
        sys.stdout.write(json.dumps(summary.to_json_dict(), ensure_ascii=False) + "\n")
    _print_summary(summary, console, "[yellow]stopped[/yellow]")


def _where_to_look(stack: DemoStack, console: Console) -> None:
    rows = [
        f"Dashboard   {stack.base_url}/dashboard   (admin / {stack.admin_password})",
        f"API docs    {stack.base_url}/docs",
    ]
    from app.demo.stack import DEMO_PIN

    for parts in stack.lines:
        rows.append(
            f"Operator    http://127.0.0.1:{parts.web_port}/   line {parts.line_id}, PIN {DEMO_PIN}"
        )
    rows.append(f"Work dir    {stack.workdir}   (logs in logs/, line configs in lines/)")
    rows.append(f"Broker      {stack.broker_url}   ({stack.broker_name})")
    if stack.embedded:
        # Said plainly: the fallback does not give Mosquitto's guarantees.
        rows.append("            one ingestor; not durable: sessions live in memory, and what")
        rows.append("            a crashed ingestor had not acknowledged is not redelivered")
    console.print(Panel("\n".join(rows), title="Lineside demo: where to look", expand=False))


async def _progress(stack: DemoStack, console: Console) -> None:
    assert stack.observer is not None
    observer = stack.observer
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {
            p.line_id: progress.add_task(f"line {p.line_id}", total=stack.options.units, info="")
            for p in stack.lines
        }

        def tick() -> None:
            for parts in stack.lines:
                status = observer.view(parts.line_id).status
                if status is None:
                    continue
                c = status.counters
                info = f"{status.state.value}, rejected {c.rejected}, cases {c.cases}"
                if parts.physical is not None and parts.physical.paper_out:
                    info += " [red]PAPER OUT[/red]"
                progress.update(tasks[parts.line_id], completed=c.commissioned, info=info)

        await stack.wait_finished(timeout=max(300.0, stack.options.units / 5), tick=tick)
        tick()


def _consumer_qr(stack: DemoStack, console: Console) -> None:
    url = stack.consumer_url()
    if url is None:
        return
    import segno

    console.print(f"Consumer page of a unit: {url}")
    with contextlib.suppress(OSError, ValueError):
        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
