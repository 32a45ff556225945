"""``lineside bench line``: the whole unit path, measured.

Runs a work order through the engine against the in-process printer and verify-camera
simulators, with the journal on disk (``synchronous=FULL``) and the outbox published to a real
Mosquitto at 127.0.0.1:1883, and reports:

* sustained units/s (target ≥ 100),
* p50 / p99 latency from a serial's allocation to the broker's PUBACK of its commissioning
  event (target p99 ≤ 50 ms),
* resident memory growth over the run (target < 20 MB over 200,000 units; a quick run
  uses fewer units, so the figure says how many).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from app.bench.report import Figure, percentile
from app.simulated_line import SimulationOptions, simulated_line
from edge.config import parse_config
from edge.engine import LineEngine, Observations
from edge.journal import Journal
from edge.outbox import OutboxPublisher
from edge.reject import RecordingReject
from edge.serials import LocalSerialSource, SerialSupply
from lineside.contract import ProductInfo, WorkOrder
from lineside.mqtt import BrokerEndpoint
from simulators.line import ReadScript

logger = logging.getLogger(__name__)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _run(
    units: int,
    workdir: Path,
    host: str,
    port: int,
    *,
    print_s: float = 0.0,
    in_flight: int = 16,
) -> tuple[float, list[float], float]:
    measure_latency = print_s > 0
    line_id = "B" + uuid.uuid4().hex[:8]
    config = parse_config(
        f"""
[line]
site = "bench"
line_id = "{line_id}"
site_gln = "8934567000017"
company_prefix = "8934567"
[broker]
url = "mqtt://{host}:{port}"
[timing]
verify_window_ms = 500
max_in_flight = {in_flight}
[outbox]
path = "line.db"
""",
        base_dir=workdir,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    journal = Journal.open(config.outbox.path)
    publisher = OutboxPublisher(
        config.outbox.path, BrokerEndpoint(host, port), f"bench-{line_id}", window=200
    )
    obs = Observations()
    acked_at: dict[str, float] = {}

    def on_ack(seqs: list[int]) -> None:
        now = time.monotonic()
        for seq in seqs:
            serial = obs.seq_of.pop(seq, None)
            if serial is not None and measure_latency:
                acked_at[serial] = now - obs.taken.pop(serial)
            elif serial is not None:
                obs.taken.pop(serial, None)

    publisher.add_ack_listener(on_ack)
    supply = SerialSupply(journal, [LocalSerialSource()], low_water=2000, block=5000)
    line = simulated_line(SimulationOptions(ReadScript(travel_s=0.002), print_s=print_s, keep=0))
    engine = LineEngine(
        config,
        journal,
        printer=line.printer,
        reject=RecordingReject(),
        supply=supply,
        case_printer=line.case_printer,
        on_commit=publisher.wake,
        observations=obs,
    )
    reading = asyncio.create_task(line.reader.feed(engine.on_read, engine.on_scanner_status))
    await supply.ensure(units + 100)
    publisher.start()
    if not await asyncio.to_thread(publisher.wait_connected, 5):
        publisher.stop(flush_timeout=0)
        raise RuntimeError(f"no MQTT broker at {host}:{port}")
    order = WorkOrder(
        id="BENCH-1",
        product=ProductInfo(gtin="08934567890120", name_vi="Miến dong"),
        lot="BENCH",
        production_date=date(2026, 11, 1),
        expiry_date=date(2027, 11, 1),
        quantity=units,
        units_per_case=24,
    )
    runner = asyncio.create_task(engine.run())
    rss_before = _rss_mb()
    started = time.monotonic()
    engine.load(order)
    engine.start()
    await engine.wait_closed()
    elapsed = time.monotonic() - started
    await asyncio.to_thread(publisher.drain, 30)
    rss_after = _rss_mb()
    await engine.stop()
    await runner
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    publisher.stop(flush_timeout=1)
    journal.close()
    latencies = [seconds * 1000 for seconds in acked_at.values()]
    return units / elapsed, latencies, rss_after - rss_before


def bench_line(units: int = 5000, *, host: str = "127.0.0.1", port: int = 1883) -> list[Figure]:
    """Run the line flat out for ``units`` units, then paced at 100 units/s for latency.

    The baseline, run side by side, is the same engine with one unit at a time between
    printer and scanner (no pipelining), as a line without in-flight tracking must run.
    Needs a Mosquitto at ``host:port``.
    """
    paced_units = min(units, 1000)
    with tempfile.TemporaryDirectory(prefix="lineside-bench-") as tmp:
        rate, _, growth = asyncio.run(_run(units, Path(tmp) / "max", host, port))
        serial_rate, _, _ = asyncio.run(
            _run(paced_units, Path(tmp) / "one-at-a-time", host, port, in_flight=1)
        )
        paced_rate, latencies, _ = asyncio.run(
            _run(paced_units, Path(tmp) / "paced", host, port, print_s=0.01)
        )
    where = f"simulated printer and camera, journal fsync, Mosquitto {host}:{port}"
    return [
        Figure(
            "line_units_per_s",
            rate,
            "units/s",
            target=100.0,
            baseline_name="one_unit_in_flight_units_per_s",
            baseline=serial_rate,
            note=f"flat out, {units} units, {where}",
        ),
        Figure(
            "line_latency_p50_ms",
            statistics.median(latencies),
            "ms",
            lower_is_better=True,
            note=f"at {paced_rate:.0f} units/s: allocation to PUBACK of the commissioning event",
        ),
        Figure(
            "line_latency_p99_ms",
            percentile(latencies, 0.99),
            "ms",
            target=50.0,
            lower_is_better=True,
            note=f"{len(latencies)} units at {paced_rate:.0f} units/s",
        ),
        Figure(
            "line_rss_growth_mb",
            growth,
            "MB",
            target=20.0,
            lower_is_better=True,
            note=f"over {units} units (the target is for 200,000)",
        ),
    ]
