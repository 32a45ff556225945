"""``lineside bench``: every benchmark, one JSON report with baselines and ratios.

Each figure is measured side by side with its baseline in the same run (see
:class:`app.bench.report.Figure`), because on a shared machine only ratios are stable.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.bench.report import Figure
from lineside import __version__

app = typer.Typer(
    name="bench",
    help="Run benchmarks (print, decode, line, ingest, trace, e2e) and write a JSON report.",
    invoke_without_command=True,
)

Suite = Callable[[bool], list[Figure]]


def _print_suite(quick: bool) -> list[Figure]:
    from app.bench.printing import bench_print

    return bench_print(seconds=0.5 if quick else 2.0)


def _decode_suite(quick: bool) -> list[Figure]:
    from app.bench.decoding import bench_decode, bench_framing

    return [*bench_decode(frames=6 if quick else 90), *bench_framing()]


def _line_suite(quick: bool, units: int | None = None) -> list[Figure]:
    from app.bench.line import bench_line

    return bench_line(units=units or (500 if quick else 5000))


def _ingest_suite(quick: bool) -> list[Figure]:
    from app.bench.ingest import bench_ingest

    return bench_ingest(events=2000 if quick else 20000)


def _trace_suite(quick: bool) -> list[Figure]:
    from app.bench.trace import bench_trace

    if quick:
        return bench_trace(events=100_000, sqlite_events=20_000, queries=300)
    return bench_trace(events=10_000_000, sqlite_events=200_000, queries=1000)


def _e2e_suite(quick: bool) -> list[Figure]:
    from app.bench.e2e import bench_end_to_end

    return bench_end_to_end(units=300 if quick else 3000)


def _replica_suite(quick: bool) -> list[Figure]:
    from app.bench.replica import bench_replica

    if quick:
        return bench_replica(events=20_000, seconds=8.0, phase=1.0)
    return bench_replica()


def _cluster_suite(quick: bool) -> list[Figure]:
    from app.bench.cluster import bench_cluster

    return bench_cluster(quick=quick)


SUITES: dict[str, Suite] = {
    "print": _print_suite,
    "decode": _decode_suite,
    "line": _line_suite,
    "ingest": _ingest_suite,
    "trace": _trace_suite,
    "e2e": _e2e_suite,
}
#: Run only when named (``lineside bench replica``, ``lineside bench cluster``): they start
#: servers of their own (a PostgreSQL pair, a dozen broker and aggregator processes) and take
#: minutes.
OPT_IN_SUITES: dict[str, Suite] = {"replica": _replica_suite, "cluster": _cluster_suite}

QuickOption = Annotated[bool, typer.Option("--quick", help="Smaller runs, for a smoke test.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Where to write the JSON report.", dir_okay=False)
]


def _load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: how busy the machine was around a figure."""
    return [round(load, 2) for load in os.getloadavg()]


def _cpu_ticks() -> tuple[int, int]:
    """(stolen, all) CPU time of the machine since boot, in clock ticks (``/proc/stat``):
    on a virtual machine, time the host gave to others while we wanted to run."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(f) for f in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def _steal_share(before: tuple[int, int]) -> float:
    stolen, total = (now - then for now, then in zip(_cpu_ticks(), before, strict=True))
    return round(stolen / total, 3) if total > 0 else 0.0


def _python_reference_s() -> float:
    """Seconds for a fixed pure-Python loop: how fast this machine runs Python right now,
    to compare absolute figures between machines (ratios need no such help)."""
    started = time.perf_counter()
    total = 0
    for n in range(3_000_000):
        total += n & 7
    return round(time.perf_counter() - started, 3)


def run_suites(
    names: list[str], quick: bool, suites: dict[str, Suite] | None = None
) -> dict[str, Any]:
    """Run the named suites and return the report (figures, errors, machine).

    ``suites`` replaces some of them (a suite run with its command's options)."""
    report: dict[str, Any] = {
        "lineside": __version__,
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": _load_average(),
            "python_reference_s": _python_reference_s(),
        },
        "quick": quick,
        "suites": {},
    }
    for name in names:
        started = time.perf_counter()
        ticks = _cpu_ticks()
        entry: dict[str, Any] = {}
        try:
            suite = (suites or {}).get(name) or SUITES.get(name) or OPT_IN_SUITES[name]
            entry["figures"] = [figure.to_json_dict() for figure in suite(quick)]
        except Exception as exc:  # one failing suite must not hide the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["seconds"] = round(time.perf_counter() - started, 2)
        entry["load_average_after"] = _load_average()
        entry["cpu_steal_share"] = _steal_share(ticks)
        report["suites"][name] = entry
    return report


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def render_table(report: dict[str, Any], console: Console) -> None:
    """Print the report as a short human-readable table."""
    table = Table(title="Lineside benchmarks")
    for column in ("suite", "figure", "value", "unit", "target", "baseline", "ratio", "ok"):
        table.add_column(column)
    for suite, entry in report["suites"].items():
        if "error" in entry:
            table.add_row(suite, "[red]failed[/red]", entry["error"], "", "", "", "", "✗")
            continue
        for fig in entry["figures"]:
            verdict = {True: "✓", False: "✗", None: ""}[fig["meets_target"]]
            baseline = "-"
            if fig["baseline"] is not None:
                baseline = f"{fig['baseline_name']}={_fmt(fig['baseline'])}"
            table.add_row(
                suite,
                fig["name"],
                _fmt(fig["value"]),
                fig["unit"],
                _fmt(fig["target"]),
                baseline,
                _fmt(fig["ratio"]),
                verdict,
            )
    console.print(table)
    machine = report["machine"]
    loads = ", ".join(
        f"{suite} {entry['load_average_after'][0]}" for suite, entry in report["suites"].items()
    )
    steal = ", ".join(
        f"{suite} {entry['cpu_steal_share']:.0%}" for suite, entry in report["suites"].items()
    )
    console.print(
        f"{machine['cpus']} CPUs; 1-min load average at start "
        f"{machine['load_average_at_start'][0]}, after each suite: {loads}"
    )
    console.print(
        f"Python reference loop {machine['python_reference_s']} s; "
        f"CPU time stolen by the host during each suite: {steal}"
    )


def _run(
    names: list[str], quick: bool, out: Path | None, suites: dict[str, Suite] | None = None
) -> None:
    report = run_suites(names, quick, suites)
    target = out or Path("bench-report.json")
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console = Console()
    if not console.is_terminal:
        # Redirected to a file: keep figure names whole rather than fit 80 columns.
        console = Console(width=160)
    render_table(report, console)
    console.print(f"Report written to {target}")
    if any("error" in entry for entry in report["suites"].values()):
        raise typer.Exit(1)


@app.callback()
def _all(ctx: typer.Context, quick: QuickOption = False, out: OutOption = None) -> None:
    """Without a sub-command, run every suite."""
    if ctx.invoked_subcommand is None:
        _run(list(SUITES), quick, out)


def _register(name: str, help_text: str) -> None:
    def command(quick: QuickOption = False, out: OutOption = None) -> None:
        _run([name], quick, out)

    command.__doc__ = help_text
    app.command(name)(command)


_register("print", "Labels generated per second (ZPL, ESC/POS) and through TCP.")
_register("decode", "Camera frames decoded with zxing-cpp vs pyzbar; serial framing rate.")
UnitsOption = Annotated[
    int | None,
    typer.Option("--units", min=1, help="Units in the flat-out run (default 5,000; 500 quick)."),
]


@app.command("line")
def _line(quick: QuickOption = False, out: OutOption = None, units: UnitsOption = None) -> None:
    """The line engine against simulators and Mosquitto: units/s, latency, memory."""
    _run(["line"], quick, out, {"line": lambda q: _line_suite(q, units)})


_register("ingest", "Ingest into PostgreSQL (1, 2, 4 ingestors) and SQLite vs the broker alone.")
_register(
    "trace",
    "Trace latency over 10 million stored events (PostgreSQL, loaded once with COPY and "
    "kept) and the load time; SQLite at 200,000.",
)
_register("e2e", "Allocation to stored-at-server, everything on one host.")
_register(
    "replica",
    "Traces from a streaming standby vs the primary under an ingest load; replication lag "
    "(opt-in: starts its own PostgreSQL pair, not part of the default run).",
)
_register(
    "cluster",
    "Three-node NATS cluster vs one Mosquitto: events/s, and a node and an aggregator killed"
    " (not in the default run).",
)
