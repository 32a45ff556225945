"""Serial and TCP scanners against their simulators: real pty, real TCP sockets."""

from __future__ import annotations

import asyncio
import random

from edge.drivers import open_transport
from edge.scanners import ScanEvent, ScannerState, open_scanner
from edge.scanners.stream import ListeningScanner, StreamScanner
from lineside.backoff import Backoff
from simulators.scanners import (
    ScanFaults,
    SerialScannerSimulator,
    TcpClientScannerSimulator,
    TcpScannerSimulator,
)
from tests.scanners.conftest import collect, reads_of, statuses_of

CODES = [
    "(01)08934567890120(10)LOT-7(21)A1b2C3",
    "https://id.example.com/01/08934567890120/10/LOT-7/21/Zz9?17=271231",
    "(00)389345678901234563",
]
FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.0, attempts=None)


async def test_serial_scanner_reads_codes_from_a_pty() -> None:
    async def scenario() -> list[ScanEvent]:
        async with SerialScannerSimulator() as sim:
            scanner = open_scanner(sim.url, "verify-1")

            async def on_event(event: ScanEvent) -> None:
                if getattr(event, "state", None) is ScannerState.CONNECTED:
                    await sim.play(CODES, rate=0)

            return await collect(scanner.events(), lambda s: len(reads_of(s)) == 3, on_event)

    reads = reads_of(await scenario())
    assert all(r.ok for r in reads), [r.error for r in reads]
    assert [r.symbology for r in reads] == ["]d2", "]Q1", "]d2"]
    first = reads[0].result
    assert first is not None
    assert first.message is not None
    assert first.message.get("21") == "A1b2C3"
    assert b"\x1d" in reads[0].raw
    assert reads[1].result is not None
    assert reads[1].result.digital_link is not None


async def test_serial_bad_input_never_stops_the_scanner() -> None:
    rng = random.Random(3)
    noise = bytes(rng.randrange(256) for _ in range(300)).replace(b"\r\n", b"")

    async def scenario() -> list[ScanEvent]:
        async with SerialScannerSimulator() as sim:
            scanner = open_scanner(sim.url + "&max_length=1024", "verify-1")
            senders: list[asyncio.Task[None]] = []

            async def send() -> None:
                await sim.send_raw(noise + b"\r\n")
                await sim.send_raw(b"]d2\xc3\x28bad utf8\r\n")
                await sim.send_raw(b"A" * (1 << 20))  # 1 MiB, no terminator
                await sim.send_raw(b"\r\n")
                await sim.send_raw(b"]d20108934567890127\r\n")  # wrong check digit
                await sim.scan(CODES[0])

            async def on_event(event: ScanEvent) -> None:
                # The megabyte must be written while the scanner reads: a separate task.
                if getattr(event, "state", None) is ScannerState.CONNECTED:
                    senders.append(asyncio.create_task(send()))

            events = await collect(
                scanner.events(), lambda s: any(r.ok for r in reads_of(s)), on_event
            )
            await asyncio.gather(*senders)
            return events

    reads = reads_of(await scenario())
    assert reads[-1].ok
    errors = [r.error for r in reads[:-1]]
    assert all(errors)
    assert any(e and e.startswith("invalid UTF-8 at byte 3") for e in errors)
    assert any(e and e.startswith("overlong read: more than 1024 bytes") for e in errors)
    assert any(e and "check digit" in e for e in errors)


async def test_simulator_faults_reach_the_driver() -> None:
    faults = ScanFaults(drop_gs=True, aim_prefix=False, terminator=b"\r")

    async def scenario() -> list[ScanEvent]:
        async with SerialScannerSimulator(faults) as sim:
            scanner = open_scanner(sim.url + "&terminator=cr&symbology=]d2", "verify-1")

            async def on_event(event: ScanEvent) -> None:
                if getattr(event, "state", None) is ScannerState.CONNECTED:
                    await sim.scan(CODES[0])

            return await collect(scanner.events(), lambda s: bool(reads_of(s)), on_event)

    read = reads_of(await scenario())[0]
    assert read.symbology is None
    assert b"\x1d" not in read.raw
    # Without the GS the lot swallows the serial: no serial may come out of it.
    assert read.result is None or (
        read.result.message is not None and read.result.message.get("21") is None
    )


async def test_tcp_client_mode_reconnects_after_a_reset() -> None:
    async def scenario() -> list[ScanEvent]:
        async with TcpScannerSimulator() as sim:
            scanner = StreamScanner(
                "verify-2",
                sim.url,
                lambda: open_transport(sim.url),
                backoff=FAST,
            )
            connections = 0

            async def on_event(event: ScanEvent) -> None:
                nonlocal connections
                state = getattr(event, "state", None)
                if state is ScannerState.CONNECTED:
                    connections += 1
                    await sim.wait_for_client()
                    await sim.scan(CODES[connections - 1])
                    if connections == 1:
                        sim.drop_clients()

            return await collect(scanner.events(), lambda s: len(reads_of(s)) == 2, on_event)

    events = await scenario()
    assert [r.ok for r in reads_of(events)] == [True, True]
    states = [s.state for s in statuses_of(events)]
    assert states.count(ScannerState.CONNECTED) == 2
    assert ScannerState.DISCONNECTED in states
    lost = next(s for s in statuses_of(events) if s.state is ScannerState.DISCONNECTED)
    assert lost.retry_in is not None


async def test_tcp_unreachable_reader_is_reported_with_retry() -> None:
    async def scenario() -> list[ScanEvent]:
        async with TcpScannerSimulator() as sim:
            url = sim.url
        # The port is closed now: every attempt fails and is reported.
        scanner = StreamScanner(
            "verify-3",
            url,
            lambda: open_transport(url),
            backoff=FAST,
        )
        return await collect(
            scanner.events(),
            lambda s: sum(e.state is ScannerState.DISCONNECTED for e in statuses_of(s)) == 3,
        )

    statuses = statuses_of(await scenario())
    assert "cannot connect" in statuses[-1].detail
    assert statuses[-1].retry_in is not None


async def test_tcp_server_mode_accepts_readers() -> None:
    async def scenario() -> list[ScanEvent]:
        scanner = open_scanner("tcp-listen://127.0.0.1:0", "verify-4")
        assert isinstance(scanner, ListeningScanner)
        sims: list[TcpClientScannerSimulator] = []

        async def on_event(event: ScanEvent) -> None:
            if getattr(event, "state", None) is ScannerState.LISTENING:
                assert scanner.bound_port is not None
                sim = TcpClientScannerSimulator("127.0.0.1", scanner.bound_port)
                await sim.connect()
                sims.append(sim)
                await sim.play(CODES, rate=0)
                await sim.send_raw(b"\xff\xfe\r\n")
                await sim.close()

        return await collect(
            scanner.events(),
            lambda s: (
                len(reads_of(s)) == 4
                and any(e.state is ScannerState.DISCONNECTED for e in statuses_of(s))
            ),
            on_event,
        )

    events = await scenario()
    reads = reads_of(events)
    assert [r.ok for r in reads] == [True, True, True, False]
    assert reads[3].error == "invalid UTF-8 at byte 0 (0xff)"
    states = [s.state for s in statuses_of(events)]
    assert states[:2] == [ScannerState.LISTENING, ScannerState.CONNECTED]
    assert states[-1] is ScannerState.DISCONNECTED


async def test_simulator_statistics_follow_the_seeded_script() -> None:
    async def scenario() -> tuple[int, int, int]:
        async with TcpScannerSimulator(ScanFaults(miss=0.5, misread=0.5), seed=11) as sim:
            stats = await sim.play([CODES[0]] * 200, rate=0)
            return stats.scanned, stats.missed, stats.misread

    scanned, missed, misread = await scenario()
    assert scanned == 200
    assert 60 < missed < 140
    assert 20 < misread < 80
