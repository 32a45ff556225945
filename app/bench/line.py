"""``lineside bench line``: the whole unit path, measured.

Runs a work order through the engine against the in-process printer and verify-camera
simulators, with the journal on disk (``synchronous=FULL``) and the outbox published to a real
Mosquitto at 127.0.0.1:1883, and reports:

* sustained units/s flat out (target ≥ 2,000), against the same engine with one unit at a
  time between printer and scanner, run side by side;
* p50 / p99 latency from a serial's allocation to the broker's PUBACK of its commissioning
  event, flat out (target p99 ≤ 10 ms) and paced by a 10 ms/label printer (target p99 ≤ 50);
* resident memory growth over the flat-out run (target < 5 MB over 1,000,000 units:
  ``lineside bench line --units 1000000``; a shorter run says how many units it covered);
* the same flat-out run with fewer units allowed in flight (8 and 4 instead of 16): what a
  shorter queue between printer and camera gives in latency and costs in throughput.
  Flat out, the CPU is the bottleneck and latency is the queue in front of it (Little's
  law: units in flight / units per second), so these figures show the trade the target
  pair (≥ 2,000 units/s, p99 ≤ 10 ms) asks to escape.

Latencies are counted in a histogram (0.1 ms buckets), not kept one by one, so a long run
measures its memory rather than the benchmark's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

from app.bench.report import Figure
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

#: Units allowed between printer and camera in the flat-out and paced runs.
IN_FLIGHT = 16
#: The shorter queues the line suite also runs flat out, side by side with :data:`IN_FLIGHT`.
FEWER_IN_FLIGHT = (8, 4)


class LatencyHistogram:
    """Latencies in 0.1 ms buckets; a percentile is its bucket's upper edge.

    >>> h = LatencyHistogram()
    >>> for ms in (1.0, 2.0, 3.0, 4.0, 50.0):
    ...     h.add(ms / 1000)
    >>> h.count, h.percentile_ms(0.5), h.percentile_ms(0.99)
    (5, 3.1, 50.1)
    >>> LatencyHistogram().percentile_ms(0.5)
    nan
    """

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0

    def add(self, seconds: float) -> None:
        self._buckets[int(seconds * 10_000)] += 1
        self.count += 1

    def percentile_ms(self, q: float) -> float:
        """The nearest-rank ``q`` quantile (see :func:`app.bench.report.percentile`)."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return round((bucket + 1) / 10, 1)
        raise AssertionError("unreachable: the ranks add up to the count")


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
    in_flight: int = IN_FLIGHT,
) -> tuple[float, LatencyHistogram, float]:
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
    latencies = LatencyHistogram()

    def on_ack(seqs: list[int]) -> None:
        now = time.monotonic()
        for seq in seqs:
            serial = obs.seq_of.pop(seq, None)
            if serial is not None:
                latencies.add(now - obs.taken.pop(serial))

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
    return units / elapsed, latencies, rss_after - rss_before


def bench_line(units: int = 5000, *, host: str = "127.0.0.1", port: int = 1883) -> list[Figure]:
    """Run the line flat out for ``units`` units, then paced at 100 units/s for latency.

    The baseline, run side by side, is the same engine with one unit at a time between
    printer and scanner (no pipelining), as a line without in-flight tracking must run.
    Needs a Mosquitto at ``host:port``.
    """
    short = min(units, 1000)
    with tempfile.TemporaryDirectory(prefix="lineside-bench-") as tmp:
        rate, flat, growth = asyncio.run(_run(units, Path(tmp) / "max", host, port))
        serial_rate, _, _ = asyncio.run(
            _run(short, Path(tmp) / "one-at-a-time", host, port, in_flight=1)
        )
        paced_rate, paced, _ = asyncio.run(
            _run(short, Path(tmp) / "paced", host, port, print_s=0.01)
        )
        fewer = {
            n: asyncio.run(
                _run(min(units, 5000), Path(tmp) / f"in-flight-{n}", host, port, in_flight=n)
            )
            for n in FEWER_IN_FLIGHT
        }
    where = f"simulated printer and camera, journal fsync, Mosquitto {host}:{port}"
    frontier = [
        figure
        for n, (n_rate, n_flat, _) in fewer.items()
        for figure in (
            Figure(
                f"line_units_per_s_{n}_in_flight",
                n_rate,
                "units/s",
                baseline_name="line_units_per_s",
                baseline=rate,
                note=f"flat out, {n_flat.count} units, at most {n} in flight ({IN_FLIGHT} above)",
            ),
            Figure(
                f"line_latency_p99_ms_{n}_in_flight",
                n_flat.percentile_ms(0.99),
                "ms",
                lower_is_better=True,
                baseline_name="line_latency_p99_ms",
                baseline=flat.percentile_ms(0.99),
                note=f"flat out at {n_rate:.0f} units/s, at most {n} in flight; "
                f"p50 {n_flat.percentile_ms(0.5)} ms",
            ),
        )
    ]
    return [
        Figure(
            "line_units_per_s",
            rate,
            "units/s",
            target=2000.0,
            baseline_name="one_unit_in_flight_units_per_s",
            baseline=serial_rate,
            note=f"flat out, {units} units, {where}",
        ),
        Figure(
            "line_latency_p50_ms",
            flat.percentile_ms(0.5),
            "ms",
            lower_is_better=True,
            note=f"flat out at {rate:.0f} units/s: allocation to PUBACK of the commissioning event",
        ),
        Figure(
            "line_latency_p99_ms",
            flat.percentile_ms(0.99),
            "ms",
            target=10.0,
            lower_is_better=True,
            note=f"flat out, {flat.count} units at {rate:.0f} units/s",
        ),
        Figure(
            "line_paced_latency_p50_ms",
            paced.percentile_ms(0.5),
            "ms",
            lower_is_better=True,
            note=f"printer at 10 ms/label, {paced_rate:.0f} units/s",
        ),
        Figure(
            "line_paced_latency_p99_ms",
            paced.percentile_ms(0.99),
            "ms",
            target=50.0,
            lower_is_better=True,
            note=f"printer at 10 ms/label, {paced.count} units at {paced_rate:.0f} units/s",
        ),
        Figure(
            "line_rss_growth_mb",
            growth,
            "MB",
            target=5.0,
            lower_is_better=True,
            note=f"over {units} units flat out (the target is for 1,000,000)",
        ),
        *frontier,
    ]
