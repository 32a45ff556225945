"""``~HQES``: the codec, and the ZPL driver using it (or falling back to ``~HS``)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.drivers import open_transport
from edge.printers.driver import ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import ZplTemplate
from lineside.codecs.zpl_status import (
    HostQueryStatus,
    PrinterStatus,
    StatusReplyError,
    format_host_query,
    format_host_status,
    parse_host_query,
    parse_host_status,
    parse_status_replies,
)
from lineside.errors import DeviceTimeout, PrinterFault
from simulators.printers import PrinterSimulator, ZplEngine

_flags = st.integers(min_value=0, max_value=2**64 - 1)

# A reply as a Zebra ZT410 sends it (spacing and trailing blanks included).
ZT410_REPLY = (
    b"\x02\r\n\r\n  PRINTER STATUS                \r\n"
    b"   ERRORS:         1 00000000 00000009   \r\n"
    b"   WARNINGS:       1 00000000 00000008   \r\n\x03"
)


@given(_flags, _flags)
def test_host_query_roundtrip(errors: int, warnings: int) -> None:
    query = HostQueryStatus(errors, warnings)
    assert parse_host_query(format_host_query(query)) == query


@given(st.binary(max_size=200))
def test_host_query_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(StatusReplyError):
        parse_host_query(data)


@given(st.binary(max_size=120))
def test_host_query_mangled_reply_never_crashes(noise: bytes) -> None:
    with contextlib.suppress(StatusReplyError):
        parse_host_query(ZT410_REPLY[:30] + noise + ZT410_REPLY[30:])


def test_real_layout_names_the_faults_and_warnings() -> None:
    status = parse_host_query(ZT410_REPLY).apply_to(PrinterStatus())
    assert status.faults == ("paper_out", "cutter_fault")
    assert status.warnings == ("paper_near_end",)
    assert status.paper_near_end


def test_unnamed_error_bits_are_still_faults() -> None:
    status = HostQueryStatus(errors=0x0001_0000_0000_0004).apply_to(PrinterStatus())
    assert status.faults == ("head_open", "error_0x0001000000000000")
    assert not status.ready


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"\x02PRINTER STATUS\r\nERRORS: 0 00000000 00000000\r\n\x03", "no WARNINGS line"),
        (b"\x02ERRORS: 0 00000000 00000000\r\n\x03", "no 'PRINTER STATUS' line"),
        (
            b"\x02PRINTER STATUS\r\nERRORS: 1 0000 12\r\nWARNINGS: 0 00000000 00000000\x03",
            r"'ERRORS: 1 0000 12': expected 'NAME: f hhhhhhhh hhhhhhhh'",
        ),
        (b"\x02PRINTER STATUS \xff\x03", "byte 0xFF at 15 is not ASCII"),
        (ZT410_REPLY * 2, "expected 1 framed block, got 2"),
    ],
)
def test_host_query_errors_say_what_is_wrong(reply: bytes, message: str) -> None:
    with pytest.raises(StatusReplyError, match=message):
        parse_host_query(reply)


def test_host_status_reports_over_temperature() -> None:
    reply = format_host_status(PrinterStatus(head_too_hot=True))
    assert parse_host_status(reply).faults == ("head_too_hot",)


def test_combined_replies_need_both() -> None:
    hs = format_host_status(PrinterStatus(formats_in_buffer=1))
    status = parse_status_replies(hs + ZT410_REPLY, host_query=True)
    assert (status.formats_in_buffer, status.cutter_fault, status.paper_out) == (1, True, True)
    with pytest.raises(StatusReplyError, match="~HS and ~HQES replies: expected 4 framed"):
        parse_status_replies(hs, host_query=True)


# --- the driver against the simulator -------------------------------------------------

Scenario = Callable[[PrinterSimulator, ZplPrinter], Awaitable[None]]


async def _run(
    engine: ZplEngine,
    labels_dir: Path,
    scenario: Scenario,
    *,
    host_query: bool | None = None,
    status_timeout: float = 2.0,
) -> None:
    async with (
        PrinterSimulator(engine, port=0) as sim,
        open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
    ):
        printer = ZplPrinter(
            link,
            ZplTemplate.load(labels_dir / "unit-60x40.zpl"),
            poll_interval=0.005,
            host_query=host_query,
            status_timeout=status_timeout,
        )
        await scenario(sim, printer)


@pytest.mark.parametrize("fault", ["cutter_fault", "head_too_hot"])
async def test_hqes_faults_stop_printing_and_are_published(
    fault: str, unit: LabelData, labels_dir: Path
) -> None:
    engine = ZplEngine(ips=500, render_images=False)

    async def scenario(sim: PrinterSimulator, printer: ZplPrinter) -> None:
        changes = printer.status_changes()
        assert (await printer.status()).ready
        assert printer.host_query is True
        assert sim.control(f"{fault} on")["faults"] == [fault]
        with pytest.raises(PrinterFault, match=fault):
            await printer.print_label(unit)
        seen = [await anext(changes), await anext(changes)]
        assert getattr(seen[-1].current, fault)
        assert seen[-1].reason == "~HS+~HQES"
        sim.control(f"{fault} off")
        await printer.print_label(unit)
        await changes.aclose()

    await _run(engine, labels_dir, scenario)
    assert len(engine.printed) == 1


async def test_cutter_fault_is_invisible_to_hs_alone(unit: LabelData, labels_dir: Path) -> None:
    engine = ZplEngine(ips=500, render_images=False)
    engine.faults.cutter_fault = True

    async def scenario(sim: PrinterSimulator, printer: ZplPrinter) -> None:
        status = await printer.status()
        assert status.ready
        assert not status.cutter_fault

    await _run(engine, labels_dir, scenario, host_query=False)


async def test_falls_back_to_hs_when_hqes_is_not_answered(
    unit: LabelData, labels_dir: Path
) -> None:
    engine = ZplEngine(ips=500, render_images=False, answers_hqes=False)

    async def scenario(sim: PrinterSimulator, printer: ZplPrinter) -> None:
        assert (await printer.status()).ready
        assert printer.host_query is False
        sim.control("paper_out")
        with pytest.raises(PrinterFault, match="paper_out"):
            await printer.print_label(unit)
        sim.control("paper_in")
        receipt = await printer.print_label(unit)
        assert receipt.confirmed

    await _run(engine, labels_dir, scenario, status_timeout=0.3)
    assert len(engine.printed) == 1


async def test_forced_hqes_on_a_printer_without_it_times_out(labels_dir: Path) -> None:
    engine = ZplEngine(render_images=False, answers_hqes=False)

    async def scenario(sim: PrinterSimulator, printer: ZplPrinter) -> None:
        with pytest.raises(DeviceTimeout, match=r"no complete ~HS and ~HQES replies within 0.3 s"):
            await printer.status()

    await _run(engine, labels_dir, scenario, host_query=True, status_timeout=0.3)


@pytest.mark.parametrize("host_query", [None, True])
async def test_garbage_hqes_is_a_typed_error(host_query: bool | None, labels_dir: Path) -> None:
    engine = ZplEngine(render_images=False)
    engine.faults.garbage_hqes = True

    async def scenario(sim: PrinterSimulator, printer: ZplPrinter) -> None:
        with pytest.raises(StatusReplyError, match="~HQES reply"):
            await printer.status()
        assert printer.last_status is not None
        assert not printer.last_status.online
        sim.control("garbage_hqes off")
        assert (await printer.status()).ready

    await _run(engine, labels_dir, scenario, host_query=host_query)
