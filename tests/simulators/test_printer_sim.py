"""Printer simulators: wire answers, speed, faults through the control channel, pty."""

from __future__ import annotations

import asyncio
import json
import os

from lineside.codecs.escpos import format_dle_eot, status_request
from lineside.codecs.zpl_status import (
    HostQueryStatus,
    PrinterStatus,
    parse_host_query,
    parse_host_status,
)
from simulators.printers import EscposEngine, PrinterSimulator, ZplEngine


def test_zpl_engine_prints_at_configured_speed() -> None:
    engine = ZplEngine(ips=2.0, label_length_dots=406, dpi=203, render_images=False)
    assert engine.seconds_per_label == 1.0
    engine.feed(b"^XA^FO1,1^FDa^FS^XZ^XA^FO1,1^FDb^FS^XZ")
    engine.tick(now=0.0)
    assert engine.status().formats_in_buffer + engine.status().labels_remaining >= 1
    engine.tick(now=0.0)
    assert engine.printed == []
    start = engine._printing_until
    assert start is not None
    engine.tick(now=start + 0.001)
    assert [label.fields for label in engine.printed] == [("a",)]
    engine.tick(now=start + 1.002)
    assert [label.fields for label in engine.printed] == [("a",), ("b",)]


def test_zpl_engine_partial_format_and_cancel() -> None:
    engine = ZplEngine(ips=0.001, render_images=False)
    engine.feed(b"^XA^FO1,1^FD")
    assert parse_host_status(engine.feed(b"~HS")).partial_format
    engine.feed(b"x^FS^XZ^XA^FDy^FS^XZ")
    assert engine.status().busy
    engine.feed(b"~JA")
    assert not engine.status().busy


def test_zpl_engine_answers_hqes_even_inside_a_format() -> None:
    engine = ZplEngine(render_images=False)
    assert parse_host_query(engine.feed(b"~HQES")) == HostQueryStatus()
    engine.faults.cutter_fault = True
    engine.faults.head_open = True
    engine.feed(b"^XA^FO1,1^FD")
    assert parse_host_query(engine.feed(b"~HQES")) == HostQueryStatus(errors=0x4 | 0x8)
    engine.feed(b"x^FS^XZ")
    assert engine.status().formats_in_buffer == 1  # held by the faults, not printed
    assert engine.printed == []


def test_zpl_engine_without_hqes_stays_silent() -> None:
    engine = ZplEngine(render_images=False, answers_hqes=False)
    assert engine.feed(b"~HQES") == b""
    assert parse_host_status(engine.feed(b"~HS")).ready


def test_escpos_engine_answers_dle_eot() -> None:
    engine = EscposEngine()
    assert engine.feed(status_request(2)) == format_dle_eot(2, PrinterStatus())
    engine.faults.paper_out = True
    assert engine.feed(status_request(4)) == format_dle_eot(4, PrinterStatus(paper_out=True))


async def test_control_channel_and_pty() -> None:
    async def scenario() -> None:
        engine = ZplEngine(render_images=False)
        async with PrinterSimulator(engine, port=None, pty=True, control_port=0) as sim:
            assert sim.pty_path is not None
            assert sim.pty_path.startswith("/dev/")
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.control_port)

            async def ask(line: str) -> dict[str, object]:
                writer.write(line.encode() + b"\n")
                await writer.drain()
                answer: dict[str, object] = json.loads(await reader.readline())
                return answer

            assert (await ask("head_open"))["faults"] == ["head_open"]
            assert (await ask("head_close"))["faults"] == []
            assert "unknown command" in str((await ask("explode"))["error"])
            assert (await ask("paper_out_after 3"))["ok"] is True
            assert (await ask("cutter_fault on"))["faults"] == ["cutter_fault"]
            assert (await ask("cutter_fault off"))["faults"] == []
            assert engine.faults.paper_out_after == 3
            writer.close()

            fd = os.open(sim.pty_path, os.O_RDWR | os.O_NOCTTY)
            try:
                os.write(fd, b"~HS")
                reply = b""
                while reply.count(b"\x03") < 3:
                    await asyncio.sleep(0.01)
                    reply += os.read(fd, 1024)
                assert parse_host_status(reply).ready
            finally:
                os.close(fd)

    await scenario()
