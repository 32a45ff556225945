"""End-to-end benchmark: the demo's whole system, from allocation at the agent to storage."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from app.bench.report import Figure, percentile
from app.demo.stack import DemoLineParts, DemoOptions, DemoStack
from edge.journal import Journal, SerialState
from simulators.line import ReadScript


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def measure_latencies(stack: DemoStack, parts: DemoLineParts) -> tuple[list[float], float, float]:
    """Per commissioned unit: seconds from its allocation (agent journal) to its
    commissioning event stored at the server; and the first allocation / last storage."""
    from sqlalchemy import select

    from server.db import make_engine
    from server.db.models import Event, EventEpc

    journal = Journal.open(parts.journal_path)
    try:
        allocated = journal.serials.allocated_at(parts.work_order_code, SerialState.COMMISSIONED)
    finally:
        journal.close()
    engine = make_engine(stack.database_url)
    stored: dict[str, float] = {}
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(EventEpc.epc, Event.record_time)
                .join(Event, Event.event_id == EventEpc.event_id)
                .where(
                    Event.line_id == parts.line_id,
                    Event.biz_step.like("%commissioning"),
                    EventEpc.epc.like(f"%/01/{parts.gtin}/21/%"),
                )
            )
            for epc, record_time in rows:
                stored[str(epc).rsplit("/21/", 1)[1]] = _epoch(record_time)
    finally:
        engine.dispose()
    latencies = [stored[s] - a for s, a in allocated.items() if s in stored]
    first = min(allocated.values()) if allocated else 0.0
    last = max(stored.values()) if stored else 0.0
    return latencies, first, last


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_ids(stack: DemoStack) -> dict[str, list[int]]:
    """The running processes of ``stack`` by role (agent, ingestor, server, broker); the
    simulators and the observer run in this process."""
    found = {
        "agent": [parts.agent.pid for parts in stack.lines if parts.agent is not None],
        "ingestor": [ingestor.pid for ingestor in stack.ingestors],
        "server": [stack.server.pid] if stack.server is not None else [],
        "broker": [stack.broker.pid] if stack.broker is not None and stack.broker.pid else [],
    }
    return {role: pids for role, pids in found.items() if pids}


@dataclass(frozen=True, slots=True)
class _Measured:
    units_per_s: float
    p50_ms: float
    p99_ms: float
    lost: int
    measured: int
    #: CPU milliseconds per unit by role: agent, ingestor, server, broker, and this
    #: process (the device simulators and the observer).
    cpu_ms: dict[str, float]

    @property
    def cpu_total_ms(self) -> float:
        return sum(self.cpu_ms.values())

    def cpu_note(self) -> str:
        parts = sorted(self.cpu_ms.items(), key=lambda item: -item[1])
        return ", ".join(f"{role} {ms:.2f}" for role, ms in parts)


async def _measure_run(options: DemoOptions, units: int) -> _Measured:
    async with DemoStack(options) as stack:
        processes = {**process_ids(stack), "simulators and observer": [os.getpid()]}

        def used() -> dict[str, float]:
            return {role: sum(map(cpu_seconds, pids)) for role, pids in processes.items()}

        before = used()
        await stack.start_work_orders(units)
        await stack.wait_finished(timeout=max(120.0, units / 10))
        spent = {role: seconds - before[role] for role, seconds in used().items()}
        await stack.stop_agents()
        summary = await stack.summary(agents_stopped=True)
        parts = stack.lines[0]
        latencies, first, last = await asyncio.to_thread(measure_latencies, stack, parts)
    span = last - first
    return _Measured(
        units_per_s=len(latencies) / span if span > 0 else 0.0,
        p50_ms=statistics.median(latencies) * 1000 if latencies else 0.0,
        p99_ms=percentile(latencies, 0.99) * 1000 if latencies else 0.0,
        lost=summary.lost + (units - len(latencies)),
        measured=len(latencies),
        cpu_ms={role: seconds * 1000 / units for role, seconds in spent.items()},
    )


def bench_end_to_end(
    units: int = 3000, workdir: Path | None = None, paced_rate: float = 150.0
) -> list[Figure]:
    """Allocation → printed → verified → published → stored at the server, on one host.

    Three runs of the same work order on the same kind of stack (private Mosquitto,
    SQLite and one ingestor: SQLite takes one writer at a time, and a second ingestor
    only adds its CPU), side by side:

    * **flat out through the drivers**: the real printer and scanner drivers against the
      TCP simulators, as fast as they go — the sustained throughput;
    * **flat out in process**: the agent's in-process simulated line (no device round
      trips) — the baseline for that throughput;
    * **paced**: the in-process line held at ``paced_rate`` labels per second, like a real
      line's printer — the latency a unit sees when the line is not saturated. At flat
      out, latency only measures the queue in front of the slowest stage.
    """

    with tempfile.TemporaryDirectory(prefix="lineside-e2e-") as tmp:
        root = workdir or Path(tmp)
        base = DemoOptions(
            units=units,
            script=ReadScript(travel_s=0.01),
            units_per_case=24,
            workdir=root / "drivers",
            verify_window_ms=2000,
            ingestors=1,
        )
        real = asyncio.run(_measure_run(base, units))
        in_process = replace(base, simulate=True, script=ReadScript())
        baseline = asyncio.run(
            _measure_run(replace(in_process, workdir=root / "in-process"), units)
        )
        paced = asyncio.run(
            _measure_run(replace(in_process, workdir=root / "paced", rate=paced_rate), units)
        )
    cores = os.cpu_count() or 1
    note = f"{units} units, one line, SQLite, 1 ingestor, private Mosquitto"
    paced_note = f"{note}; line paced at {paced_rate:g} labels/s"
    return [
        Figure(
            "e2e_units_per_s",
            round(real.units_per_s, 1),
            "units/s",
            target=1000.0,
            baseline_name="in_process_line_units_per_s",
            baseline=round(baseline.units_per_s, 1),
            note=f"{note}; real drivers and simulators, flat out",
        ),
        Figure(
            "e2e_cpu_ms_per_unit",
            round(real.cpu_total_ms, 2),
            "ms",
            lower_is_better=True,
            baseline_name="in_process_line_cpu_ms_per_unit",
            baseline=round(baseline.cpu_total_ms, 2),
            note=(
                f"CPU of every process per unit, flat out through the drivers: "
                f"{real.cpu_note()}; {cores} cores allow at most "
                f"{cores * 1000 / real.cpu_total_ms:.0f} units/s at this cost. "
                f"In process: {baseline.cpu_note()}"
            ),
        ),
        Figure(
            "e2e_paced_units_per_s",
            round(paced.units_per_s, 1),
            "units/s",
            target=100.0,
            note=paced_note,
        ),
        Figure(
            "e2e_paced_p99_allocation_to_stored_ms",
            round(paced.p99_ms, 1),
            "ms",
            target=30.0,
            lower_is_better=True,
            baseline_name="flat_out_drivers_p99_ms",
            baseline=round(real.p99_ms, 1),
            note=paced_note,
        ),
        Figure(
            "e2e_paced_p50_allocation_to_stored_ms",
            round(paced.p50_ms, 1),
            "ms",
            lower_is_better=True,
            baseline_name="flat_out_drivers_p50_ms",
            baseline=round(real.p50_ms, 1),
            note=paced_note,
        ),
        Figure(
            "e2e_units_lost",
            float(real.lost + paced.lost),
            "units",
            target=0.0,
            lower_is_better=True,
            baseline_name="in_process_line_units_lost",
            baseline=float(baseline.lost),
            note="commissioned units whose event is not stored, plus events never stored",
        ),
    ]
